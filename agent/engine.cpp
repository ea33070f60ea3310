#include "agent/engine.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <sstream>

#include "netns/netns.h"
#include "runtime/exec_process.h"

namespace berth::agent {

namespace {

constexpr const char* kTaskLabel = "berth.task";
constexpr const char* kContainerLabel = "berth.container";
constexpr const char* kSandboxLabel = "berth.sandbox";
constexpr std::string_view kSandboxSuffix = ".sandbox";
// A task /dev/shm's size when no container asks for more (Docker's default).
constexpr uint64_t kDefaultShmBytes = 64ULL << 20;

// berth-pause beside berthd's own executable.
std::string pause_path(const EngineConfig& config) {
  if (!config.pause_path.empty()) return config.pause_path;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "berth-pause" : (self.parent_path() / "berth-pause").string();
}

std::string new_task_id() {
  std::random_device random;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string id;
  for (int i = 0; i < 12; ++i) id.push_back("0123456789abcdef"[hex(random)]);
  return id;
}

// KEY=VALUE lines of an environment file, as Docker's --env-file reads them:
// blank lines and # comments skipped, a bare KEY ignored.
Result<std::vector<std::string>> read_environment_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail_errno("read environment file '" + path + "'");
  std::vector<std::string> env;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    if (line.find('=') == std::string::npos) continue;
    env.push_back(line.substr(first));
  }
  return env;
}

std::string environment_file_path(const EnvironmentFile& file) {
  constexpr std::string_view kFileScheme = "file://";
  if (file.value.starts_with(kFileScheme)) return file.value.substr(kFileScheme.size());
  return file.value;
}

}  // namespace

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

NetworkConfig network_config(const EngineConfig& config) {
  NetworkConfig network = config.network;
  if (network.root_dir.empty()) network.root_dir = config.root;
  if (network.state_dir.empty()) network.state_dir = config.state;
  return network;
}

constexpr std::string_view kEniTag = "berth:eni";
constexpr std::string_view kEniAddressesTag = "berth:eni-addresses";
constexpr std::string_view kEniGatewayTag = "berth:eni-gateway";
constexpr std::string_view kEniMtuTag = "berth:eni-mtu";
// retry_at_ms_'s key for a task's network.
constexpr std::string_view kNetworkRetrySuffix = ".network";
constexpr std::string_view kCgroupRetrySuffix = ".cgroup";

}  // namespace

Engine::Engine(EngineConfig config, TaskStore store, runtime::ImageService& images,
               runtime::ContainerService& containers, runtime::EventMonitor& events,
               runtime::ExecService* exec)
    : config_(std::move(config)),
      store_(std::move(store)),
      images_(images),
      containers_(containers),
      events_(events),
      exec_(exec),
      sandboxes_(containers, {pause_path(config_), config_.root, config_.state}),
      network_(network_config(config_)) {}

Engine::~Engine() { stop(); }

// ---------------------------------------------------------------------------
// Threads

void Engine::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    owner_queue_.push_back(std::move(fn));
  }
  owner_cv_.notify_one();
}

void Engine::submit(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    worker_queue_.push_back(std::move(job));
  }
  worker_cv_.notify_one();
}

template <typename Fn>
auto Engine::call(Fn fn) -> decltype(fn()) {
  using R = decltype(fn());
  std::promise<R> promise;
  auto future = promise.get_future();
  post([&] { promise.set_value(fn()); });
  return future.get();
}

void Engine::owner_loop() {
  while (true) {
    std::deque<std::function<void()>> batch;
    {
      std::unique_lock lock(mu_);
      auto ready = [&] { return stopping_ || !owner_queue_.empty(); };
      if (wake_at_ms_ > 0) {
        auto wait = std::chrono::milliseconds(std::max<int64_t>(0, wake_at_ms_ - now_unix_ms()));
        owner_cv_.wait_for(lock, wait, ready);
      } else {
        owner_cv_.wait(lock, ready);
      }
      if (stopping_) return;
      batch.swap(owner_queue_);
    }
    for (auto& fn : batch) fn();
    reconcile_all();
  }
}

void Engine::worker_loop() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      worker_cv_.wait(lock, [&] { return stopping_ || !worker_queue_.empty(); });
      if (stopping_) return;
      job = std::move(worker_queue_.front());
      worker_queue_.pop_front();
    }
    job();
  }
}

berth::Status Engine::start() {
  std::vector<std::string> problems;
  for (auto& record : store_.load_all(&problems)) {
    auto parsed = parse_task_definition(record.definition_json, config_.policy);
    if (!parsed.definition) {
      problems.push_back("task '" + record.id +
                         "': definition no longer valid: " + format_problems(parsed.problems));
      continue;
    }
    auto task = std::make_unique<TaskRuntime>();
    task->record = std::move(record);
    task->definition = std::move(*parsed.definition);
    size_t n = task->record.containers.size();
    task->busy.assign(n, false);
    task->next_health_ms.assign(n, 0);
    task->health_busy.assign(n, false);
    for (size_t i = 0; i < n; ++i) {
      by_containerd_id_[task->record.containers[i].containerd_id] = {task->record.id, i};
    }
    if (task->record.sandbox) sandbox_owner_[task->record.sandbox->containerd_id] = task->record.id;
    std::string id = task->record.id;
    note_images(task->record, +1);
    tasks_[id] = std::move(task);
  }
  for (const auto& problem : problems) spdlog::warn("checkpoint {}, ignoring", problem);

  // Adopt before anything else runs: every container berth still has in
  // containerd either belongs to a task, or is removed.
  for (auto& [id, task] : tasks_) adopt(*task);
  auto ids = containers_.list_ids(std::string("labels.\"") + kTaskLabel + "\"");
  if (!ids) return fail(ids.error().with_context("list berth containers"));
  for (const auto& containerd_id : *ids) {
    if (by_containerd_id_.contains(containerd_id) || sandbox_owner_.contains(containerd_id)) {
      continue;
    }
    if (containerd_id.ends_with(kSandboxSuffix)) continue;  // below, with its host state
    spdlog::info("removing container '{}': no task owns it", containerd_id);
    // Its task may still run: it is killed and reaped first.
    if (containers_.kill(containerd_id, SIGKILL)) (void)containers_.wait(containerd_id);
    if (auto removed = containers_.remove(containerd_id); !removed) {
      spdlog::warn("remove container '{}': {}, ignoring", containerd_id, removed.error().message());
    }
  }
  // Sandboxes no live task owns (an interrupted removal, a lost
  // checkpoint): their container and their host state (a mounted /dev/shm).
  std::set<std::string> orphan_sandboxes;
  for (const auto& containerd_id : *ids) {
    if (containerd_id.ends_with(kSandboxSuffix)) orphan_sandboxes.insert(containerd_id);
  }
  for (const auto& id : sandboxes_.ids_with_host_state()) orphan_sandboxes.insert(id);
  for (const auto& id : orphan_sandboxes) {
    if (auto owner = sandbox_owner_.find(id); owner != sandbox_owner_.end()) {
      const auto& sandbox = tasks_.at(owner->second)->record.sandbox;
      if (sandbox && !sandbox->removed) continue;
    }
    spdlog::info("removing sandbox '{}': no task owns it", id);
    if (auto removed = sandboxes_.remove(id); !removed) {
      spdlog::warn("{}, ignoring", removed.error().message());
    }
  }

  // Networks: what live tasks hold keeps its host ports; anything else on
  // the host (a namespace, a CNI cache entry, an IP allocation, a borrowed
  // interface) belongs to a task berth no longer has, or to a step a crash
  // cut off, and is torn down.
  std::set<std::string> network_owners;
  for (const auto& [id, task] : tasks_) {
    const TaskRecord& record = task->record;
    if (record.network && !record.network->removed) {
      network_owners.insert(id);
      network_.reserve_ports(id, record.network->ports);
    }
    for (const auto& c : record.containers) {
      if (c.removed || record.network_mode != "bridge") continue;
      network_owners.insert(c.containerd_id);
      if (c.network) network_.reserve_ports(c.containerd_id, c.network->ports);
    }
  }
  for (const auto& id : network_.ids_with_host_state()) {
    if (network_owners.contains(id)) continue;
    spdlog::info("tearing down the network of '{}': no task owns it", id);
    if (auto torn = network_.teardown(id); !torn) {
      spdlog::warn("{}, ignoring", torn.error().message());
    }
  }

  // Task cgroups: those of tasks not yet STOPPED stay (their containers are
  // adopted or will be removed, then the cgroup); any other is what a task
  // berth no longer has left, or a removal a crash cut off.
  std::set<std::string> cgroup_owners;
  for (const auto& [id, task] : tasks_) {
    if (task->record.known != TaskStatus::kStopped) cgroup_owners.insert(id);
  }
  if (auto removed = cgroups::remove_unowned_tasks(*config_.cgroups, cgroup_owners); !removed) {
    spdlog::warn("remove task cgroups no task owns: {}, ignoring", removed.error().message());
  } else {
    for (const auto& id : *removed) spdlog::info("removed the cgroup of '{}': no task owns it", id);
  }

  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  owner_ = std::thread([this] { owner_loop(); });
  for (size_t i = 0; i < config_.workers; ++i) workers_.emplace_back([this] { worker_loop(); });
  post([] {});  // a first reconcile
  return {};
}

