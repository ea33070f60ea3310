#include "agent/engine/engine.h"

#include <spdlog/spdlog.h>

#include <random>

#include "agent/engine/apply.h"
#include "agent/state/record_json.h"

namespace berth::agent {

std::string new_task_id() {
  std::random_device random;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string id;
  for (int i = 0; i < 12; ++i) id.push_back("0123456789abcdef"[hex(random)]);
  return id;
}

Engine::Engine(EngineConfig config, EngineParts parts)
    : config_(std::move(config)),
      parts_(std::move(parts)),
      control_("control", config_.control_workers),
      slow_("slow", config_.slow_workers) {}

Engine::~Engine() { stop(); }

// ---------------------------------------------------------------------------
// Threads

void Engine::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(fn));
  }
  cv_.notify_one();
}

void Engine::owner_loop() {
  while (true) {
    std::deque<std::function<void()>> batch;
    {
      std::unique_lock lock(mu_);
      auto ready = [&] { return stopping_ || !queue_.empty(); };
      if (wake_ == std::chrono::steady_clock::time_point::max()) {
        cv_.wait(lock, ready);
      } else if (!cv_.wait_until(lock, wake_, ready)) {
        reconcile_everything_ = true;  // a timer is due: it may be any task's
      }
      if (stopping_) return;
      batch.swap(queue_);
    }
    for (auto& fn : batch) fn();
    reconcile_all();
    flush_checkpoints();
  }
}

Status Engine::start() {
  BERTH_TRY(recover());
  parts_.store->start(
      [this](const WriteOutcome& outcome) { post([this, outcome] { on_written(outcome); }); });
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  control_.start();
  slow_.start();
  owner_ = std::thread([this] { owner_loop(); });
  post([] {});  // a first reconcile
  return {};
}

void Engine::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !owner_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  owner_.join();
  control_.stop();
  slow_.stop();
  // What the owner handed the store is written before berthd goes.
  parts_.store->stop();
}

// ---------------------------------------------------------------------------
// Records, changes and checkpoints

void Engine::changed(TaskRuntime& task, std::vector<Change> changes) {
  ++task.seq;
  task.dirty = true;
  for (auto& change : changes) {
    if (parts_.metrics && change.container.empty() && change.status == "RUNNING") {
      const auto& r = task.record;
      parts_.metrics->observe_task_start(
          network_mode_name(r.network_mode),
          static_cast<double>(r.started_at_ms - r.created_at_ms) / 1000);
    }
    emit(task.record.id, change.container, std::move(change.status), std::move(change.detail));
  }
}

void Engine::emit(const std::string& task_id, const std::string& container, std::string status,
                  std::string detail) {
  EngineEvent event{parts_.clock->wall_ms(), task_id, container, std::move(status),
                    std::move(detail)};
  const std::string suffix = event.detail.empty() ? "" : " (" + event.detail + ")";
  if (container.empty()) {
    auto it = tasks_.find(task_id);
    std::string name = it == tasks_.end() ? "" : " (" + it->second->record.name + ")";
    spdlog::info("task '{}'{}: {}{}", task_id, name, event.status, suffix);
  } else {
    spdlog::info("task '{}': container '{}' {}{}", task_id, container, event.status, suffix);
  }
  for (auto& [id, callback] : subscribers_) callback(event);
}

void Engine::flush_checkpoints() {
  for (auto& [id, task] : tasks_) {
    if (task->seq == task->saved_seq || task->removing) continue;
    parts_.store->save(id, task->seq, to_json(task->record).dump(1));
    task->saved_seq = task->seq;
  }
}

std::future<Status> Engine::when_durable(TaskRuntime& task) {
  std::promise<Status> promise;
  auto future = promise.get_future();
  if (task.durable_seq >= task.seq) {
    promise.set_value({});
  } else {
    task.durable_waiters.emplace(task.seq, std::move(promise));
  }
  return future;
}

void Engine::on_written(const WriteOutcome& outcome) {
  auto it = tasks_.find(outcome.task_id);
  if (it == tasks_.end()) return;
  TaskRuntime& task = *it->second;
  if (!outcome.status) {
    const std::string& message = outcome.status.error().message();
    if (task.write_error != message) {
      spdlog::error("task '{}': {}; its steps wait until the checkpoint is written", task.record.id,
                    message);
    }
    task.write_error = message;
    // Callers waiting on a change that is not durable hear why now; the
    // write is retried all the same.
    for (auto w = task.durable_waiters.begin();
         w != task.durable_waiters.end() && w->first <= outcome.seq;) {
      w->second.set_value(fail(ErrorCode::kUnavailable,
                               "not yet durable: " + message + " (berthd retries the write)"));
      w = task.durable_waiters.erase(w);
    }
    return;
  }
  if (!task.write_error.empty()) {
    spdlog::info("task '{}': its checkpoint is written again", task.record.id);
    task.write_error.clear();
  }
  task.durable_seq = std::max(task.durable_seq, outcome.seq);
  if (task.removing && task.remove_seq != 0 && outcome.seq >= task.remove_seq) {
    task.remove_durable = true;
    finish_removal(task);
    return;
  }
  for (auto w = task.durable_waiters.begin();
       w != task.durable_waiters.end() && w->first <= task.durable_seq;) {
    w->second.set_value({});
    w = task.durable_waiters.erase(w);
  }
  start_ready_steps(task);
}

// ---------------------------------------------------------------------------
// containerd's events

