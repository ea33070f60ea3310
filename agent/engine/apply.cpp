#include "agent/engine/apply.h"

#include <algorithm>

#include "agent/engine/planner.h"

namespace berth::agent {

namespace {

constexpr std::string_view kOomReason = "OutOfMemoryError: Container killed due to memory usage";

class Applier {
 public:
  Applier(TaskRecord& task, const TaskSpec& spec, int64_t now)
      : task_(task), spec_(spec), now_(now) {}

  std::vector<Change> run(const Event& event) {
    TaskStatus known_before = task_.known;
    TaskStatus desired_before = task_.desired;
    std::visit([this](const auto& e) { fold(e); }, event);
    settle();
    if (task_.desired != desired_before) {
      changes_.insert(changes_.begin(),
                      {"", "STOPPING", task_.stop_code + ": " + task_.stopped_reason});
    }
    if (task_.known != known_before) {
      changes_.push_back({"", std::string(status_name(task_.known)),
                          task_.known == TaskStatus::kStopped ? task_.stopped_reason : ""});
    }
    return std::move(changes_);
  }

 private:
  std::optional<Resource>* optional_resource(const ResourceKey& key) {
    switch (key.kind) {
      case ResourceKind::kTaskNetwork:
        return &task_.network_resource;
      case ResourceKind::kSandbox:
        return &task_.sandbox;
      case ResourceKind::kContainerNetwork:
        return &task_.containers[key.index].network_resource;
      default:
        return nullptr;
    }
  }
  Resource* resource(const ResourceKey& key) {
    switch (key.kind) {
      case ResourceKind::kTaskCgroup:
        return &task_.cgroup;
      case ResourceKind::kImage:
        return &task_.containers[key.index].image_resource;
      case ResourceKind::kContainer:
        return &task_.containers[key.index].runtime;
      default: {
        auto* optional = optional_resource(key);
        return optional && *optional ? &**optional : nullptr;
      }
    }
  }

  void request_stop(std::string_view code, std::string_view reason) {
    if (task_.desired == TaskStatus::kStopped) return;
    task_.desired = TaskStatus::kStopped;
    task_.stop_code = std::string(code);
    task_.stopped_reason = std::string(reason);
  }

  void stopped(ContainerRecord& c, std::string detail) {
    c.status = TaskStatus::kStopped;
    c.stopped_at_ms = now_;
    c.pid = 0;
    changes_.push_back({c.name, "STOPPED", std::move(detail)});
  }

  // A container that could not be started: STOPPED with the reason, and an
  // essential one stops the task (ECS: TaskFailedToStart).
  void failed_start(size_t index, const std::string& reason) {
    ContainerRecord& c = task_.containers[index];
    c.reason = reason;
    c.restart_pending = false;
    stopped(c, reason);
    if (spec_.definition.containers[index].essential) request_stop("TaskFailedToStart", reason);
  }

  void fold(const Intent& intent) {
    const Action& action = intent.action;
    if (action.step == StepKind::kSignal) {
      task_.containers[action.resource.index].stop_signalled_at_ms = now_;
      return;
    }
    if (action.step == StepKind::kKill) {
      task_.containers[action.resource.index].killed = true;
      return;
    }
    if (action.step != StepKind::kEnsure) return;
    Resource* r = resource(action.resource);
    if (r == nullptr) return;
    r->phase = Phase::kCreating;
    r->reason.clear();
    if (action.resource.kind != ResourceKind::kContainer) return;
    ContainerRecord& c = task_.containers[action.resource.index];
    if (c.restart_pending) {
      c.restart_pending = false;
      c.restart_count++;
      c.last_restart_at_ms = now_;
    }
    // CREATED until the start's result comes back.
    c.status = TaskStatus::kCreated;
    c.pid = 0;
    c.exit_code.reset();
    c.reason.clear();
    c.oom_killed = false;
    c.stop_signalled_at_ms = 0;
    c.killed = false;
    c.health = Health::kUnknown;
    c.health_failures = 0;
    c.health_output.clear();
  }

