#include "agent/engine/planner.h"

#include <algorithm>

namespace berth::agent {

namespace {

constexpr int64_t kDefaultStopTimeoutMs = 30'000;

// Absent, or made.
bool ready(const std::optional<Resource>& resource) {
  return !resource || resource->phase == Phase::kReady;
}

// Absent, or gone.
bool released(const std::optional<Resource>& resource) {
  return !resource || resource->phase == Phase::kReleased;
}

bool to_make(Phase phase) { return phase == Phase::kPending || phase == Phase::kCreating; }
bool to_release(Phase phase) { return phase == Phase::kReady || phase == Phase::kCreating; }

class Planner {
 public:
  Planner(const TaskRecord& task, const TaskSpec& spec, const InFlight& in_flight, int64_t now)
      : task_(task), spec_(spec), in_flight_(in_flight), now_(now) {}

  Plan run() {
    if (task_.known == TaskStatus::kStopped) return {};
    if (task_.desired == TaskStatus::kRunning) {
      running();
    } else {
      stopping();
    }
    return std::move(plan_);
  }

 private:
  bool busy(ResourceKind kind, size_t index = 0) const {
    return in_flight_.contains({kind, index});
  }
  void add(StepKind step, ResourceKind kind, size_t index = 0) {
    plan_.actions.push_back({step, {kind, index}});
  }
  void wake_no_later(int64_t at) {
    if (plan_.wake_at_ms == 0 || at < plan_.wake_at_ms) plan_.wake_at_ms = at;
  }

  void running() {
    using enum ResourceKind;
    if (task_.network_resource && to_make(task_.network_resource->phase) && !busy(kTaskNetwork)) {
      add(StepKind::kEnsure, kTaskNetwork);
    }
    if (to_make(task_.cgroup.phase) && !busy(kTaskCgroup)) add(StepKind::kEnsure, kTaskCgroup);
    bool task_ready = ready(task_.network_resource) && task_.cgroup.phase == Phase::kReady;
    if (task_.sandbox && to_make(task_.sandbox->phase) && !busy(kSandbox) && task_ready) {
      add(StepKind::kEnsure, kSandbox);
    }
    task_ready = task_ready && ready(task_.sandbox);
    for (size_t i : spec_.start_order) container_running(i, task_ready);
  }

  void container_running(size_t i, bool task_ready) {
    using enum ResourceKind;
    const ContainerRecord& c = task_.containers[i];
    if (c.status == TaskStatus::kPending && to_make(c.image_resource.phase) && !busy(kImage, i)) {
      add(StepKind::kEnsure, kImage, i);
    }
    if (c.status == TaskStatus::kStopped) {
      // The restart policy restarts it in place: the exited container goes,
      // a new one is made; its network and image stay.
      if (!c.restart_pending || busy(kContainer, i)) return;
      if (c.runtime.phase == Phase::kReady) {
        add(StepKind::kRelease, kContainer, i);
      } else {
        add(StepKind::kEnsure, kContainer, i);
      }
      return;
    }
    if (c.status != TaskStatus::kPending && c.status != TaskStatus::kPulled) return;
    std::string why;
    int64_t gives_up_at = 0;
    Readiness readiness = dependencies_met(task_, spec_, i, now_, &why, &gives_up_at);
    if (readiness != Readiness::kMet) {
      if (gives_up_at != 0) wake_no_later(gives_up_at);
      return;
    }
    // Its own network (bridge) is made while its image is pulled.
    if (c.network_resource && to_make(c.network_resource->phase) && !busy(kContainerNetwork, i)) {
      add(StepKind::kEnsure, kContainerNetwork, i);
    }
    if (c.status == TaskStatus::kPulled && task_ready && ready(c.network_resource) &&
        c.runtime.phase != Phase::kReady && !busy(kContainer, i)) {
      add(StepKind::kEnsure, kContainer, i);
    }
  }

  void stopping() {
    using enum ResourceKind;
    bool containers_gone = true;
    for (size_t i = 0; i < task_.containers.size(); ++i) {
      container_stopping(i);
      const ContainerRecord& c = task_.containers[i];
      if (c.runtime.phase != Phase::kReleased || !released(c.network_resource)) {
        containers_gone = false;
      }
    }
    if (!containers_gone) return;
    if (task_.sandbox && to_release(task_.sandbox->phase)) {
      if (!busy(kSandbox)) add(StepKind::kRelease, kSandbox);
      return;
    }
    if (to_release(task_.cgroup.phase)) {
      if (!busy(kTaskCgroup)) add(StepKind::kRelease, kTaskCgroup);
      return;
    }
    if (task_.network_resource && to_release(task_.network_resource->phase) &&
        !busy(kTaskNetwork)) {
      add(StepKind::kRelease, kTaskNetwork);
    }
  }

  void container_stopping(size_t i) {
    using enum ResourceKind;
    const ContainerRecord& c = task_.containers[i];
    const ContainerDefinition& definition = spec_.definition.containers[i];
    if (is_active(c.status)) {
      if (busy(kContainer, i)) return;  // its start (or a signal) is under way
      // Dependents stop first, as ECS does: a sidecar that depends on its
      // server outlives no one, the server outlives its clients.
      for (size_t j : spec_.dependents[i]) {
        if (is_active(task_.containers[j].status) || busy(kContainer, j)) return;
      }
      if (c.stop_signalled_at_ms == 0 && essential_waits(i)) return;
      if (c.stop_signalled_at_ms == 0) {
        add(StepKind::kSignal, kContainer, i);
      } else if (!c.killed) {
        int64_t deadline = c.stop_signalled_at_ms + stop_timeout_ms(definition);
        if (now_ >= deadline) {
          add(StepKind::kKill, kContainer, i);
        } else {
          wake_no_later(deadline);
        }
      }
      return;
    }
    if (c.status != TaskStatus::kStopped) return;
    if (to_release(c.runtime.phase)) {
      if (!busy(kContainer, i)) add(StepKind::kRelease, kContainer, i);
      return;
    }
    if (c.network_resource && to_release(c.network_resource->phase) &&
        !busy(kContainerNetwork, i)) {
      add(StepKind::kRelease, kContainerNetwork, i);
    }
    if (c.image_resource.phase == Phase::kReady && !busy(kImage, i)) {
      add(StepKind::kRelease, kImage, i);
    }
  }

