#include "controlplane/node/node_agent.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace berth::controlplane {

namespace {

constexpr std::chrono::milliseconds kFirstBackoff{250};
// The least time between two rounds of the reconciler.
constexpr std::chrono::milliseconds kReconcileGap{20};

std::vector<std::string> host_addresses(const std::vector<std::string>& excluded) {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    if ((a->ifa_flags & IFF_LOOPBACK) != 0 || (a->ifa_flags & IFF_UP) == 0) continue;
    std::string name = a->ifa_name;
    if (std::find(excluded.begin(), excluded.end(), name) != excluded.end()) continue;
    char text[INET_ADDRSTRLEN] = {};
    const auto* in = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
    if (::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)) != nullptr) out.emplace_back(text);
  }
  ::freeifaddrs(list);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::chrono::milliseconds grow(std::chrono::milliseconds backoff, std::chrono::milliseconds max) {
  return std::min(backoff * 2, max);
}

}  // namespace

NodeAgent::NodeAgent(agent::Engine& engine, std::unique_ptr<etcd::Client> client,
                     NodeAgentConfig config, const Clock& clock)
    : engine_(engine),
      client_(std::move(client)),
      config_(std::move(config)),
      keys_(config_.cluster),
      clock_(clock),
      budget_(config_.status_burst, config_.status_interval) {}

NodeAgent::~NodeAgent() { stop(); }

void NodeAgent::start() {
  started_at_ms_ = clock_.wall_ms();
  subscription_ = engine_.subscribe([this](const agent::EngineEvent&) { mark_dirty(); });
  session_ = std::thread([this] { session_loop(); });
  watcher_ = std::thread([this] { watch_loop(); });
  reconciler_ = std::thread([this] { reconcile_loop(); });
}

void NodeAgent::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !session_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  watch_canceller_.cancel();
  for (auto* t : {&session_, &watcher_, &reconciler_}) {
    if (t->joinable()) t->join();
  }
  if (subscription_ != 0) engine_.unsubscribe(subscription_);
  subscription_ = 0;
  if (lease_ != 0) {
    // Gone from the fleet now rather than when the lease lapses.
    if (auto revoked = client_->revoke_lease(lease_); !revoked) {
      spdlog::warn("etcd: revoke the node's lease: {}, ignoring", revoked.error().message());
    }
    lease_ = 0;
  }
}

bool NodeAgent::pause(std::chrono::milliseconds delay) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, delay, [&] { return stopping_; });
}

bool NodeAgent::pause_session(std::chrono::milliseconds delay) {
  std::unique_lock lock(mu_);
  bool stopped = cv_.wait_for(lock, delay, [&] { return stopping_ || node_changed_; }) && stopping_;
  node_changed_ = false;
  return !stopped;
}

void NodeAgent::node_changed() {
  {
    std::lock_guard lock(mu_);
    node_changed_ = true;
  }
  cv_.notify_all();
}