void Engine::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  owner_cv_.notify_all();
  worker_cv_.notify_all();
  if (owner_.joinable()) owner_.join();
  for (auto& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  workers_.clear();
}

// ---------------------------------------------------------------------------
// Recovery

void Engine::adopt_sandbox(TaskRuntime& task) {
  TaskRecord& record = task.record;
  if (!record.sandbox || record.sandbox->removed) return;
  SandboxRecord& sandbox = *record.sandbox;
  if (!sandbox.creating && sandbox.known != TaskStatus::kRunning) return;
  const std::string& cid = sandbox.containerd_id;
  events_.watch(cid);
  auto status = sandboxes_.status(cid);
  if (status && status->state == runtime::ProcessState::kRunning) {
    const uint32_t pid = status->pid;
    // Adopted, never restarted: the task's containers live in its namespaces.
    sandbox.pid = pid;
    sandbox.creating = false;
    sandbox.known = TaskStatus::kRunning;
    spdlog::info("task '{}': adopted its sandbox (pid {})", record.id, pid);
    return;
  }
  if (sandbox.creating) {
    // Cut off during its creation: no container can use it yet, so roll it
    // back and let the reconciler make it again.
    events_.unwatch(cid);
    if (auto removed = sandboxes_.remove(cid); !removed) {
      spdlog::warn("task '{}': roll back its sandbox: {}, ignoring", record.id,
                   removed.error().message());
    }
    interrupted_creates_.insert(cid);
    sandbox.creating = false;
    sandbox.known = TaskStatus::kPending;
    sandbox.pid = 0;
    spdlog::info("task '{}': rolled back the interrupted creation of its sandbox", record.id);
    return;
  }
  if (!status && status.error().code() != ErrorCode::kNotFound) {
    spdlog::warn("task '{}': sandbox: {}, keeping its recorded state", record.id,
                 status.error().message());
    return;
  }
  // It ended while berthd was away: the task cannot go on without it.
  sandbox.known = TaskStatus::kStopped;
  sandbox.pid = 0;
  sandbox.reason = "it was gone when berthd restarted";
  spdlog::info("task '{}': its sandbox {}", record.id, sandbox.reason);
}

void Engine::adopt_network(TaskRuntime& task) {
  TaskRecord& record = task.record;
  if (!record.network || record.network->removed) return;
  NetworkRecord& network = *record.network;
  if (network.creating) {
    // Cut off while being made: nothing runs in it yet, so undo it and let
    // the reconciler make it again.
    if (auto torn = network_.teardown(record.id); !torn) {
      spdlog::warn("task '{}': roll back its network: {}, ignoring", record.id,
                   torn.error().message());
    }
    network.creating = false;
    network.known = TaskStatus::kPending;
    network.addresses.clear();
    spdlog::info("task '{}': rolled back the interrupted set-up of its network", record.id);
    return;
  }
  if (network.known == TaskStatus::kRunning && !netns::is_pinned(network.netns)) {
    network.known = TaskStatus::kStopped;
    network.reason = "its namespace was gone when berthd restarted";
    spdlog::warn("task '{}': {}", record.id, network.reason);
  }
}

void Engine::adopt(TaskRuntime& task) {
  TaskRecord& record = task.record;
  if (record.known == TaskStatus::kStopped) return;
  adopt_network(task);
  adopt_sandbox(task);
  for (size_t i = 0; i < record.containers.size(); ++i) {
    ContainerRecord& container = record.containers[i];
    bool maybe_exists = container.creating || container.known == TaskStatus::kCreated ||
                        container.known == TaskStatus::kRunning;
    if (!maybe_exists) continue;
    // Watch first, so that an exit between the query and the watch is not lost.
    events_.watch(container.containerd_id);
    auto status = containers_.task_status(container.containerd_id);
    if (status && status->state == runtime::ProcessState::kRunning) {
      container.pid = status->pid;
      if (container.creating) {
        // The crash came between Start and the checkpoint that says RUNNING:
        // the step is finished, not repeated.
        container.creating = false;
        container.known = TaskStatus::kRunning;
        if (container.started_at_ms == 0) container.started_at_ms = now_unix_ms();
      }
      spdlog::info("task '{}': adopted container '{}' (pid {})", record.id, container.name,
                   container.pid);
      continue;
    }
    if (status && status->state == runtime::ProcessState::kStopped && !container.creating) {
      spdlog::info("task '{}': container '{}' exited with {} while berthd was away", record.id,
                   container.name, status->exit.code);
      int code = static_cast<int>(status->exit.code);
      std::string cid = container.containerd_id;
      post([this, cid, code] { handle_exit(cid, code, false, 0); });
      continue;
    }
    if (container.creating || (status && status->state == runtime::ProcessState::kCreated)) {
      // Created but never started: roll back, so that the start is repeated
      // from a clean slate.
      events_.unwatch(container.containerd_id);
      if (auto removed = containers_.remove(container.containerd_id); !removed) {
        spdlog::warn("task '{}': roll back container '{}': {}, ignoring", record.id, container.name,
                     removed.error().message());
      }
      if (record.network_mode == "bridge") teardown_container_network(container.containerd_id);
      container.network.reset();
      interrupted_creates_.insert(container.containerd_id);
      container.creating = false;
      container.known = TaskStatus::kPulled;
      container.pid = 0;
      spdlog::info("task '{}': rolled back the interrupted start of container '{}'", record.id,
                   container.name);
      continue;
    }
    if (!status && status.error().code() != ErrorCode::kNotFound) {
      // containerd did not answer clearly: keep what the checkpoint says and
      // let the event stream's reconciliation report an exit.
      spdlog::warn("task '{}': container '{}': {}, keeping its recorded state", record.id,
                   container.name, status.error().message());
      continue;
    }
    // No task in containerd at all (containerd lost it, e.g. a reboot).
    events_.unwatch(container.containerd_id);
    container.known = TaskStatus::kStopped;
    container.stopped_at_ms = now_unix_ms();
    container.reason = "The container's task was gone when berthd restarted";
    container.removed = false;
  }
  checkpoint(task);
}

// ---------------------------------------------------------------------------
// The reconciler

Engine::TaskRuntime* Engine::find(const std::string& id_or_name) {
  if (auto it = tasks_.find(id_or_name); it != tasks_.end()) return it->second.get();
  TaskRuntime* match = nullptr;
  for (auto& [id, task] : tasks_) {
    if (task->record.name != id_or_name && !id.starts_with(id_or_name)) continue;
    // A name may be reused once the earlier task stopped: prefer the live one.
    if (!match || (match->record.known == TaskStatus::kStopped &&
                   task->record.known != TaskStatus::kStopped)) {
      match = task.get();
    }
  }
  return match;
}

void Engine::checkpoint(TaskRuntime& task) {
  std::string json = to_json(task.record).dump(1);
  if (json == task.last_saved) return;
  if (auto saved = store_.save(task.record); !saved) {
    spdlog::error("task '{}': checkpoint: {}", task.record.id, saved.error().message());
    return;
  }
  task.last_saved = std::move(json);
}