  void fold(const StepDone& done) {
    const ResourceKey& key = done.action.resource;
    if (done.action.step == StepKind::kSignal || done.action.step == StepKind::kKill) return;
    Resource* r = resource(key);
    if (r == nullptr) return;
    if (done.action.step == StepKind::kRelease) {
      if (done.error) return;  // still there: the engine tries again
      r->phase = Phase::kReleased;
      released(key, done.took_ms);
      return;
    }
    // A result for a resource the task already gave up (it stopped while
    // an image was being pulled): nothing to record.
    if (r->phase == Phase::kReleased) return;
    if (done.error) {
      // ensure() leaves nothing behind when it fails.
      r->phase = Phase::kReleased;
      r->reason = done.error->message();
      ensure_failed(key, r->reason);
      return;
    }
    r->phase = Phase::kReady;
    made(key, done);
  }

  void released(const ResourceKey& key, int64_t took_ms) {
    switch (key.kind) {
      case ResourceKind::kTaskNetwork:
        task_.network.reset();
        changes_.push_back(
            {"", "NETWORK_REMOVED", "torn down in " + std::to_string(took_ms) + " ms"});
        break;
      case ResourceKind::kSandbox:
        task_.sandbox_pid = 0;
        break;
      case ResourceKind::kContainerNetwork:
        task_.containers[key.index].network.reset();
        break;
      default:
        break;
    }
  }

  void ensure_failed(const ResourceKey& key, const std::string& message) {
    switch (key.kind) {
      case ResourceKind::kTaskNetwork:
        request_stop("TaskFailedToStart", "ResourceInitializationError: " + message);
        break;
      case ResourceKind::kTaskCgroup:
        request_stop("TaskFailedToStart", "ResourceInitializationError: task cgroup: " + message);
        break;
      case ResourceKind::kSandbox:
        request_stop("TaskFailedToStart", "CannotStartSandboxError: " + message);
        break;
      case ResourceKind::kImage:
        failed_start(key.index, "CannotPullContainerError: " + message);
        break;
      case ResourceKind::kContainerNetwork:
        failed_start(key.index, "CannotStartContainerError: network: " + message);
        break;
      case ResourceKind::kContainer:
        failed_start(key.index, "CannotStartContainerError: " + message);
        break;
    }
  }

  void made(const ResourceKey& key, const StepDone& done) {
    switch (key.kind) {
      case ResourceKind::kTaskNetwork: {
        task_.network = done.network;
        const auto& addresses =
            task_.network ? task_.network->addresses : std::vector<std::string>{};
        changes_.push_back({"", "NETWORK",
                            (addresses.empty() ? "no address" : addresses.front()) +
                                ", set up in " + std::to_string(done.took_ms) + " ms"});
        break;
      }
      case ResourceKind::kSandbox:
        task_.sandbox_pid = done.pid;
        break;
      case ResourceKind::kImage: {
        ContainerRecord& c = task_.containers[key.index];
        c.image_digest = done.image_digest;
        if (c.status == TaskStatus::kPending) {
          c.status = TaskStatus::kPulled;
          c.pulled_at_ms = now_;
        }
        break;
      }
      case ResourceKind::kContainerNetwork:
        task_.containers[key.index].network = done.network;
        break;
      case ResourceKind::kContainer: {
        ContainerRecord& c = task_.containers[key.index];
        c.started_at_ms = now_;
        if (c.status == TaskStatus::kCreated) {
          c.status = TaskStatus::kRunning;
          c.pid = done.pid;
          changes_.push_back({c.name, "RUNNING", "pid " + std::to_string(done.pid)});
        }
        break;
      }
      case ResourceKind::kTaskCgroup:
        break;
    }
  }

  void fold(const Exited& exit) {
    ContainerRecord& c = task_.containers[exit.container];
    if (!is_active(c.status)) return;
    if (exit.pid != 0 && c.pid != 0 && exit.pid != c.pid) return;  // an earlier instance's
    c.exit_code = exit.exit_code;
    c.oom_killed = c.oom_killed || exit.oom;
    if (c.oom_killed) c.reason = std::string(kOomReason);
    stopped(c, "exit code " + std::to_string(exit.exit_code) +
                   (c.reason.empty() ? "" : ", " + c.reason));
    c.restart_pending = restarts(exit.container, exit.exit_code);
  }