void NodeAgent::mark_dirty() {
  {
    std::lock_guard lock(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

void NodeAgent::log_failure(const std::string& what, const Error& error) {
  std::lock_guard lock(mu_);
  auto& last = failures_[what];
  if (last == error.message()) return;
  last = error.message();
  spdlog::error("etcd: {}: {} (retrying)", what, error.message());
}

// The session: register, then keep the lease alive.

NodeRecord NodeAgent::node_record() {
  agent::NodeView view = engine_.node();
  agent::Resources allocatable = view.node.allocatable();
  agent::Resources remaining = view.node.remaining(view.used);
  NodeRecord record;
  record.name = config_.node;
  record.version = config_.version;
  record.addresses = host_addresses(config_.excluded_interfaces);
  record.cgroup_layout = view.cgroup_layout;
  record.cgroup_driver = view.cgroup_driver;
  record.shutting_down = view.shutting_down;
  record.network_modes = {"awsvpc", "bridge", "host", "none"};
  record.allocatable = {static_cast<int64_t>(allocatable.cpu_units),
                        static_cast<int64_t>(allocatable.memory_bytes >> 20)};
  record.remaining = {static_cast<int64_t>(remaining.cpu_units),
                      static_cast<int64_t>(remaining.memory_bytes >> 20)};
  record.host_port_range = config_.host_port_range;
  // The host ports the tasks publish (bridge and awsvpc attachments), and
  // what is left of the range hostPort 0 is taken from.
  std::set<int64_t> ports;
  auto add = [&](const std::optional<agent::NetworkAttachment>& network) {
    if (!network) return;
    for (const auto& port : network->ports) {
      if (port.host_port != 0) ports.insert(port.host_port);
    }
  };
  for (const auto& task : engine_.list(false)) {
    add(task.record.network);
    for (const auto& container : task.record.containers) add(container.network);
  }
  record.host_ports_in_use.assign(ports.begin(), ports.end());
  const int64_t low = config_.host_port_min;
  const int64_t high = config_.host_port_max;
  int64_t taken = std::count_if(ports.begin(), ports.end(),
                                [&](int64_t port) { return port >= low && port <= high; });
  record.host_ports_remaining = std::max<int64_t>(0, high - low + 1 - taken);
  record.tasks = static_cast<int64_t>(view.tasks);
  record.attributes = config_.attributes;
  record.started_at_ms = started_at_ms_;
  return record;
}

Status NodeAgent::register_node() {
  BERTH_TRY(client_->check());
  int64_t lease = BERTH_TRY(client_->grant_lease(config_.lease_ttl));
  // The member key says the node joined; it stays when the node goes.
  using etcd::Compare;
  using etcd::Operation;
  const std::string member_key = keys_.member(config_.node);
  BERTH_TRY(client_->txn({{member_key, Compare::Target::kVersion, Compare::Op::kEqual, 0}},
                         {{Operation::Kind::kPut, member_key,
                           to_json(MemberRecord{config_.node, clock_.wall_ms()})}}));
  NodeRecord record = node_record();
  std::string unchanged = to_json(record);
  record.updated_at_ms = clock_.wall_ms();
  BERTH_TRY(client_->put(keys_.node(config_.node), to_json(record), lease));
  {
    std::lock_guard lock(mu_);
    lease_ = lease;
    ++sessions_;
    dirty_ = true;
    failures_.erase("register the node");
    failures_.erase("keep the node's lease alive");
  }
  last_record_ = unchanged;
  cv_.notify_all();
  return {};
}

NodeAgent::Health NodeAgent::health() {
  Health out;
  {
    std::lock_guard lock(mu_);
    out.registered = lease_ != 0;
    out.sessions = sessions_;
    out.desired_listed = desired_listed_;
  }
  out.endpoint = client_->endpoint();
  return out;
}

void NodeAgent::session_loop() {
  auto backoff = kFirstBackoff;
  while (true) {
    if (auto registered = register_node(); !registered) {
      log_failure("register the node", registered.error());
      if (!pause(backoff)) return;
      backoff = grow(backoff, config_.max_backoff);
      continue;
    }
    backoff = kFirstBackoff;
    spdlog::info("etcd: node '{}' registered in cluster '{}' at {}", config_.node, config_.cluster,
                 client_->endpoint());
    int64_t lease = 0;
    {
      std::lock_guard lock(mu_);
      lease = lease_;
    }
    auto last_refresh = std::chrono::steady_clock::now();
    while (pause_session(config_.keepalive_interval)) {
      auto ttl = client_->keep_alive(lease);
      if (!ttl) {
        if (ttl.error().code() == ErrorCode::kNotFound) {
          spdlog::warn("etcd: node '{}': {}; registering again", config_.node,
                       ttl.error().message());
          break;
        }
        log_failure("keep the node's lease alive", ttl.error());
        // The lease has lapsed by now: a new session.
        if (std::chrono::steady_clock::now() - last_refresh > config_.lease_ttl) break;
        continue;
      }
      last_refresh = std::chrono::steady_clock::now();
      // The record is written again only when it changed.
      NodeRecord record = node_record();
      std::string now = to_json(record);
      if (now == last_record_) continue;
      record.updated_at_ms = clock_.wall_ms();
      if (auto put = client_->put(keys_.node(config_.node), to_json(record), lease); put) {
        last_record_ = now;
      }
    }
    std::lock_guard lock(mu_);
    if (stopping_) return;
    lease_ = 0;
  }
}

// The watcher.

DesiredEntry NodeAgent::read_entry(const etcd::KeyValue& kv) const {
  DesiredEntry entry;
  entry.name = kv.key.substr(keys_.desired(config_.node).size());
  entry.create_revision = kv.create_revision;
  entry.mod_revision = kv.mod_revision;
  auto refuse = [&](const std::string& why) {
    entry.error = why;
    spdlog::error("etcd: desired task '{}' ({}): {}", entry.name, kv.key, why);
  };
  if (auto valid_name = check_name("task name", entry.name); !valid_name) {
    refuse(valid_name.error().message());
  } else if (auto task = parse_desired(kv.value); !task) {
    refuse(task.error().message());
  } else if (!task->name.empty() && task->name != entry.name) {
    refuse("desired task: name '" + task->name + "' differs from its key's '" + entry.name + "'");
  } else if (auto parsed = agent::parse_task_definition(task->definition_json, config_.policy);
             !parsed.definition) {
    refuse("invalid task definition:\n" + agent::format_problems(parsed.problems));
  } else {
    entry.task = std::move(*task);
  }
  return entry;
}

Status NodeAgent::list_desired() {
  auto listed = BERTH_TRY(client_->get(keys_.desired(config_.node), true));
  std::map<std::string, DesiredEntry> fresh;
  for (const auto& kv : listed.kvs) {
    DesiredEntry entry = read_entry(kv);
    fresh[entry.name] = std::move(entry);
  }
  // Swapped in whole: the reconciler never sees a half-read listing.
  {
    std::lock_guard lock(mu_);
    desired_ = std::move(fresh);
    desired_revision_ = listed.revision;
    desired_listed_ = true;
    dirty_ = true;
  }
  cv_.notify_all();
  return {};
}

void NodeAgent::apply_events(int64_t revision, const std::vector<etcd::WatchEvent>& events) {
  // Read outside the lock, which the engine's callback takes too.
  std::vector<std::pair<std::string, std::optional<DesiredEntry>>> changes;
  const size_t prefix = keys_.desired(config_.node).size();
  for (const auto& event : events) {
    if (event.type == etcd::WatchEvent::Type::kDelete) {
      changes.emplace_back(event.kv.key.substr(prefix), std::nullopt);
    } else {
      DesiredEntry entry = read_entry(event.kv);
      std::string name = entry.name;
      changes.emplace_back(std::move(name), std::move(entry));
    }
  }
  {
    std::lock_guard lock(mu_);
    for (auto& [name, entry] : changes) {
      if (entry) {
        desired_[name] = std::move(*entry);
      } else {
        desired_.erase(name);
      }
    }
    desired_revision_ = std::max(desired_revision_, revision);
    dirty_ = true;
  }
  cv_.notify_all();
}

void NodeAgent::watch_loop() {
  {
    // The session says why etcd cannot be reached; the watcher starts once
    // it could register.
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stopping_ || sessions_ > 0; });
    if (stopping_) return;
  }
  auto backoff = kFirstBackoff;
  bool listed = false;
  while (true) {
    if (!listed) {
      if (auto done = list_desired(); !done) {
        log_failure("list the desired tasks", done.error());
        if (!pause(backoff)) return;
        backoff = grow(backoff, config_.max_backoff);
        continue;
      }
      listed = true;
      std::lock_guard lock(mu_);
      failures_.erase("list the desired tasks");
    }
    int64_t from = 0;
    {
      std::lock_guard lock(mu_);
      from = desired_revision_ + 1;
    }
    int64_t compacted_to = 0;
    auto ended = client_->watch(
        keys_.desired(config_.node), true, from,
        [&](int64_t revision, const std::vector<etcd::WatchEvent>& events) {
          backoff = kFirstBackoff;
          apply_events(revision, events);
        },
        watch_canceller_, &compacted_to);
    if (ended.error().code() == ErrorCode::kCancelled) return;
    if (ended.error().code() == ErrorCode::kFailedPrecondition) {
      spdlog::warn("etcd: {}; listing the desired tasks again", ended.error().message());
      listed = false;
      continue;
    }
    log_failure("watch the desired tasks", ended.error());
    if (!pause(backoff)) return;
    backoff = grow(backoff, config_.max_backoff);
  }
}

// The reconciler.

void NodeAgent::reconcile_loop() {
  auto backoff = kFirstBackoff;
  while (true) {
    {
      // A change, or the time a deferred status write may go.
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, deferred_until_, [&] { return stopping_ || dirty_; });
      if (stopping_) return;
      dirty_ = false;
    }
    deferred_until_ = std::chrono::steady_clock::time_point::max();
    reconcile();
    bool failed = false;
    {
      std::lock_guard lock(mu_);
      failed = failures_.contains("write task status");
    }
    if (failed) {
      if (!pause(backoff)) return;
      backoff = grow(backoff, config_.max_backoff);
      mark_dirty();
      continue;
    }
    backoff = kFirstBackoff;
    // Changes that come in the meantime are handled together.
    if (!pause(kReconcileGap)) return;
  }
}

