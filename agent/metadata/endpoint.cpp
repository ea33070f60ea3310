#include "agent/metadata/endpoint.h"

#include <openssl/hmac.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "common/file.h"
#include "common/random.h"
#include "netns/listen.h"

namespace berth::agent::metadata {

namespace {

constexpr size_t kSecretBytes = 32;
// Connections one namespace's listener may hold open: a task's clients
// cannot take the connections of /metrics, introspection or other tasks.
constexpr size_t kMaxConnectionsPerNamespace = 64;

http::Response not_found(const std::string& why) { return http::error_response(404, why); }

http::Response ok(const nlohmann::json& body) { return http::json_response(200, body.dump()); }

uint64_t inode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
}

std::string hex(const unsigned char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

}  // namespace

Result<std::string> load_or_create_secret(const std::string& path) {
  if (auto text = read_file(path); text && text->size() == kSecretBytes * 2) return *text;
  unsigned char bytes[kSecretBytes];
  BERTH_TRY_CTX(random_bytes(bytes, sizeof(bytes)), "task metadata secret");
  std::string secret = hex(bytes, sizeof(bytes));
  BERTH_TRY_CTX(write_atomically(path, secret, 0600), "task metadata secret");
  return secret;
}

std::string container_token(const std::string& secret, const std::string& task_id,
                            const std::string& container) {
  const std::string message = task_id + "/" + container;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &length);
  return hex(mac, std::min<unsigned int>(length, 16));
}

Endpoint::Endpoint(http::Server& server, std::string secret, NodeFacts facts)
    : server_(server), secret_(std::move(secret)), facts_(std::move(facts)) {}

Endpoint::~Endpoint() { stop(); }

void Endpoint::start(Engine& engine, UsageSampler& sampler) {
  {
    std::lock_guard lock(mu_);
    engine_ = &engine;
    sampler_ = &sampler;
  }
  janitor_ = std::thread([this] { janitor_loop(); });
  subscription_ = engine.subscribe([this](const EngineEvent& event) {
    if (!event.container.empty() || (event.status != "STOPPED" && event.status != "REMOVED")) {
      return;
    }
    std::lock_guard lock(mu_);
    if (event.status == "REMOVED") {
      removed_.insert(event.task_id);
    } else {
      stopped_.insert(event.task_id);
    }
    cv_.notify_all();
  });
  // The listeners of the last berthd went with it: serve the tasks it left.
  std::set<std::string> live;
  for (const auto& view : engine.list(false)) {
    if (!view.spec || view.record.known == TaskStatus::kStopped) continue;
    live.insert(view.record.id);
    for (const auto& c : view.record.containers) {
      const auto& network = c.network ? c.network : view.record.network;
      if (!network || network->netns.empty()) continue;
      (void)serve(view.record.id, c.name, network->netns);  // a gone namespace has no reader
    }
  }
  // A task that stopped between the engine's start and the subscription
  // above had its stop unseen: its listeners go now.
  std::set<std::string> gone;
  {
    std::lock_guard lock(mu_);
    for (const auto& [path, listener] : listeners_) {
      if (!live.contains(listener.task_id)) gone.insert(listener.task_id);
    }
  }
  for (const auto& task : gone) forget_task(task);
}

void Endpoint::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (engine_ && subscription_ >= 0) engine_->unsubscribe(subscription_);
  if (janitor_.joinable()) janitor_.join();
  std::map<std::string, Listener> listeners;
  {
    std::lock_guard lock(mu_);
    listeners.swap(listeners_);
    // Requests from now on get 503; the engine may go before this object.
    engine_ = nullptr;
    sampler_ = nullptr;
  }
  for (const auto& [path, listener] : listeners) server_.remove_listener(listener.id);
}