void Engine::on_task_event(const runtime::TaskEvent& event) {
  if (!event.exec_id.empty() && event.exec_id != event.container_id) return;
  const std::string cid = event.container_id;
  // The kernel's own count of OOM kills in the container's cgroup decides,
  // not the event: on cgroup v1 a task-level OOM notifies every container
  // of the task. It is read at the OOM event and again at the exit: with
  // cgroupfs the cgroup stays until the container is deleted, but systemd
  // removes a scope as soon as it is empty. Read here, off the owner thread.
  auto oom_counted = [&] {
    if (!parts_.cgroups) return false;
    auto stats = parts_.cgroups->container_stats(task_id_of(cid), cid);
    return stats && stats->oom_kills > 0;
  };
  if (event.kind == runtime::TaskEvent::Kind::kOom) {
    spdlog::warn("container '{}' was killed for lack of memory", cid);
    if (!oom_counted()) return;
    post([this, cid] {
      size_t index = 0;
      TaskRuntime* task = owner_of(cid, &index);
      uint32_t pid = task ? task->record.containers[index].pid : 0;
      if (pid != 0) oom_killed_[cid] = pid;
    });
    return;
  }
  bool oom = oom_counted();
  post([this, cid, code = static_cast<int>(event.exit_status), pid = event.pid, oom] {
    bool counted = false;
    if (auto it = oom_killed_.find(cid); it != oom_killed_.end()) {
      counted = it->second == pid;
      oom_killed_.erase(it);
    }
    handle_exit(cid, code, pid, oom || counted);
  });
}

void Engine::on_connection(bool connected, const std::string& detail) {
  post([this, connected, detail] {
    auto now = parts_.clock->steady();
    if (!connected) {
      if (!containerd_up_) return;
      containerd_up_ = false;
      containerd_lost_at_ = now;
      spdlog::warn("lost containerd: {}; steps that need it wait for its return", detail);
      return;
    }
    if (containerd_up_) return;
    containerd_up_ = true;
    auto away = std::chrono::duration_cast<std::chrono::milliseconds>(now - containerd_lost_at_);
    spdlog::info("containerd is back after {:.1f} s", away.count() / 1000.0);
    // Steps that waited for it go now.
    for (auto& [id, task] : tasks_) {
      for (auto& [key, retry] : task->retries) retry.at = now;
      task->dirty = true;
    }
  });
}

Engine::TaskRuntime* Engine::owner_of(const std::string& containerd_id, size_t* index) {
  auto where = by_containerd_id_.find(containerd_id);
  if (where == by_containerd_id_.end()) return nullptr;
  auto it = tasks_.find(where->second.first);
  if (it == tasks_.end()) return nullptr;
  *index = where->second.second;
  return it->second.get();
}

void Engine::handle_exit(const std::string& containerd_id, int exit_code, uint32_t pid, bool oom) {
  int64_t now = parts_.clock->wall_ms();
  if (auto owner = sandbox_owner_.find(containerd_id); owner != sandbox_owner_.end()) {
    auto it = tasks_.find(owner->second);
    if (it == tasks_.end()) return;
    TaskRuntime& task = *it->second;
    // A removal in flight ends it on purpose.
    if (task.in_flight.contains({ResourceKind::kSandbox, 0})) return;
    spdlog::warn("task '{}': sandbox '{}' exited with {}", task.record.id, containerd_id,
                 exit_code);
    changed(task, apply(task.record, *task.spec, SandboxExited{exit_code}, now));
    return;
  }
  size_t index = 0;
  TaskRuntime* task = owner_of(containerd_id, &index);
  if (!task) return;
  const ContainerRecord& container = task->record.containers[index];
  if (container.status == TaskStatus::kCreated && pid != 0 &&
      task->in_flight.contains({ResourceKind::kContainer, index})) {
    // The start is in flight: keep the exit until its pid is known, since it
    // may be the exit of an earlier instance of the same container id.
    early_exits_[containerd_id] = {pid, exit_code, oom};
    return;
  }
  if (pid != 0 && container.pid != 0 && pid != container.pid) {
    spdlog::debug("container '{}': exit of pid {} is not the running pid {}, ignoring",
                  containerd_id, pid, container.pid);
    return;
  }
  changed(*task, apply(task->record, *task->spec, Exited{index, pid, exit_code, oom}, now));
  if (task->record.containers[index].restart_pending) {
    spdlog::info("task '{}': restarting container '{}' (restart policy)", task->record.id,
                 container.name);
  }
}

// ---------------------------------------------------------------------------
// Lookups

void Engine::index(TaskRuntime& task) {
  for (size_t i = 0; i < task.record.containers.size(); ++i) {
    by_containerd_id_[task.record.containers[i].containerd_id] = {task.record.id, i};
  }
  if (task.record.sandbox) sandbox_owner_[task.record.sandbox_id] = task.record.id;
}

void Engine::unindex(const TaskRuntime& task) {
  for (const auto& c : task.record.containers) {
    by_containerd_id_.erase(c.containerd_id);
    early_exits_.erase(c.containerd_id);
    oom_killed_.erase(c.containerd_id);
  }
  if (task.record.sandbox) sandbox_owner_.erase(task.record.sandbox_id);
}

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

TaskView Engine::view(const TaskRuntime& task) {
  TaskView out;
  out.record = task.record;
  out.spec = task.spec;
  out.health = task_health(task.record, task.spec->definition);
  for (const auto& c : task.spec->definition.containers) out.essential.push_back(c.essential);
  out.checkpoint_error = task.write_error;
  return out;
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