void NodeAgent::reconcile() {
  std::map<std::string, DesiredEntry> desired;
  bool listed = false;
  uint64_t session = 0;
  {
    std::lock_guard lock(mu_);
    desired = desired_;
    listed = desired_listed_;
    session = lease_ != 0 ? sessions_ : 0;
  }
  // Until the desired tasks were read once, nothing is started or stopped:
  // a berthd that starts while etcd is away keeps what runs.
  if (!listed) return;
  if (session != 0 && (session != written_session_ || !status_listed_)) {
    // What etcd holds: which tasks already ran to their end.
    if (auto read = list_statuses(); read) written_session_ = session;
  }
  std::map<std::string, int64_t> finished;
  for (const auto& [key, value] : written_) {
    if (value.find(R"("knownStatus":"STOPPED")") == std::string::npos) continue;
    auto status = parse_status(value);
    if (status && status->known == "STOPPED") {
      finished[Keys::last_segment(key)] = status->desired_revision;
    }
  }
  auto views = engine_.list(true);
  auto actions = plan_node(desired, local_tasks(views, keys_, config_.node), refused_, finished);
  for (const auto& action : actions) {
    if (action.kind == NodeAction::Kind::kStop) {
      spdlog::info("etcd: desired task '{}': stopping task '{}' ({})", action.name, action.task_id,
                   action.reason);
      if (auto stopped = engine_.stop_task(action.task_id, "UserInitiated",
                                           "Task stopped by the control plane: " + action.reason);
          !stopped) {
        spdlog::warn("etcd: desired task '{}': stop task '{}': {}", action.name, action.task_id,
                     stopped.error().message());
      }
      continue;
    }
    const DesiredEntry& entry = desired.at(action.name);
    agent::RunRequest request;
    request.definition_json = entry.task->definition_json;
    request.name = action.name;
    request.manifest = task_source(keys_, config_.node, action.name);
    request.manifest_digest = desired_digest(entry);
    auto id = engine_.run_task(request);
    if (!id) {
      spdlog::error("etcd: desired task '{}': {}", action.name, id.error().message());
      // A node shutting down refuses for now, not for this definition.
      if (id.error().code() != ErrorCode::kUnavailable) {
        refused_[action.name] = {request.manifest_digest, id.error().message()};
      }
      continue;
    }
    refused_.erase(action.name);
    spdlog::info("etcd: desired task '{}': running as task '{}'", action.name, *id);
  }
  for (auto it = refused_.begin(); it != refused_.end();) {
    it = desired.contains(it->first) ? std::next(it) : refused_.erase(it);
  }
  if (session == 0) return;  // written once registered
  if (!actions.empty()) views = engine_.list(true);
  auto statuses = build_statuses(desired, views, keys_, config_.node, refused_);
  if (session != written_session_) status_listed_ = false;
  auto written = write_statuses(statuses);
  std::lock_guard lock(mu_);
  if (!written) {
    auto& last = failures_["write task status"];
    if (last != written.error().message()) {
      last = written.error().message();
      spdlog::error("etcd: write task status: {} (retrying)", last);
    }
    return;
  }
  failures_.erase("write task status");
  written_session_ = session;
}