void Engine::emit(const TaskRuntime& task, const std::string& container, std::string status,
                  std::string detail) {
  EngineEvent event{now_unix_ms(), task.record.id, container, std::move(status), std::move(detail)};
  if (container.empty()) {
    spdlog::info("task '{}' ({}): {}{}", task.record.id, task.record.name, event.status,
                 event.detail.empty() ? "" : " (" + event.detail + ")");
  } else {
    spdlog::info("task '{}': container '{}' {}{}", task.record.id, container, event.status,
                 event.detail.empty() ? "" : " (" + event.detail + ")");
  }
  for (auto& [id, callback] : subscribers_) callback(event);
}

void Engine::reconcile_all() {
  wake_at_ms_ = 0;
  int64_t now = now_unix_ms();
  for (auto& [id, task] : tasks_) reconcile(*task);
  for (auto& [id, task] : tasks_) schedule_health(*task, now);
  expire_stopped(now);
  if (config_.image_gc_interval.count() > 0) {
    int64_t interval_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(config_.image_gc_interval).count();
    if (next_image_gc_ms_ == 0) next_image_gc_ms_ = now + interval_ms;
    if (now >= next_image_gc_ms_) {
      next_image_gc_ms_ = now + interval_ms;
      if (!image_gc_running_.exchange(true)) submit([this] { collect_images(); });
    }
    if (wake_at_ms_ == 0 || next_image_gc_ms_ < wake_at_ms_) wake_at_ms_ = next_image_gc_ms_;
  }
}

void Engine::note_images(const TaskRecord& record, int delta) {
  int64_t now = now_unix_ms();
  std::lock_guard lock(image_use_mu_);
  for (const auto& c : record.containers) {
    auto name = runtime::ImageService::image_name(c.image);
    if (!name) continue;
    ImageUse& use = image_use_[*name];
    use.tasks += delta;
    if (use.tasks <= 0) {
      use.tasks = 0;
      use.released_ms = now;
    }
  }
}

void Engine::collect_images() {
  struct Done {
    std::atomic<bool>& running;
    ~Done() { running = false; }
  } done{image_gc_running_};
  auto images = images_.list();
  if (!images) {
    spdlog::warn("image GC: {}", images.error().message());
    return;
  }
  auto in_containers = containers_.image_names();
  if (!in_containers) {
    spdlog::warn("image GC: {}", in_containers.error().message());
    return;
  }
  int64_t min_age_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.image_gc_min_age).count();
  std::unique_lock gc(image_gc_mu_);
  int64_t now = now_unix_ms();
  std::map<std::string, int64_t> seen;
  size_t removed_count = 0;
  for (const auto& image : *images) {
    // An image berthd never saw used counts from when it first saw it.
    int64_t& first = seen[image.name] =
        image_seen_ms_.contains(image.name) ? image_seen_ms_[image.name] : now;
    if (in_containers->contains(image.name) || now - first < min_age_ms) continue;
    {
      std::lock_guard lock(image_use_mu_);
      auto use = image_use_.find(image.name);
      if (use != image_use_.end()) {
        if (use->second.tasks > 0 || now - use->second.released_ms < min_age_ms) continue;
        image_use_.erase(use);
      }
    }
    if (auto removed = images_.remove(image.name); !removed) {
      spdlog::warn("image GC: {}", removed.error().message());
      continue;
    }
    seen.erase(image.name);
    ++removed_count;
    spdlog::info("image GC: removed '{}' ({} bytes), unused for {} s or more", image.name,
                 image.size, min_age_ms / 1000);
  }
  image_seen_ms_ = std::move(seen);
  spdlog::debug("image GC: {} image(s), {} removed", images->size(), removed_count);
}

void Engine::reconcile(TaskRuntime& task) {
  int64_t now = now_unix_ms();
  TaskStatus known_before = task.record.known;
  TaskStatus desired_before = task.record.desired;
  std::vector<TaskStatus> containers_before;
  for (const auto& c : task.record.containers) containers_before.push_back(c.known);

  // A step whose last attempt failed waits for its retry time as if busy;
  // the owner wakes then. An expired wait is cleared.
  auto waiting = [&](const std::string& key) {
    auto retry = retry_at_ms_.find(key);
    if (retry == retry_at_ms_.end()) return false;
    if (now < retry->second) {
      if (wake_at_ms_ == 0 || retry->second < wake_at_ms_) wake_at_ms_ = retry->second;
      return true;
    }
    retry_at_ms_.erase(retry);
    return false;
  };
  std::vector<bool> busy = task.busy;
  for (size_t i = 0; i < busy.size(); ++i) {
    if (waiting(task.record.containers[i].containerd_id)) busy[i] = true;
  }
  bool sandbox_busy =
      task.sandbox_busy || (task.record.sandbox && waiting(task.record.sandbox->containerd_id));
  bool network_busy =
      task.network_busy ||
      (task.record.network && waiting(task.record.id + std::string(kNetworkRetrySuffix)));
  bool cgroup_busy = task.cgroup_busy || waiting(task.record.id + std::string(kCgroupRetrySuffix));
  Plan plan =
      plan_task(task.record, task.definition, busy, now, sandbox_busy, network_busy, cgroup_busy);

  if (task.record.desired != desired_before) {
    emit(task, "", "STOPPING", task.record.stop_code + ": " + task.record.stopped_reason);
  }
  for (size_t i = 0; i < task.record.containers.size(); ++i) {
    const auto& c = task.record.containers[i];
    if (c.known != containers_before[i] && c.known == TaskStatus::kStopped) {
      emit(task, c.name, "STOPPED", c.reason);
    }
  }
  if (task.record.known != known_before) {
    emit(task, "", std::string(status_name(task.record.known)),
         task.record.known == TaskStatus::kStopped ? task.record.stopped_reason : "");
  }
  // Checkpoint before any action touches the host.
  for (const auto& action : plan.actions) {
    if (action.kind == Action::Kind::kStart)
      task.record.containers[action.container].creating = true;
    if (action.kind == Action::Kind::kCreateSandbox) task.record.sandbox->creating = true;
    if (action.kind == Action::Kind::kCreateNetwork) task.record.network->creating = true;
  }
  checkpoint(task);
  for (const auto& action : plan.actions) dispatch(task, action);
  if (plan.wake_at_ms > 0 && (wake_at_ms_ == 0 || plan.wake_at_ms < wake_at_ms_)) {
    wake_at_ms_ = plan.wake_at_ms;
  }
}

void Engine::dispatch_sandbox(TaskRuntime& task, const Action& action) {
  SandboxRecord& sandbox = *task.record.sandbox;
  std::string task_id = task.record.id;
  std::string cid = sandbox.containerd_id;
  task.sandbox_busy = true;
  auto finish = [this, task_id](std::function<void(TaskRuntime&, SandboxRecord&)> apply) {
    post([this, task_id, apply = std::move(apply)] {
      auto it = tasks_.find(task_id);
      if (it == tasks_.end()) return;
      it->second->sandbox_busy = false;
      apply(*it->second, *it->second->record.sandbox);
      checkpoint(*it->second);
    });
  };
  if (action.kind == Action::Kind::kCreateSandbox) {
    runtime::SandboxRequest request;
    request.id = cid;
    request.after_interrupted_create = interrupted_creates_.erase(cid) > 0;
    request.labels = {{kTaskLabel, task_id}, {kSandboxLabel, "true"}};
    if (task.record.network) request.netns_path = task.record.network->netns;
    request.cgroups_path = config_.cgroups->container_cgroups_path(task_id, cid);
    cgroups::TaskLimits limits = task_limits(task.definition, config_.task_pids_limit);
    if (task.definition.ipc_mode == IpcMode::kTask) {
      // One /dev/shm for the task, as large as its largest container asks.
      request.shm_size_bytes = kDefaultShmBytes;
      uint64_t largest = 0;
      for (const auto& c : task.definition.containers) {
        if (c.linux_parameters && c.linux_parameters->shared_memory_size_mib) {
          largest = std::max<uint64_t>(largest, *c.linux_parameters->shared_memory_size_mib << 20);
        }
      }
      if (largest > 0) request.shm_size_bytes = largest;
    }
    submit([this, finish, request, cid, task_id, limits] {
      Result<uint32_t> pid = 0;
      if (auto made = config_.cgroups->create_task(task_id, limits); !made) {
        pid = fail(made.error().with_context("task cgroup"));
      } else {
        events_.watch(cid);
        pid = sandboxes_.create(request);
      }
      if (!pid) events_.unwatch(cid);
      finish([pid](TaskRuntime& t, SandboxRecord& s) {
        s.creating = false;
        if (!pid) {
          s.known = TaskStatus::kStopped;
          s.removed = true;
          s.reason = pid.error().message();
          spdlog::warn("task '{}': create its sandbox: {}", t.record.id, s.reason);
          request_stop(t.record, "TaskFailedToStart", "CannotStartSandboxError: " + s.reason);
          return;
        }
        if (s.known == TaskStatus::kPending) s.known = TaskStatus::kRunning;
        s.pid = *pid;
        spdlog::info("task '{}': sandbox '{}' running (pid {})", t.record.id, s.containerd_id,
                     s.pid);
      });
    });
    return;
  }
  // kRemoveSandbox
  submit([this, finish, cid] {
    auto removed = sandboxes_.remove(cid);
    finish([this, removed, cid](TaskRuntime& t, SandboxRecord& s) {
      if (!removed) {
        spdlog::warn("task '{}': remove its sandbox: {}; will retry", t.record.id,
                     removed.error().message());
        retry_at_ms_[cid] = now_unix_ms() + 2000;
        return;
      }
      events_.unwatch(cid);
      s.known = TaskStatus::kStopped;
      s.pid = 0;
      s.removed = true;
    });
  });
}