  // A node shutdown stops a task's essential containers last (as the
  // kubelet stops critical pods last): one waits for each non-essential
  // container that still runs, unless that one waits for dependents of its
  // own (which would be waiting in a circle), and for at most half that
  // one's stopTimeout after its signal, so that a container that ignores
  // its signal does not take the grace period of the essential ones.
  bool essential_waits(size_t i) {
    using enum ResourceKind;
    const auto& definitions = spec_.definition.containers;
    if (task_.stop_code != kNodeShutdownStopCode || !definitions[i].essential) return false;
    auto going = [&](size_t j) {
      return is_active(task_.containers[j].status) || busy(kContainer, j);
    };
    for (size_t j = 0; j < definitions.size(); ++j) {
      if (j == i || definitions[j].essential || !going(j)) continue;
      bool held = false;
      for (size_t k : spec_.dependents[j]) held = held || going(k);
      if (held) continue;
      const ContainerRecord& other = task_.containers[j];
      if (other.stop_signalled_at_ms == 0) return true;
      int64_t until = other.stop_signalled_at_ms + stop_timeout_ms(definitions[j]) / 2;
      if (now_ < until) {
        wake_no_later(until);
        return true;
      }
    }
    return false;
  }

  const TaskRecord& task_;
  const TaskSpec& spec_;
  const InFlight& in_flight_;
  int64_t now_;
  Plan plan_;
};

}  // namespace

bool is_active(TaskStatus status) {
  return status == TaskStatus::kCreated || status == TaskStatus::kRunning;
}

int64_t stop_timeout_ms(const ContainerDefinition& definition) {
  return definition.stop_timeout_seconds ? int64_t{*definition.stop_timeout_seconds} * 1000
                                         : kDefaultStopTimeoutMs;
}

Readiness dependencies_met(const TaskRecord& task, const TaskSpec& spec, size_t index,
                           int64_t now_ms, std::string* why, int64_t* gives_up_at_ms) {
  Readiness readiness = Readiness::kMet;
  if (gives_up_at_ms) *gives_up_at_ms = 0;
  const std::string self = "container \"" + task.containers[index].name + "\"";
  for (const auto& dependency : spec.depends_on[index]) {
    const ContainerRecord& target = task.containers[dependency.target];
    bool started = target.started_at_ms != 0;
    bool stopped = target.status == TaskStatus::kStopped;
    const std::string name =
        "Dependency of " + self + " not met: container \"" + target.name + "\"";
    bool waiting = false;
    switch (dependency.condition) {
      case DependencyCondition::kStart:
        if (started) break;
        if (stopped) {
          *why = name + " stopped without starting";
          return Readiness::kFailed;
        }
        waiting = true;
        break;
      case DependencyCondition::kComplete:
        waiting = !stopped;
        break;
      case DependencyCondition::kSuccess:
        if (!stopped) {
          waiting = true;
        } else if (target.exit_code != 0) {
          *why =
              name + " exited with " +
              (target.exit_code ? std::to_string(*target.exit_code) : std::string("no exit code")) +
              ", not 0 (condition SUCCESS)";
          return Readiness::kFailed;
        }
        break;
      case DependencyCondition::kHealthy:
        if (target.health == Health::kHealthy && !stopped) break;
        if (target.health == Health::kUnhealthy) {
          *why = name + " is UNHEALTHY (condition HEALTHY)";
          return Readiness::kFailed;
        }
        if (stopped) {
          *why = name + " stopped before it was HEALTHY";
          return Readiness::kFailed;
        }
        waiting = true;
        break;
    }
    if (!waiting) continue;
    readiness = Readiness::kWaiting;
    // The target's startTimeout, counted from its start, bounds the wait
    // for COMPLETE, SUCCESS and HEALTHY (not START).
    const auto& timeout = spec.definition.containers[dependency.target].start_timeout_seconds;
    if (!timeout || !started || dependency.condition == DependencyCondition::kStart) continue;
    int64_t deadline = target.started_at_ms + int64_t{*timeout} * 1000;
    if (now_ms >= deadline) {
      *why = name + " did not reach " + std::string(condition_name(dependency.condition)) +
             " within its startTimeout of " + std::to_string(*timeout) + "s";
      return Readiness::kFailed;
    }
    if (gives_up_at_ms && (*gives_up_at_ms == 0 || deadline < *gives_up_at_ms)) {
      *gives_up_at_ms = deadline;
    }
  }
  // A link names the target's address in /etc/hosts: it must have one.
  for (size_t target : spec.links[index]) {
    const ContainerRecord& other = task.containers[target];
    if (other.status == TaskStatus::kStopped) {
      *why = "Container \"" + task.containers[index].name + "\" links to \"" + other.name +
             "\", which is not running";
      return Readiness::kFailed;
    }
    if (other.status != TaskStatus::kRunning) readiness = Readiness::kWaiting;
  }
  return readiness;
}

Plan plan(const TaskRecord& task, const TaskSpec& spec, const InFlight& in_flight, int64_t now_ms) {
  return Planner(task, spec, in_flight, now_ms).run();
}

}  // namespace berth::agent