  // The restart policy (ECS): enabled, the exit code not ignored, the task
  // still wanted, and it ran for restartAttemptPeriod since its start or
  // last restart.
  bool restarts(size_t index, int exit_code) const {
    const ContainerRecord& c = task_.containers[index];
    const auto& policy = spec_.definition.containers[index].restart_policy;
    if (!policy || !policy->enabled || task_.desired != TaskStatus::kRunning) return false;
    if (std::ranges::find(policy->ignored_exit_codes, exit_code) !=
        policy->ignored_exit_codes.end()) {
      return false;
    }
    int64_t since = c.last_restart_at_ms ? c.last_restart_at_ms : c.started_at_ms;
    if (since == 0) return false;  // it exited before its start was even confirmed
    return now_ - since >= int64_t{policy->restart_attempt_period_seconds} * 1000;
  }

  void fold(const SandboxExited& exit) {
    if (!task_.sandbox || task_.sandbox->phase != Phase::kReady) return;
    task_.sandbox_pid = 0;
    task_.sandbox->reason = "its process exited with " + std::to_string(exit.exit_code);
    // Every container lives in its namespaces: the task cannot go on.
    request_stop("EssentialContainerExited", "The task's sandbox exited: " + task_.sandbox->reason);
  }

  void fold(const HealthResult& result) {
    ContainerRecord& c = task_.containers[result.container];
    const auto& check = spec_.definition.containers[result.container].health_check;
    if (c.status != TaskStatus::kRunning || !check) return;
    Health before = c.health;
    record_health(c, *check, result.passed, result.output, now_);
    if (c.health != before) changes_.push_back({c.name, std::string(health_name(c.health)), ""});
  }

  void fold(const StopRequested& stop) { request_stop(stop.code, stop.reason); }

  void fold(const Recovered& found) {
    const ResourceKey& key = found.resource;
    Resource* r = resource(key);
    if (r == nullptr) return;
    switch (found.outcome) {
      case Recovery::kRolledBack:
        r->phase = Phase::kPending;
        if (key.kind == ResourceKind::kContainer) {
          ContainerRecord& c = task_.containers[key.index];
          if (c.status == TaskStatus::kCreated) c.status = TaskStatus::kPulled;
          c.pid = 0;
        }
        if (key.kind == ResourceKind::kTaskNetwork) task_.network.reset();
        if (key.kind == ResourceKind::kContainerNetwork)
          task_.containers[key.index].network.reset();
        if (key.kind == ResourceKind::kSandbox) task_.sandbox_pid = 0;
        break;
      case Recovery::kAdopted:
        r->phase = Phase::kReady;
        if (key.kind == ResourceKind::kSandbox) task_.sandbox_pid = found.pid;
        if (key.kind == ResourceKind::kContainer) {
          ContainerRecord& c = task_.containers[key.index];
          c.pid = found.pid;
          // A stop signal or SIGKILL that was marked may never have been sent
          // (the crash came between its mark and the call): it is sent again,
          // the kill at once (its deadline passed), the signal with a new
          // stopTimeout.
          if (c.killed) {
            c.killed = false;
          } else {
            c.stop_signalled_at_ms = 0;
          }
          if (c.status == TaskStatus::kCreated) {
            // The crash came between Start and the record that says RUNNING:
            // the step is finished, not repeated.
            c.status = TaskStatus::kRunning;
            if (c.started_at_ms == 0) c.started_at_ms = now_;
          }
        }
        break;
      case Recovery::kExited:
        r->phase = Phase::kReady;
        if (key.kind == ResourceKind::kContainer) {
          // It started, and exited, while its start was not yet recorded.
          ContainerRecord& c = task_.containers[key.index];
          if (c.status == TaskStatus::kCreated && c.started_at_ms == 0) c.started_at_ms = now_;
        }
        fold(Exited{key.index, 0, found.exit_code, found.oom});
        break;
      case Recovery::kGone:
        gone(key, *r, found.reason);
        break;
    }
  }

  void gone(const ResourceKey& key, Resource& r, const std::string& reason) {
    r.reason = reason;
    switch (key.kind) {
      case ResourceKind::kContainer: {
        ContainerRecord& c = task_.containers[key.index];
        if (is_active(c.status)) {
          c.reason = reason;
          stopped(c, reason);
        }
        break;  // its container record, if any, is released as usual
      }
      case ResourceKind::kSandbox:
        task_.sandbox_pid = 0;
        request_stop("EssentialContainerExited", "The task's sandbox exited: " + reason);
        break;
      case ResourceKind::kTaskNetwork:
        request_stop("TaskFailedToStart",
                     "ResourceInitializationError: the task's network is gone: " + reason);
        break;
      default:
        r.phase = Phase::kPending;
        break;
    }
  }