void Engine::dispatch_network(TaskRuntime& task, const Action& action) {
  std::string task_id = task.record.id;
  task.network_busy = true;
  auto finish = [this, task_id](std::function<void(TaskRuntime&, NetworkRecord&)> apply) {
    post([this, task_id, apply = std::move(apply)] {
      auto it = tasks_.find(task_id);
      if (it == tasks_.end()) return;
      it->second->network_busy = false;
      apply(*it->second, *it->second->record.network);
      checkpoint(*it->second);
    });
  };
  if (action.kind == Action::Kind::kCreateNetwork) {
    NetworkRequest request;
    request.id = task_id;
    request.mode = task.record.network_mode;
    // awsvpc: the task's ports are its own address's; nothing is published.
    if (const std::string& name = task.record.network->eni; !name.empty()) {
      // The interface run_task gave it: named by its tags, or the pool's.
      Result<std::optional<EniSpec>> eni = std::nullopt;
      if (task.definition.tags.contains(std::string(kEniTag))) {
        eni = choose_eni(task.definition);
      } else {
        for (const auto& entry : network_.config().eni_pool) {
          if (entry.name == name) eni = entry;
        }
      }
      if (eni && *eni) {
        request.eni = **eni;
      } else {
        std::string reason =
            eni ? "ENI '" + name + "' is no longer in the node's pool" : eni.error().message();
        finish([reason](TaskRuntime& t, NetworkRecord& n) {
          n.creating = false;
          n.known = TaskStatus::kStopped;
          n.removed = true;
          n.reason = reason;
          request_stop(t.record, "TaskFailedToStart", "ResourceInitializationError: " + reason);
        });
        return;
      }
    }
    submit([this, finish, request] {
      auto began = std::chrono::steady_clock::now();
      auto made = network_.setup(request);
      auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - began)
                      .count();
      finish([this, made, took](TaskRuntime& t, NetworkRecord& n) {
        n.creating = false;
        if (!made) {
          n.known = TaskStatus::kStopped;
          n.removed = true;  // setup left nothing behind
          n.reason = made.error().message();
          spdlog::warn("task '{}': set up its network: {}", t.record.id, n.reason);
          request_stop(t.record, "TaskFailedToStart", "ResourceInitializationError: " + n.reason);
          return;
        }
        std::string eni = n.eni;
        n = *made;
        if (n.eni.empty()) n.eni = eni;
        spdlog::info("task '{}': network ready, {} at {}", t.record.id, n.interface,
                     n.addresses.empty() ? std::string("no address") : n.addresses.front());
        emit(t, "", "NETWORK",
             (n.addresses.empty() ? std::string("no address") : n.addresses.front()) +
                 ", set up in " + std::to_string(took) + " ms");
      });
    });
    return;
  }
  // kRemoveNetwork
  submit([this, finish, task_id] {
    auto began = std::chrono::steady_clock::now();
    auto torn = network_.teardown(task_id);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - began)
                    .count();
    finish([this, torn, task_id, took](TaskRuntime& t, NetworkRecord& n) {
      if (!torn) {
        spdlog::warn("task '{}': tear down its network: {}; will retry", t.record.id,
                     torn.error().message());
        retry_at_ms_[task_id + std::string(kNetworkRetrySuffix)] = now_unix_ms() + 2000;
        return;
      }
      n.known = TaskStatus::kStopped;
      n.removed = true;
      emit(t, "", "NETWORK_REMOVED", "torn down in " + std::to_string(took) + " ms");
    });
  });
}

void Engine::dispatch_cgroup(TaskRuntime& task) {
  std::string task_id = task.record.id;
  task.cgroup_busy = true;
  submit([this, task_id] {
    auto removed = config_.cgroups->remove_task(task_id);
    post([this, task_id, removed] {
      auto it = tasks_.find(task_id);
      if (it == tasks_.end()) return;
      TaskRuntime& t = *it->second;
      t.cgroup_busy = false;
      if (!removed) {
        // Processes left in it (one that escaped its container, or a
        // container berth failed to delete): try again, loudly.
        spdlog::warn("task '{}': remove its cgroup: {}; will retry", task_id,
                     removed.error().message());
        retry_at_ms_[task_id + std::string(kCgroupRetrySuffix)] = now_unix_ms() + 2000;
        return;
      }
      t.record.cgroup_removed = true;
      checkpoint(t);
    });
  });
}

void Engine::teardown_container_network(const std::string& containerd_id) {
  if (auto torn = network_.teardown(containerd_id); !torn) {
    spdlog::warn("container '{}': {}, ignoring", containerd_id, torn.error().message());
  }
}