Result<std::string> Endpoint::serve(const std::string& task_id, const std::string& container,
                                    const std::string& netns) {
  const std::string token = container_token(secret_, task_id, container);
  const std::string uri =
      "http://" + std::string(kAddress) + ":" + std::to_string(kPort) + "/v4/" + token;
  const uint64_t inode = inode_of(netns);
  int stale = -1;
  {
    std::lock_guard lock(mu_);
    // berthd is going: the next one serves the tasks it adopts.
    if (stopping_) return uri;
    containers_[token] = {task_id, container};
    auto it = listeners_.find(netns);
    if (it != listeners_.end() && it->second.netns_inode == inode &&
        it->second.task_id == task_id) {
      return uri;
    }
    if (it != listeners_.end()) {
      // The path now names another namespace: the old one's listener goes.
      stale = it->second.id;
      listeners_.erase(it);
    }
  }
  if (stale >= 0) server_.remove_listener(stale);
  // Two containers of one task may get here at once: one listener is kept.
  std::lock_guard serving(serve_mu_);
  {
    std::lock_guard lock(mu_);
    if (listeners_.contains(netns)) return uri;
  }
  auto socket = BERTH_TRY(netns::listen_in(netns, std::string(kAddress), kPort));
  auto id = BERTH_TRY(server_.add_listener(
      std::move(socket),
      [this, task_id](const http::Request& request) { return handle(task_id, request); },
      kMaxConnectionsPerNamespace));
  {
    std::lock_guard lock(mu_);
    // Not if the task stopped (or berthd began to stop) meanwhile: a
    // listener left open would keep the task's namespace alive.
    if (!stopping_ && !forgotten_.contains(task_id)) {
      listeners_[netns] = {id, task_id, inode};
      return uri;
    }
  }
  server_.remove_listener(id);
  return uri;
}

size_t Endpoint::listeners() const {
  std::lock_guard lock(mu_);
  return listeners_.size();
}

void Endpoint::forget_task(const std::string& task_id) {
  std::vector<int> ids;
  {
    std::lock_guard lock(mu_);
    for (auto it = listeners_.begin(); it != listeners_.end();) {
      if (it->second.task_id == task_id) {
        ids.push_back(it->second.id);
        it = listeners_.erase(it);
      } else {
        ++it;
      }
    }
    std::erase_if(containers_, [&](const auto& entry) { return entry.second.first == task_id; });
    forgotten_.insert(task_id);
  }
  for (int id : ids) server_.remove_listener(id);
}

void Endpoint::janitor_loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !stopped_.empty() || !removed_.empty(); });
    if (stopping_) return;
    auto tasks = std::move(stopped_);
    stopped_.clear();
    auto removed = std::move(removed_);
    removed_.clear();
    lock.unlock();
    for (const auto& task : tasks) forget_task(task);
    lock.lock();
    // A removed task is never served again: it need not be remembered.
    for (const auto& task : removed) forgotten_.erase(task);
  }
}

http::Response Endpoint::handle(const std::string& listener_task, const http::Request& request) {
  // /v4/<token>[/task][/stats]
  std::string path = request.path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (!path.starts_with("/v4/")) return not_found("no such path: " + request.path);
  std::string rest = path.substr(4);
  std::string token = rest.substr(0, rest.find('/'));
  std::string what = rest.size() > token.size() ? rest.substr(token.size()) : "";
  if (what != "" && what != "/task" && what != "/stats" && what != "/task/stats") {
    return not_found("no such path: " + request.path);
  }
  std::string task_id;
  std::string container;
  Engine* engine = nullptr;
  UsageSampler* sampler = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = containers_.find(token);
    // A token of another task is as unknown here as a made-up one.
    if (it == containers_.end() || it->second.first != listener_task) {
      return not_found("no container with the id '" + token + "'");
    }
    std::tie(task_id, container) = it->second;
    engine = engine_;
    sampler = sampler_;
  }
  if (!engine || !sampler) return http::error_response(503, "berthd is starting");
  auto view = engine->describe(task_id);
  if (!view || !view->spec) return not_found("no task '" + task_id + "'");
  size_t index = 0;
  while (index < view->record.containers.size() &&
         view->record.containers[index].name != container) {
    ++index;
  }
  if (index == view->record.containers.size()) return not_found("no container '" + container + "'");
  if (what == "") return ok(container_json(*view, index, facts_));
  if (what == "/task") return ok(task_json(*view, facts_));
  auto sample = sampler->sample();
  for (const auto& task : sample->tasks) {
    if (task.view.record.id != task_id) continue;
    if (what == "/task/stats") return ok(task_stats_json(*sample, task));
    for (const auto& c : task.containers) {
      if (c.name == container) return ok(container_stats_json(*sample, task, c));
    }
  }
  return not_found("container '" + container + "' is not running");
}

}  // namespace berth::agent::metadata