  void fold(const Tick&) {}

  // What follows from the record as it now is.
  void settle() {
    if (task_.known == TaskStatus::kStopped) return;
    if (task_.desired == TaskStatus::kRunning) settle_running();
    if (task_.desired == TaskStatus::kStopped) settle_stopping();
    settle_known();
  }

  void settle_running() {
    for (size_t i : spec_.start_order) {
      const ContainerRecord& c = task_.containers[i];
      if (c.status != TaskStatus::kPending && c.status != TaskStatus::kPulled) continue;
      std::string why;
      if (dependencies_met(task_, spec_, i, now_, &why) == Readiness::kFailed) {
        // It never starts; an essential one takes the task along.
        failed_start(i, why);
        if (task_.desired == TaskStatus::kStopped) return;
      }
    }
    // An essential container that stopped for good stops the task.
    for (size_t i = 0; i < task_.containers.size(); ++i) {
      const ContainerRecord& c = task_.containers[i];
      if (spec_.definition.containers[i].essential && c.status == TaskStatus::kStopped &&
          !c.restart_pending) {
        request_stop("EssentialContainerExited", "Essential container in task exited");
        return;
      }
    }
  }

  void settle_stopping() {
    auto never_made = [](std::optional<Resource>& r) {
      if (r && r->phase == Phase::kPending) r->phase = Phase::kReleased;
    };
    never_made(task_.network_resource);
    never_made(task_.sandbox);
    if (task_.cgroup.phase == Phase::kPending) task_.cgroup.phase = Phase::kReleased;
    for (auto& c : task_.containers) {
      c.restart_pending = false;
      if (c.status == TaskStatus::kPending || c.status == TaskStatus::kPulled) {
        if (c.reason.empty()) c.reason = "Task stopped before the container started";
        stopped(c, c.reason);
      }
      // An image has nothing on the host to undo: a pull still under way
      // is left to finish on its own.
      if (c.image_resource.phase == Phase::kPending || c.image_resource.phase == Phase::kCreating) {
        c.image_resource.phase = Phase::kReleased;
      }
      never_made(c.network_resource);
      if (c.runtime.phase == Phase::kPending) c.runtime.phase = Phase::kReleased;
    }
  }

  // The task's known status is the least advanced of its containers' until
  // all have stopped (ECS: RUNNING once the essential ones run).
  void settle_known() {
    if (task_.desired == TaskStatus::kStopped && all_released(task_)) {
      task_.known = TaskStatus::kStopped;
      task_.stopped_at_ms = now_;
      return;
    }
    bool essentials_running = true;
    bool all_pulled = true;
    for (size_t i = 0; i < task_.containers.size(); ++i) {
      const auto& c = task_.containers[i];
      if (spec_.definition.containers[i].essential && c.status != TaskStatus::kRunning) {
        essentials_running = false;
      }
      if (c.status == TaskStatus::kPending) all_pulled = false;
    }
    if (essentials_running) {
      if (task_.known != TaskStatus::kRunning) task_.started_at_ms = now_;
      task_.known = TaskStatus::kRunning;
    } else if (task_.known != TaskStatus::kRunning) {
      task_.known = all_pulled ? TaskStatus::kPulled : TaskStatus::kPending;
    }
  }

  TaskRecord& task_;
  const TaskSpec& spec_;
  int64_t now_;
  std::vector<Change> changes_;
};

}  // namespace

std::vector<Change> apply(TaskRecord& task, const TaskSpec& spec, const Event& event,
                          int64_t now_ms) {
  return Applier(task, spec, now_ms).run(event);
}

void record_health(ContainerRecord& container, const HealthCheck& check, bool passed,
                   std::string output, int64_t now_ms) {
  container.health_output = std::move(output);
  if (passed) {
    container.health = Health::kHealthy;
    container.health_failures = 0;
    return;
  }
  // Failures in the start period do not count (ECS and Docker agree).
  int64_t start_period_end = container.started_at_ms + int64_t{check.start_period_seconds} * 1000;
  if (now_ms < start_period_end && container.health != Health::kHealthy) return;
  ++container.health_failures;
  if (container.health_failures >= check.retries) container.health = Health::kUnhealthy;
}

}  // namespace berth::agent