void Engine::dispatch(TaskRuntime& task, const Action& action) {
  if (action.kind == Action::Kind::kCreateNetwork || action.kind == Action::Kind::kRemoveNetwork) {
    dispatch_network(task, action);
    return;
  }
  if (action.kind == Action::Kind::kRemoveCgroup) {
    dispatch_cgroup(task);
    return;
  }
  if (action.container == kTaskLevel) {
    dispatch_sandbox(task, action);
    return;
  }
  size_t index = action.container;
  ContainerRecord& container = task.record.containers[index];
  const ContainerDefinition& spec = task.definition.containers[index];
  std::string task_id = task.record.id;
  std::string cid = container.containerd_id;
  task.busy[index] = true;

  // Every job ends by posting its result back to the owner, which clears
  // `busy` and records what happened.
  auto finish = [this, task_id, index](std::function<void(TaskRuntime&, ContainerRecord&)> apply) {
    post([this, task_id, index, apply = std::move(apply)] {
      auto it = tasks_.find(task_id);
      if (it == tasks_.end()) return;
      it->second->busy[index] = false;
      apply(*it->second, it->second->record.containers[index]);
    });
  };
  // A container that could not be started: it is STOPPED with the reason,
  // and an essential one stops the task (ECS: TaskFailedToStart).
  auto failed_start = [essential = spec.essential](TaskRuntime& t, ContainerRecord& c,
                                                   const std::string& reason) {
    c.known = TaskStatus::kStopped;
    c.creating = false;
    c.stopped_at_ms = now_unix_ms();
    c.reason = reason;
    c.removed = true;
    if (essential) request_stop(t.record, "TaskFailedToStart", reason);
  };

  switch (action.kind) {
    case Action::Kind::kPull:
      submit([this, finish, failed_start, image = container.image] {
        auto digest = pull_image(image);
        finish([digest, failed_start](TaskRuntime& t, ContainerRecord& c) {
          if (!digest) {
            failed_start(t, c, "CannotPullContainerError: " + digest.error().message());
            return;
          }
          c.image_digest = *digest;
          c.known = TaskStatus::kPulled;
          c.pulled_at_ms = now_unix_ms();
        });
      });
      break;
    case Action::Kind::kStart:
    case Action::Kind::kRestart: {
      bool restart = action.kind == Action::Kind::kRestart;
      if (restart) {
        container.creating = true;
        container.restart_count++;
        container.last_restart_at_ms = now_unix_ms();
      }
      // CREATED until the start's result comes back; an exit that arrives
      // first (a fast container) is recorded by handle_exit meanwhile.
      container.known = TaskStatus::kCreated;
      container.exit_code.reset();
      container.reason.clear();
      container.removed = false;
      container.oom_killed = false;
      container.stop_signalled_at_ms = 0;
      container.killed = false;
      container.health = Health::kUnknown;
      container.health_failures = 0;
      container.health_output.clear();
      checkpoint(task);
      bool after_interrupted_create = interrupted_creates_.erase(cid) > 0;
      StartContext context;
      context.task_id = task_id;
      context.network_mode = task.record.network_mode;
      context.sandbox = task.record.sandbox;
      context.task_network = task.record.network;
      for (const auto& other : task.record.containers) {
        if (other.network && !other.network->addresses.empty()) {
          context.container_addresses[other.name] = other.network->addresses.front();
        }
      }
      container.network.reset();
      submit([this, finish, failed_start, context, definition = task.definition, index, cid,
              restart, image = container.image, after_interrupted_create] {
        if (restart) {
          if (auto removed = containers_.remove(cid); !removed) {
            spdlog::warn("container '{}': remove before restart: {}, ignoring", cid,
                         removed.error().message());
          }
        }
        auto started =
            create_and_start(context, definition, index, cid, image, after_interrupted_create);
        finish([this, started, failed_start, cid](TaskRuntime& t, ContainerRecord& c) {
          if (!started) early_exits_.erase(cid);
          c.creating = false;
          if (!started) {
            failed_start(t, c, "CannotStartContainerError: " + started.error().message());
            return;
          }
          uint32_t pid = started->pid;
          c.network = started->network;
          c.started_at_ms = now_unix_ms();
          if (c.known == TaskStatus::kCreated) {
            c.pid = pid;
            c.known = TaskStatus::kRunning;
            emit(t, c.name, "RUNNING", "pid " + std::to_string(pid));
          }
          // An exit that arrived while the start was in flight counts only
          // if it is this instance's.
          if (auto early = early_exits_.find(cid); early != early_exits_.end()) {
            auto [exit_pid, exit_code] = early->second;
            early_exits_.erase(early);
            if (exit_pid == pid) handle_exit(cid, exit_code, false, exit_pid);
          }
        });
      });
      break;
    }
    case Action::Kind::kSignal:
    case Action::Kind::kKill: {
      int signal = action.kind == Action::Kind::kSignal ? SIGTERM : SIGKILL;
      submit([this, finish, cid, signal] {
        auto killed = containers_.kill(cid, signal);
        if (!killed && killed.error().code() != ErrorCode::kNotFound) {
          spdlog::warn("container '{}': signal {}: {}, ignoring", cid, signal,
                       killed.error().message());
        }
        finish([](TaskRuntime&, ContainerRecord&) {});
      });
      break;
    }
    case Action::Kind::kRemove:
      submit([this, finish, cid, bridge = task.record.network_mode == "bridge"] {
        auto removed = containers_.remove(cid);
        if (!removed) {
          // A process still runs under a container berth considers stopped
          // (e.g. its state was lost in a crash): end it, then remove.
          if (containers_.kill(cid, SIGKILL)) (void)containers_.wait(cid);
          removed = containers_.remove(cid);
        }
        // Its own namespace goes with it (CNI DEL, the address, the ports).
        if (removed && bridge) {
          if (auto torn = network_.teardown(cid); !torn) removed = std::unexpected(torn.error());
        }
        finish([this, removed, cid](TaskRuntime&, ContainerRecord& c) {
          if (!removed) {
            spdlog::warn("container '{}': remove: {}; will retry", cid, removed.error().message());
            retry_at_ms_[cid] = now_unix_ms() + 2000;
            return;
          }
          events_.unwatch(cid);
          c.removed = true;
        });
      });
      break;
    case Action::Kind::kCreateSandbox:
    case Action::Kind::kRemoveSandbox:
    case Action::Kind::kCreateNetwork:
    case Action::Kind::kRemoveNetwork:
    case Action::Kind::kRemoveCgroup:
      break;  // task-level, never a container's
  }
}

Result<std::string> Engine::pull_image(const std::string& reference) {
  // Containers of a task often share an image: one pull at a time per
  // reference (containerd refuses a second writer of the same blob), and the
  // later ones find it present.
  std::shared_ptr<std::mutex> lock_for_reference;
  {
    std::lock_guard lock(pulls_mu_);
    auto& slot = pulls_[reference];
    if (!slot) slot = std::make_shared<std::mutex>();
    lock_for_reference = slot;
  }
  std::lock_guard pulling(*lock_for_reference);
  std::shared_lock gc(image_gc_mu_);
  auto resolved = images_.resolve(reference);
  if (resolved) return resolved->target_digest;
  if (resolved.error().code() != ErrorCode::kNotFound) return fail(resolved.error());
  // containerd keeps an ingest locked for a moment after a writer dies (a
  // berthd killed mid-pull): such a pull is retried, with a growing pause.
  for (int attempt = 1;; ++attempt) {
    auto pulled = images_.pull(reference, {}, nullptr);
    if (pulled) return pulled->target.digest;
    bool locked = pulled.error().message().find("locked") != std::string::npos;
    if (!locked || attempt == 5) return fail(pulled.error());
    std::this_thread::sleep_for(std::chrono::milliseconds(500) * attempt);
  }
}

Result<runtime::ContainerSettings> Engine::container_settings(const StartContext& context,
                                                              const TaskDefinition& definition,
                                                              size_t index) {
  const std::string& task_id = context.task_id;
  const std::optional<SandboxRecord>& sandbox = context.sandbox;
  const ContainerDefinition& spec = definition.containers[index];
  runtime::ContainerSettings settings;
  settings.privileged = spec.privileged;
  settings.host_pid = definition.pid_mode == PidMode::kHost;
  settings.host_ipc = definition.ipc_mode == IpcMode::kHost;
  settings.host_network = context.network_mode == "host";
  if (needs_sandbox(definition)) {
    if (!sandbox || sandbox->pid == 0) {
      return fail(ErrorCode::kFailedPrecondition, "the task's sandbox is not running");
    }
    std::string ns_dir = "/proc/" + std::to_string(sandbox->pid) + "/ns/";
    if (definition.pid_mode == PidMode::kTask) settings.task_namespaces.pid_path = ns_dir + "pid";
    if (definition.ipc_mode == IpcMode::kTask) {
      settings.task_namespaces.ipc_path = ns_dir + "ipc";
      settings.task_namespaces.shm_source = sandboxes_.shm_path(sandbox->containerd_id);
    }
  }
  settings.task_namespaces.ipc_none = definition.ipc_mode == IpcMode::kNone;
  settings.interactive = spec.interactive;
  for (const auto& u : spec.ulimits) {
    settings.ulimits.push_back(
        {u.name, static_cast<uint64_t>(u.soft_limit), static_cast<uint64_t>(u.hard_limit)});
  }
  if (spec.linux_parameters) {
    const LinuxParameters& lp = *spec.linux_parameters;
    settings.cap_add = lp.capabilities_add;
    settings.cap_drop = lp.capabilities_drop;
    if (lp.shared_memory_size_mib) settings.shm_size_bytes = *lp.shared_memory_size_mib << 20;
    for (const auto& t : lp.tmpfs) {
      settings.tmpfs.push_back({t.container_path, t.size_mib << 20, t.mount_options});
    }
    for (const auto& d : lp.devices) {
      settings.devices.push_back(
          {d.host_path, d.container_path.empty() ? d.host_path : d.container_path, d.permissions});
    }
    if (lp.init_process_enabled) {
      if (!std::filesystem::exists(config_.init_path)) {
        return fail(ErrorCode::kFailedPrecondition, "initProcessEnabled needs '" +
                                                        config_.init_path +
                                                        "' (Debian's tini package) on the node");
      }
      settings.init_path = config_.init_path;
    }
  }

  // Volumes: a host path, or a directory of the task's own shared by its
  // containers (removed with the task).
  auto volume_source = [&](const std::string& name) -> Result<std::string> {
    for (const auto& volume : definition.volumes) {
      if (volume.name != name) continue;
      if (volume.host_source_path) {
        std::error_code ec;
        if (!std::filesystem::exists(*volume.host_source_path, ec)) {
          return fail(ErrorCode::kNotFound, "volume '" + name + "': host sourcePath '" +
                                                *volume.host_source_path +
                                                "' does not exist on this node");
        }
        return *volume.host_source_path;
      }
      std::string dir = config_.root + "/volumes/" + task_id + "/" + name;
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec) return fail(ErrorCode::kInternal, "create volume '" + dir + "': " + ec.message());
      ::chmod(dir.c_str(), 0777);  // like a fresh Docker volume: any user may write
      return dir;
    }
    return fail(ErrorCode::kInvalidArgument, "no volume named '" + name + "'");
  };
  auto add_mounts = [&](const ContainerDefinition& from, bool force_read_only) -> berth::Status {
    for (const auto& mount : from.mount_points) {
      std::string source = BERTH_TRY(volume_source(mount.source_volume));
      settings.mounts.push_back({source, mount.container_path, mount.read_only || force_read_only});
    }
    return {};
  };
  for (const auto& from : spec.volumes_from) {
    for (const auto& other : definition.containers) {
      if (other.name == from.source_container) BERTH_TRY(add_mounts(other, from.read_only));
    }
  }
  BERTH_TRY(add_mounts(spec, false));

  return settings;
}