Status NodeAgent::list_statuses() {
  auto existing = BERTH_TRY(client_->get(keys_.status(config_.node), true));
  written_.clear();
  for (const auto& kv : existing.kvs) written_[kv.key] = kv.value;
  status_listed_ = true;
  return {};
}

Status NodeAgent::write_statuses(const std::map<std::string, TaskStatusRecord>& statuses) {
  // What etcd holds (a new session, or a berthd that restarted).
  if (!status_listed_) BERTH_TRY(list_statuses());
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [name, status] : statuses) {
    std::string key = keys_.status(config_.node, name);
    std::string value = to_json(status);
    auto it = written_.find(key);
    if (it != written_.end() && it->second == value) continue;
    if (!budget_.take(key, now)) {
      // Written with its latest state once the key may be written again.
      deferred_until_ = std::min(deferred_until_, budget_.next(key, now));
      continue;
    }
    BERTH_TRY(client_->put(key, value));
    written_[key] = value;
  }
  for (auto it = written_.begin(); it != written_.end();) {
    if (statuses.contains(Keys::last_segment(it->first))) {
      ++it;
      continue;
    }
    BERTH_TRY(client_->remove(it->first));
    budget_.forget(it->first);
    it = written_.erase(it);
  }
  return {};
}

}  // namespace berth::controlplane