Result<std::string> Engine::network_files(const StartContext& context,
                                          const ContainerDefinition& spec,
                                          const std::optional<NetworkRecord>& network,
                                          runtime::ContainerSettings& settings) {
  auto read_text = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  std::string address;
  if (network && !network->addresses.empty()) address = network->addresses.front();
  const std::string& mode = context.network_mode;
  std::string hostname;
  if (spec.hostname) {
    hostname = *spec.hostname;
  } else if (mode == "awsvpc") {
    hostname = hostname_for_address(address);  // EC2's ip-10-0-0-5
  } else if (mode == "host") {
    char name[256] = {};
    if (::gethostname(name, sizeof(name) - 1) == 0) hostname = name;
  } else {
    hostname = (context.task_id + "-" + spec.name).substr(0, 63);
  }

  std::string hosts;
  std::vector<HostsEntry> entries;
  if (mode == "host") {
    hosts = read_text("/etc/hosts");
    if (!hosts.empty() && hosts.back() != '\n') hosts += '\n';
  } else {
    if (!address.empty() && !hostname.empty()) {
      HostsEntry self{address, {hostname}};
      if (mode == "bridge" && spec.name != hostname) self.names.push_back(spec.name);
      entries.push_back(std::move(self));
    }
    for (const auto& link : spec.links) {
      auto colon = link.find(':');
      std::string target = link.substr(0, colon);
      auto found = context.container_addresses.find(target);
      if (found == context.container_addresses.end()) continue;
      HostsEntry entry{found->second, {}};
      if (colon != std::string::npos) entry.names.push_back(link.substr(colon + 1));
      entry.names.push_back(target);
      entries.push_back(std::move(entry));
    }
  }
  for (const auto& host : spec.extra_hosts) entries.push_back({host.ip_address, {host.hostname}});
  hosts += mode == "host" ? render_hosts(entries).substr(render_hosts({}).size())
                          : render_hosts(entries);

  std::string node_resolv = read_text(config_.resolv_conf_path);
  std::string resolv;
  if (mode == "host" && spec.dns_servers.empty() && spec.dns_search_domains.empty()) {
    resolv = node_resolv;  // the node's own namespace: its resolvers work as they are
  } else {
    resolv = render_resolv_conf(node_resolv, spec.dns_servers, spec.dns_search_domains);
  }

  std::string etc_dir = config_.state + "/tasks/" + context.task_id + "/" + spec.name;
  std::error_code ec;
  std::filesystem::create_directories(etc_dir, ec);
  if (ec) return fail(ErrorCode::kInternal, "create '" + etc_dir + "': " + ec.message());
  for (const auto& [name, text] : {std::pair{"hosts", &hosts}, std::pair{"resolv.conf", &resolv},
                                   std::pair{"hostname", &hostname}}) {
    std::string path = etc_dir + "/" + name;
    std::string contents = *text;
    if (std::string_view(name) == "hostname") contents += "\n";
    BERTH_TRY(write_file_atomically(path, contents));
    ::chmod(path.c_str(), 0644);
    settings.mounts.push_back({path, "/etc/" + std::string(name), false});
  }
  return hostname;
}

Result<Engine::Started> Engine::create_and_start(const StartContext& context,
                                                 const TaskDefinition& definition, size_t index,
                                                 const std::string& containerd_id,
                                                 const std::string& image,
                                                 bool after_interrupted_create) {
  const ContainerDefinition& spec = definition.containers[index];
  const std::optional<SandboxRecord>& sandbox = context.sandbox;
  std::shared_lock gc(image_gc_mu_);
  if (sandbox) {
    // The namespaces are joined through /proc/<pid>: make sure that pid is
    // still the sandbox's, not a reused one.
    auto status = sandboxes_.status(sandbox->containerd_id);
    if (!status || status->state != runtime::ProcessState::kRunning ||
        status->pid != sandbox->pid) {
      return fail(ErrorCode::kFailedPrecondition,
                  "the task's sandbox (pid " + std::to_string(sandbox->pid) + ") is not running");
    }
  }
  // The task cgroup first: made (or found) with the task's limits, so the
  // container's own cgroup nests in it.
  BERTH_TRY_CTX(config_.cgroups->create_task(context.task_id,
                                             task_limits(definition, config_.task_pids_limit)),
                "task cgroup");
  Started started;
  runtime::CreateContainerRequest request;
  request.cgroups_path = config_.cgroups->container_cgroups_path(context.task_id, containerd_id);
  std::optional<NetworkRecord> network;
  if (context.network_mode == "awsvpc") {
    if (!context.task_network || context.task_network->known != TaskStatus::kRunning) {
      return fail(ErrorCode::kFailedPrecondition, "the task's network is not ready");
    }
    network = context.task_network;
    request.netns_path = network->netns;
  } else if (context.network_mode == "bridge") {
    NetworkRequest wanted;
    wanted.id = containerd_id;
    wanted.mode = "bridge";
    for (const auto& mapping : spec.port_mappings) {
      wanted.ports.push_back(
          {mapping.container_port, mapping.host_port.value_or(0), mapping.protocol});
    }
    network = BERTH_TRY_CTX(network_.setup(wanted), "network");
    started.network = network;
    request.netns_path = network->netns;
  }
  // Anything failing from here on takes the container's own network along.
  auto undo = [&](Error error) -> Result<Started> {
    if (started.network) teardown_container_network(containerd_id);
    return fail(std::move(error));
  };
  request.after_interrupted_create = after_interrupted_create;
  auto settings = container_settings(context, definition, index);
  if (!settings) return undo(settings.error());
  request.settings = std::move(*settings);
  request.settings.resources = container_resources(definition, spec, config_.cgroups->unified(),
                                                   config_.cgroups->limits_swap());
  auto hostname = network_files(context, spec, network, request.settings);
  if (!hostname) return undo(hostname.error());
  request.id = containerd_id;
  auto resolved = images_.resolve(image);
  if (!resolved) return undo(resolved.error());
  request.image = std::move(*resolved);
  auto& overrides = request.overrides;
  overrides.entrypoint = spec.entry_point;
  overrides.command = spec.command;
  for (const auto& file : spec.environment_files) {
    auto entries = read_environment_file(environment_file_path(file));
    if (!entries) return undo(entries.error());
    for (auto& entry : *entries) overrides.env.push_back(std::move(entry));
  }
  // The definition's environment wins over its files, as in ECS.
  for (const auto& kv : spec.environment) overrides.env.push_back(kv.name + "=" + kv.value);
  overrides.working_dir = spec.working_directory;
  overrides.user = spec.user;
  overrides.hostname = context.network_mode == "host" && !spec.hostname ? "" : *hostname;
  overrides.terminal = spec.pseudo_terminal;
  overrides.readonly_rootfs = spec.readonly_root_filesystem;
  request.labels = spec.docker_labels;
  request.labels[kTaskLabel] = context.task_id;
  request.labels[kContainerLabel] = spec.name;

  events_.watch(containerd_id);
  // A container of the same id is what an interrupted earlier attempt left.
  (void)containers_.remove(containerd_id);
  if (auto created = containers_.create(request); !created) {
    events_.unwatch(containerd_id);
    return undo(created.error());
  }
  auto pid = containers_.start(containerd_id);
  if (!pid) {
    (void)containers_.remove(containerd_id);
    events_.unwatch(containerd_id);
    return undo(pid.error());
  }
  started.pid = *pid;
  return started;
}

void Engine::handle_sandbox_exit(TaskRuntime& task, int exit_code) {
  SandboxRecord& sandbox = *task.record.sandbox;
  // A removal in flight ends it on purpose; a record already STOPPED knows.
  if (task.sandbox_busy || sandbox.known != TaskStatus::kRunning) return;
  sandbox.known = TaskStatus::kStopped;
  sandbox.pid = 0;
  sandbox.reason = "its process exited with " + std::to_string(exit_code);
  spdlog::warn("task '{}': sandbox '{}' {}", task.record.id, sandbox.containerd_id, sandbox.reason);
  checkpoint(task);
}

void Engine::handle_exit(const std::string& containerd_id, int exit_code, bool oom, uint32_t pid) {
  if (auto owner = sandbox_owner_.find(containerd_id); owner != sandbox_owner_.end()) {
    auto it = tasks_.find(owner->second);
    if (it != tasks_.end() && it->second->record.sandbox)
      handle_sandbox_exit(*it->second, exit_code);
    return;
  }
  auto where = by_containerd_id_.find(containerd_id);
  if (where == by_containerd_id_.end()) return;
  auto it = tasks_.find(where->second.first);
  if (it == tasks_.end()) return;
  TaskRuntime& task = *it->second;
  size_t index = where->second.second;
  ContainerRecord& container = task.record.containers[index];
  if (container.known != TaskStatus::kRunning && container.known != TaskStatus::kCreated) return;
  if (container.known == TaskStatus::kCreated && pid != 0) {
    // The start is in flight: keep the exit until its pid is known, since it
    // may be the exit of an earlier instance of the same container id.
    early_exits_[containerd_id] = {pid, exit_code};
    return;
  }
  if (pid != 0 && container.pid != 0 && pid != container.pid) {
    spdlog::debug("container '{}': exit of pid {} is not the running pid {}, ignoring",
                  containerd_id, pid, container.pid);
    return;
  }
  // The kernel's own count of OOM kills in the container's cgroup decides
  // (the runtime removes that cgroup only when the container is deleted):
  // on cgroup v1 a task-level OOM notifies every container of the task, not
  // only the one that lost a process. Without the count, the event decides.
  if (auto stats = config_.cgroups->container_stats(task.record.id, containerd_id); stats) {
    oom = stats->oom_kills > 0;
  } else {
    oom = oom || container.oom_killed;
    spdlog::debug("container '{}': {}; the OOM event decides", containerd_id,
                  stats.error().message());
  }
  container.oom_killed = false;
  bool restart = record_exit(task.record, task.definition, index, exit_code, oom, now_unix_ms());
  emit(task, container.name, "STOPPED",
       "exit code " + std::to_string(exit_code) +
           (container.reason.empty() ? "" : ", " + container.reason));
  if (restart && !task.busy[index]) {
    spdlog::info("task '{}': restarting container '{}' (restart policy)", task.record.id,
                 container.name);
    dispatch(task, Action{Action::Kind::kRestart, index});
  }
  checkpoint(task);
}

void Engine::on_container_event(const runtime::TaskEvent& event) {
  if (!event.exec_id.empty() && event.exec_id != event.container_id) return;
  if (event.kind == runtime::TaskEvent::Kind::kOom) {
    post([this, id = event.container_id] {
      auto where = by_containerd_id_.find(id);
      if (where == by_containerd_id_.end()) return;
      auto it = tasks_.find(where->second.first);
      if (it == tasks_.end()) return;
      it->second->record.containers[where->second.second].oom_killed = true;
    });
    return;
  }
  post([this, id = event.container_id, code = static_cast<int>(event.exit_status),
        pid = event.pid] { handle_exit(id, code, false, pid); });
}

// ---------------------------------------------------------------------------
// Health checks

void Engine::schedule_health(TaskRuntime& task, int64_t now) {
  if (!exec_ || task.record.known == TaskStatus::kStopped) return;
  for (size_t i = 0; i < task.record.containers.size(); ++i) {
    const auto& check = task.definition.containers[i].health_check;
    ContainerRecord& container = task.record.containers[i];
    if (!check || container.known != TaskStatus::kRunning || task.busy[i] || task.health_busy[i] ||
        task.record.desired == TaskStatus::kStopped) {
      continue;
    }
    // The first check runs one interval after the start, as in Docker.
    int64_t& next = task.next_health_ms[i];
    int64_t first = container.started_at_ms + int64_t{check->interval_seconds} * 1000;
    if (next < first && next <= container.started_at_ms) next = first;
    if (now < next) {
      if (wake_at_ms_ == 0 || next < wake_at_ms_) wake_at_ms_ = next;
      continue;
    }
    task.health_busy[i] = true;
    runtime::ExecRequest request;
    if (check->command.front() == "CMD-SHELL") {
      request.args = {"/bin/sh", "-c", check->command.size() > 1 ? check->command[1] : ""};
    } else {
      request.args.assign(check->command.begin() + 1, check->command.end());
    }
    request.timeout = std::chrono::seconds(check->timeout_seconds);
    std::string task_id = task.record.id;
    submit([this, task_id, i, request, cid = container.containerd_id] {
      auto result = exec_->run(cid, request);
      post([this, task_id, i, result] {
        auto it = tasks_.find(task_id);
        if (it == tasks_.end()) return;
        TaskRuntime& t = *it->second;
        t.health_busy[i] = false;
        ContainerRecord& c = t.record.containers[i];
        const auto& hc = *t.definition.containers[i].health_check;
        int64_t at = now_unix_ms();
        t.next_health_ms[i] = at + int64_t{hc.interval_seconds} * 1000;
        if (c.known != TaskStatus::kRunning) return;
        bool passed = result && !result->timed_out && result->exit_code == 0;
        std::string output;
        if (!result) {
          output = result.error().message();
        } else if (result->timed_out) {
          output = "health check timed out after " + std::to_string(hc.timeout_seconds) + "s";
        } else {
          output = result->output;
        }
        Health before = c.health;
        record_health(c, hc, passed, std::move(output), at);
        if (c.health != before) emit(t, c.name, std::string(health_name(c.health)), "");
        checkpoint(t);
      });
    });
  }
}

// ---------------------------------------------------------------------------
// Retention

void Engine::expire_stopped(int64_t now) {
  int64_t retention_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.task_retention).count();
  std::vector<std::string> expired;
  for (const auto& [id, task] : tasks_) {
    if (task->record.known != TaskStatus::kStopped) continue;
    int64_t at = task->record.stopped_at_ms + retention_ms;
    if (now >= at) {
      expired.push_back(id);
    } else if (wake_at_ms_ == 0 || at < wake_at_ms_) {
      wake_at_ms_ = at;
    }
  }
  for (const auto& id : expired) {
    spdlog::info("task '{}': removed after its retention period", id);
    (void)remove_task(id);
  }
}

// ---------------------------------------------------------------------------
// The API, each call run on the owner thread

Result<std::string> Engine::run_task(const std::string& definition_json, const std::string& name,
                                     const TaskSource& source) {
  auto parsed = parse_task_definition(definition_json, config_.policy);
  if (!parsed.definition) {
    return fail(ErrorCode::kInvalidArgument,
                "invalid task definition:\n" + format_problems(parsed.problems));
  }
  return call([&]() -> Result<std::string> {
    if (!name.empty()) {
      for (const auto& [id, task] : tasks_) {
        if (task->record.name == name && task->record.known != TaskStatus::kStopped) {
          return fail(ErrorCode::kAlreadyExists,
                      "a task named '" + name + "' is already running (" + id + ")");
        }
      }
    }
    std::string mode(network_mode_name(effective_network_mode(*parsed.definition, config_.policy)));
    std::optional<EniSpec> eni;
    if (mode == "awsvpc") {
      eni = BERTH_TRY(choose_eni(*parsed.definition));
    } else if (parsed.definition->tags.contains(std::string(kEniTag))) {
      return fail(ErrorCode::kInvalidArgument,
                  "tags." + std::string(kEniTag) + ": an ENI is for awsvpc tasks, not " + mode);
    }
    for (const auto& [other_id, other] : tasks_) {
      const auto& n = other->record.network;
      if (eni && n && !n->removed && n->eni == eni->name) {
        return fail(ErrorCode::kFailedPrecondition, "RESOURCE:ENI: interface '" + eni->name +
                                                        "' is in use by task '" + other_id + "'");
      }
    }
    // Refused before anything is made, not started and then killed.
    BERTH_TRY(admit(task_demand(*parsed.definition), config_.node, used_resources()));
    auto task = std::make_unique<TaskRuntime>();
    std::string id = new_task_id();
    task->record = new_task(id, name, definition_json, *parsed.definition, now_unix_ms(), mode);
    if (eni) task->record.network->eni = eni->name;  // taken from now on
    task->record.manifest = source.manifest;
    task->record.manifest_digest = source.digest;
    task->definition = *parsed.definition;
    size_t n = task->record.containers.size();
    task->busy.assign(n, false);
    task->next_health_ms.assign(n, 0);
    task->health_busy.assign(n, false);
    checkpoint(*task);
    if (task->last_saved.empty()) {
      return fail(ErrorCode::kInternal, "task '" + id + "': cannot write its checkpoint");
    }
    for (size_t i = 0; i < n; ++i) {
      by_containerd_id_[task->record.containers[i].containerd_id] = {id, i};
    }
    if (task->record.sandbox) sandbox_owner_[task->record.sandbox->containerd_id] = id;
    emit(*task, "", "PENDING", "");
    note_images(task->record, +1);
    tasks_[id] = std::move(task);
    return id;
  });
}

Resources Engine::used_resources() const {
  Resources used;
  for (const auto& [id, task] : tasks_) {
    if (task->record.known == TaskStatus::kStopped) continue;
    Resources demand = task_demand(task->definition);
    used.cpu_units += demand.cpu_units;
    used.memory_bytes += demand.memory_bytes;
  }
  return used;
}

NodeView Engine::node() {
  return call([&] {
    NodeView view;
    view.node = config_.node;
    view.used = used_resources();
    for (const auto& [id, task] : tasks_) {
      if (task->record.known != TaskStatus::kStopped) ++view.tasks;
    }
    view.cgroup_layout = config_.cgroup_layout;
    view.cgroup_driver = std::string(config_.cgroups->name());
    return view;
  });
}

Result<std::optional<EniSpec>> Engine::choose_eni(const TaskDefinition& definition) {
  const auto& tags = definition.tags;
  const auto& pool = network_.config().eni_pool;
  auto tag = [&](std::string_view key) -> std::optional<std::string> {
    auto it = tags.find(std::string(key));
    if (it == tags.end()) return std::nullopt;
    return it->second;
  };
  // Interfaces a live task holds (the owner thread's view: run_task and the
  // network's creation both run there).
  auto in_use = [&](const std::string& name) {
    for (const auto& [id, t] : tasks_) {
      const auto& n = t->record.network;
      if (n && !n->removed && n->eni == name) return true;
    }
    return false;
  };
  std::optional<EniSpec> chosen;
  if (auto name = tag(kEniTag)) {
    EniSpec eni;
    eni.name = *name;
    for (const auto& entry : pool) {
      if (entry.name == *name) eni = entry;
    }
    if (auto addresses = tag(kEniAddressesTag)) {
      auto parsed = parse_eni_spec(*name + "=" + *addresses +
                                   (tag(kEniGatewayTag) ? "@" + *tag(kEniGatewayTag) : ""));
      if (!parsed) {
        return fail(ErrorCode::kInvalidArgument,
                    "tags." + std::string(kEniAddressesTag) + ": " + parsed.error().message());
      }
      eni.addresses = parsed->addresses;
      eni.gateway = parsed->gateway;
    } else if (tag(kEniGatewayTag)) {
      return fail(ErrorCode::kInvalidArgument, "tags." + std::string(kEniGatewayTag) +
                                                   ": needs tags." + std::string(kEniAddressesTag) +
                                                   " too");
    }
    if (auto mtu = tag(kEniMtuTag)) {
      char* end = nullptr;
      unsigned long value = std::strtoul(mtu->c_str(), &end, 10);
      if (mtu->empty() || *end != '\0' || value < 68 || value > 65535) {
        return fail(ErrorCode::kInvalidArgument, "tags." + std::string(kEniMtuTag) + ": '" + *mtu +
                                                     "' is not an MTU (68..65535)");
      }
      eni.mtu = static_cast<uint32_t>(value);
    }
    chosen = eni;
  } else if (!pool.empty()) {
    for (const auto& entry : pool) {
      if (!in_use(entry.name)) {
        chosen = entry;
        break;
      }
    }
    if (!chosen) {
      return fail(ErrorCode::kFailedPrecondition,
                  "RESOURCE:ENI: every interface of the node's ENI pool is in use");
    }
  }
  return chosen;
}

TaskView Engine::view(const TaskRuntime& task) {
  TaskView out{task.record, task_health(task.record, task.definition), {}};
  for (const auto& c : task.definition.containers) out.essential.push_back(c.essential);
  return out;
}

Result<TaskView> Engine::describe(const std::string& id_or_name) {
  return call([&]() -> Result<TaskView> {
    TaskRuntime* task = find(id_or_name);
    if (!task) return fail(ErrorCode::kNotFound, "no task '" + id_or_name + "'");
    return view(*task);
  });
}

std::vector<TaskView> Engine::list(bool include_stopped) {
  return call([&] {
    std::vector<TaskView> views;
    for (const auto& [id, task] : tasks_) {
      if (!include_stopped && task->record.known == TaskStatus::kStopped) continue;
      views.push_back(view(*task));
    }
    std::ranges::sort(views, [](const TaskView& a, const TaskView& b) {
      return a.record.created_at_ms < b.record.created_at_ms;
    });
    return views;
  });
}

berth::Status Engine::stop_task(const std::string& id_or_name, const std::string& stop_code,
                                const std::string& reason) {
  return call([&]() -> berth::Status {
    TaskRuntime* task = find(id_or_name);
    if (!task) return fail(ErrorCode::kNotFound, "no task '" + id_or_name + "'");
    request_stop(task->record, stop_code, reason);
    return {};
  });
}

berth::Status Engine::remove_task(const std::string& id_or_name) {
  auto remove = [&]() -> berth::Status {
    TaskRuntime* task = find(id_or_name);
    if (!task) return fail(ErrorCode::kNotFound, "no task '" + id_or_name + "'");
    if (task->record.known != TaskStatus::kStopped) {
      return fail(ErrorCode::kFailedPrecondition, "task '" + task->record.id + "' is " +
                                                      std::string(status_name(task->record.known)) +
                                                      ": stop it first");
    }
    std::string id = task->record.id;
    BERTH_TRY(store_.remove(id));
    std::error_code ec;
    for (const auto& c : task->record.containers) {
      std::filesystem::remove(containers_.log_path(c.containerd_id), ec);
      by_containerd_id_.erase(c.containerd_id);
    }
    if (task->record.sandbox) sandbox_owner_.erase(task->record.sandbox->containerd_id);
    std::filesystem::remove_all(config_.root + "/volumes/" + id, ec);
    std::filesystem::remove_all(config_.state + "/tasks/" + id, ec);
    emit(*task, "", "REMOVED", "");
    note_images(task->record, -1);
    tasks_.erase(id);
    return {};
  };
  // expire_stopped already runs on the owner thread.
  if (owner_.get_id() == std::this_thread::get_id()) return remove();
  return call(remove);
}

int Engine::subscribe(std::function<void(const EngineEvent&)> callback) {
  return call([&] {
    int id = next_subscriber_++;
    subscribers_[id] = std::move(callback);
    return id;
  });
}

void Engine::unsubscribe(int id) {
  call([&] {
    subscribers_.erase(id);
    return 0;
  });
}

}  // namespace berth::agent
