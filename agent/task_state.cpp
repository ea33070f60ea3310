#include "agent/task_state.h"

#include <algorithm>
#include <array>

namespace berth::agent {

namespace {

constexpr int64_t kDefaultStopTimeoutMs = 30'000;

template <typename Enum, size_t N>
Enum enum_from_name(const std::array<std::string_view, N>& names, std::string_view name,
                    Enum fallback) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == name) return static_cast<Enum>(i);
  }
  return fallback;
}

constexpr std::array<std::string_view, 5> kStatusNames = {"PENDING", "PULLED", "CREATED", "RUNNING",
                                                          "STOPPED"};
constexpr std::array<std::string_view, 3> kHealthNames = {"UNKNOWN", "HEALTHY", "UNHEALTHY"};

std::optional<size_t> index_of(const TaskRecord& task, std::string_view name) {
  for (size_t i = 0; i < task.containers.size(); ++i) {
    if (task.containers[i].name == name) return i;
  }
  return std::nullopt;
}

int64_t stop_timeout_ms(const ContainerDefinition& definition) {
  return definition.stop_timeout_seconds ? int64_t{*definition.stop_timeout_seconds} * 1000
                                         : kDefaultStopTimeoutMs;
}

void wake_no_later(Plan& plan, int64_t at_ms) {
  if (plan.wake_at_ms == 0 || at_ms < plan.wake_at_ms) plan.wake_at_ms = at_ms;
}

enum class DependencyState { kMet, kWaiting, kFailed };

// Whether `dependency` of a container is met, still possible, or never can be.
DependencyState dependency_state(const TaskRecord& task, const ContainerDependency& dependency,
                                 std::string* why) {
  auto target_index = index_of(task, dependency.container_name);
  if (!target_index) {
    *why = "no container named \"" + dependency.container_name + "\"";
    return DependencyState::kFailed;
  }
  const ContainerRecord& target = task.containers[*target_index];
  bool started = target.started_at_ms != 0;
  bool stopped = target.known == TaskStatus::kStopped;
  switch (dependency.condition) {
    case DependencyCondition::kStart:
      if (started) return DependencyState::kMet;
      if (stopped) {
        *why = "container \"" + target.name + "\" stopped without starting";
        return DependencyState::kFailed;
      }
      return DependencyState::kWaiting;
    case DependencyCondition::kComplete:
      return stopped ? DependencyState::kMet : DependencyState::kWaiting;
    case DependencyCondition::kSuccess:
      if (!stopped) return DependencyState::kWaiting;
      if (target.exit_code == 0) return DependencyState::kMet;
      *why = "container \"" + target.name + "\" exited with " +
             (target.exit_code ? std::to_string(*target.exit_code) : std::string("no exit code")) +
             ", not 0 (condition SUCCESS)";
      return DependencyState::kFailed;
    case DependencyCondition::kHealthy:
      if (target.health == Health::kHealthy && !stopped) return DependencyState::kMet;
      if (target.health == Health::kUnhealthy) {
        *why = "container \"" + target.name + "\" is UNHEALTHY (condition HEALTHY)";
        return DependencyState::kFailed;
      }
      if (stopped) {
        *why = "container \"" + target.name + "\" stopped before it was HEALTHY";
        return DependencyState::kFailed;
      }
      return DependencyState::kWaiting;
  }
  return DependencyState::kWaiting;
}

bool is_active(TaskStatus status) {
  return status == TaskStatus::kCreated || status == TaskStatus::kRunning;
}

void plan_running(TaskRecord& task, const TaskDefinition& definition, const std::vector<bool>& busy,
                  int64_t now_ms, bool sandbox_busy, bool network_busy, Plan& plan) {
  // The sandbox and every container join the task's network namespace.
  bool network_ready = true;
  if (task.network) {
    NetworkRecord& network = *task.network;
    if (network.known == TaskStatus::kStopped) {
      request_stop(task, "TaskFailedToStart",
                   "ResourceInitializationError: the task's network is gone" +
                       (network.reason.empty() ? std::string() : ": " + network.reason));
      return;
    }
    if (network.known == TaskStatus::kPending && !network_busy) {
      plan.actions.push_back({Action::Kind::kCreateNetwork, kTaskLevel});
    }
    network_ready = network.known == TaskStatus::kRunning && !network_busy;
  }
  bool sandbox_ready = network_ready;
  if (task.sandbox) {
    SandboxRecord& sandbox = *task.sandbox;
    if (sandbox.known == TaskStatus::kStopped) {
      // Every container lives in its namespaces: the task cannot go on.
      request_stop(task, "EssentialContainerExited",
                   "The task's sandbox exited" +
                       (sandbox.reason.empty() ? std::string() : ": " + sandbox.reason));
      return;
    }
    if (sandbox.known == TaskStatus::kPending && !sandbox_busy && network_ready) {
      plan.actions.push_back({Action::Kind::kCreateSandbox, kTaskLevel});
    }
    sandbox_ready = network_ready && sandbox.known == TaskStatus::kRunning && !sandbox_busy;
  }
  for (size_t i : start_order(definition)) {
    ContainerRecord& container = task.containers[i];
    const ContainerDefinition& spec = definition.containers[i];
    if (busy[i]) continue;
    if (container.known == TaskStatus::kPending) {
      plan.actions.push_back({Action::Kind::kPull, i});
      continue;
    }
    if (container.known != TaskStatus::kPulled) continue;
    bool ready = true;
    for (const auto& dependency : spec.depends_on) {
      std::string why;
      switch (dependency_state(task, dependency, &why)) {
        case DependencyState::kMet:
          break;
        case DependencyState::kWaiting:
          ready = false;
          break;
        case DependencyState::kFailed:
          request_stop(task, "TaskFailedToStart",
                       "Dependency of container \"" + container.name + "\" not met: " + why);
          return;
      }
    }
    // A link names the target's address in /etc/hosts: it must have one.
    for (const auto& link : spec.links) {
      std::string target = link.substr(0, link.find(':'));
      for (const auto& other : task.containers) {
        if (other.name != target) continue;
        if (other.known == TaskStatus::kStopped) {
          request_stop(task, "TaskFailedToStart",
                       "Container \"" + container.name + "\" links to \"" + target +
                           "\", which is not running");
          return;
        }
        if (other.known != TaskStatus::kRunning) ready = false;
      }
    }
    if (ready && sandbox_ready) {
      plan.actions.push_back({Action::Kind::kStart, i});
      continue;
    }
    if (spec.start_timeout_seconds) {
      int64_t deadline = container.pulled_at_ms + int64_t{*spec.start_timeout_seconds} * 1000;
      if (now_ms >= deadline) {
        request_stop(task, "TaskFailedToStart",
                     "Container \"" + container.name + "\" did not have its dependencies met " +
                         "within its startTimeout of " +
                         std::to_string(*spec.start_timeout_seconds) + "s");
        return;
      }
      wake_no_later(plan, deadline);
    }
  }
  // An essential container that stopped for good stops the task.
  for (size_t i = 0; i < task.containers.size(); ++i) {
    const ContainerRecord& container = task.containers[i];
    if (definition.containers[i].essential && container.known == TaskStatus::kStopped && !busy[i]) {
      request_stop(task, "EssentialContainerExited", "Essential container in task exited");
      return;
    }
  }
}

void plan_stopping(TaskRecord& task, const TaskDefinition& definition,
                   const std::vector<bool>& busy, int64_t now_ms, bool sandbox_busy,
                   bool network_busy, bool cgroup_busy, Plan& plan) {
  for (size_t i = 0; i < task.containers.size(); ++i) {
    ContainerRecord& container = task.containers[i];
    const ContainerDefinition& spec = definition.containers[i];
    if (busy[i]) continue;
    if (container.known == TaskStatus::kPending || container.known == TaskStatus::kPulled) {
      container.known = TaskStatus::kStopped;
      container.stopped_at_ms = now_ms;
      if (container.reason.empty()) container.reason = "Task stopped before the container started";
      container.removed = true;
      continue;
    }
    if (is_active(container.known)) {
      // Dependents stop first, as ECS does: a sidecar that depends on its
      // server outlives no one, the server outlives its clients.
      bool dependent_active = false;
      for (size_t j = 0; j < task.containers.size(); ++j) {
        for (const auto& dependency : definition.containers[j].depends_on) {
          if (dependency.container_name == container.name &&
              (is_active(task.containers[j].known) || busy[j])) {
            dependent_active = true;
          }
        }
      }
      if (dependent_active) continue;
      if (container.stop_signalled_at_ms == 0) {
        container.stop_signalled_at_ms = now_ms;
        plan.actions.push_back({Action::Kind::kSignal, i});
        wake_no_later(plan, now_ms + stop_timeout_ms(spec));
      } else if (!container.killed) {
        int64_t deadline = container.stop_signalled_at_ms + stop_timeout_ms(spec);
        if (now_ms >= deadline) {
          container.killed = true;
          plan.actions.push_back({Action::Kind::kKill, i});
        } else {
          wake_no_later(plan, deadline);
        }
      }
      continue;
    }
    if (container.known == TaskStatus::kStopped && !container.removed) {
      plan.actions.push_back({Action::Kind::kRemove, i});
    }
  }
  // The sandbox goes after the containers (they live in its namespaces),
  // the network last (the sandbox is in it).
  bool containers_gone = std::ranges::all_of(task.containers,
                                             [](const ContainerRecord& c) {
                                               return c.known == TaskStatus::kStopped && c.removed;
                                             }) &&
                         std::ranges::none_of(busy, [](bool b) { return b; });
  if (!containers_gone || sandbox_busy) return;
  if (task.sandbox) {
    SandboxRecord& sandbox = *task.sandbox;
    if (sandbox.known == TaskStatus::kPending) {
      sandbox.known = TaskStatus::kStopped;  // never made
      sandbox.removed = true;
    } else if (!sandbox.removed) {
      plan.actions.push_back({Action::Kind::kRemoveSandbox, kTaskLevel});
      return;
    }
  }
  if (task.network) {
    if (network_busy) return;
    NetworkRecord& network = *task.network;
    if (network.known == TaskStatus::kPending && !network.creating) {
      network.known = TaskStatus::kStopped;  // never made
      network.removed = true;
    } else if (!network.removed) {
      plan.actions.push_back({Action::Kind::kRemoveNetwork, kTaskLevel});
      return;
    }
  }
  if (!task.cgroup_removed && !cgroup_busy) {
    plan.actions.push_back({Action::Kind::kRemoveCgroup, kTaskLevel});
  }
}

}  // namespace

std::string_view status_name(TaskStatus status) {
  return kStatusNames[static_cast<size_t>(status)];
}
std::string_view health_name(Health health) { return kHealthNames[static_cast<size_t>(health)]; }

std::string_view action_name(Action::Kind kind) {
  switch (kind) {
    case Action::Kind::kPull:
      return "pull";
    case Action::Kind::kStart:
      return "start";
    case Action::Kind::kRestart:
      return "restart";
    case Action::Kind::kSignal:
      return "signal";
    case Action::Kind::kKill:
      return "kill";
    case Action::Kind::kRemove:
      return "remove";
    case Action::Kind::kCreateSandbox:
      return "create sandbox";
    case Action::Kind::kRemoveSandbox:
      return "remove sandbox";
    case Action::Kind::kCreateNetwork:
      return "create network";
    case Action::Kind::kRemoveNetwork:
      return "remove network";
    case Action::Kind::kRemoveCgroup:
      return "remove cgroup";
  }
  return "?";
}

void request_stop(TaskRecord& task, std::string_view code, std::string_view reason) {
  if (task.desired == TaskStatus::kStopped) return;
  task.desired = TaskStatus::kStopped;
  task.stop_code = std::string(code);
  task.stopped_reason = std::string(reason);
}

bool needs_sandbox(const TaskDefinition& definition) {
  return definition.pid_mode == PidMode::kTask || definition.ipc_mode == IpcMode::kTask;
}

Plan plan_task(TaskRecord& task, const TaskDefinition& definition, const std::vector<bool>& busy,
               int64_t now_ms, bool sandbox_busy, bool network_busy, bool cgroup_busy) {
  Plan plan;
  if (task.known == TaskStatus::kStopped) return plan;
  if (task.desired == TaskStatus::kRunning) {
    plan_running(task, definition, busy, now_ms, sandbox_busy, network_busy, plan);
  }
  // plan_running may have decided to stop the task.
  if (task.desired == TaskStatus::kStopped) {
    plan.actions.clear();
    plan.wake_at_ms = 0;
    plan_stopping(task, definition, busy, now_ms, sandbox_busy, network_busy, cgroup_busy, plan);
  }

  // The task's known status is the least advanced of its containers' until
  // all have stopped (ECS: RUNNING once the essential ones run).
  bool all_done =
      std::ranges::all_of(
          task.containers,
          [](const ContainerRecord& c) { return c.known == TaskStatus::kStopped && c.removed; }) &&
      (!task.sandbox || (task.sandbox->known == TaskStatus::kStopped && task.sandbox->removed)) &&
      (!task.network || (task.network->known == TaskStatus::kStopped && task.network->removed)) &&
      task.cgroup_removed;
  bool any_busy = sandbox_busy || network_busy || cgroup_busy ||
                  std::ranges::any_of(busy, [](bool b) { return b; });
  if (all_done && !any_busy && task.desired == TaskStatus::kStopped) {
    task.known = TaskStatus::kStopped;
    task.stopped_at_ms = now_ms;
  } else if (task.known != TaskStatus::kStopped) {
    bool essentials_running = true;
    bool all_pulled = true;
    for (size_t i = 0; i < task.containers.size(); ++i) {
      const auto& container = task.containers[i];
      if (definition.containers[i].essential && container.known != TaskStatus::kRunning) {
        essentials_running = false;
      }
      if (container.known == TaskStatus::kPending) all_pulled = false;
    }
    if (essentials_running) {
      if (task.known != TaskStatus::kRunning) task.started_at_ms = now_ms;
      task.known = TaskStatus::kRunning;
    } else if (task.known != TaskStatus::kRunning) {
      task.known = all_pulled ? TaskStatus::kPulled : TaskStatus::kPending;
    }
  }
  return plan;
}

bool record_exit(TaskRecord& task, const TaskDefinition& definition, size_t index, int exit_code,
                 bool oom, int64_t now_ms) {
  ContainerRecord& container = task.containers[index];
  const ContainerDefinition& spec = definition.containers[index];
  container.known = TaskStatus::kStopped;
  container.exit_code = exit_code;
  container.stopped_at_ms = now_ms;
  container.pid = 0;
  container.oom_killed = container.oom_killed || oom;
  if (container.oom_killed)
    container.reason = "OutOfMemoryError: Container killed due to memory usage";

  if (!spec.restart_policy || !spec.restart_policy->enabled) return false;
  if (task.desired != TaskStatus::kRunning) return false;
  const auto& ignored = spec.restart_policy->ignored_exit_codes;
  if (std::ranges::find(ignored, exit_code) != ignored.end()) return false;
  int64_t since =
      container.last_restart_at_ms ? container.last_restart_at_ms : container.started_at_ms;
  if (since == 0) return false;  // it exited before its start was even confirmed
  int64_t period_ms = int64_t{spec.restart_policy->restart_attempt_period_seconds} * 1000;
  return now_ms - since >= period_ms;
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

Health task_health(const TaskRecord& task, const TaskDefinition& definition) {
  bool any_checked = false;
  bool all_healthy = true;
  for (size_t i = 0; i < task.containers.size(); ++i) {
    const auto& spec = definition.containers[i];
    if (!spec.essential || !spec.health_check) continue;
    // A container that is not running has no current health.
    if (task.containers[i].known != TaskStatus::kRunning) return Health::kUnknown;
    any_checked = true;
    if (task.containers[i].health == Health::kUnhealthy) return Health::kUnhealthy;
    if (task.containers[i].health != Health::kHealthy) all_healthy = false;
  }
  return any_checked && all_healthy ? Health::kHealthy : Health::kUnknown;
}

TaskRecord new_task(std::string id, const std::string& name, std::string definition_json,
                    const TaskDefinition& definition, int64_t now_ms,
                    const std::string& network_mode) {
  TaskRecord task;
  task.id = std::move(id);
  task.name = name.empty() ? definition.family : name;
  task.family = definition.family;
  task.definition_json = std::move(definition_json);
  task.created_at_ms = now_ms;
  for (const auto& spec : definition.containers) {
    ContainerRecord container;
    container.name = spec.name;
    container.containerd_id = task.id + "-" + spec.name;
    container.image = spec.image;
    task.containers.push_back(std::move(container));
  }
  if (needs_sandbox(definition)) {
    task.sandbox.emplace();
    task.sandbox->containerd_id = task.id + ".sandbox";
  }
  task.network_mode = network_mode;
  if (network_mode == "awsvpc") task.network.emplace();
  return task;
}

nlohmann::json network_to_json(const NetworkRecord& network) {
  nlohmann::json ports = nlohmann::json::array();
  for (const auto& p : network.ports) {
    ports.push_back(
        {{"containerPort", p.container_port}, {"hostPort", p.host_port}, {"protocol", p.protocol}});
  }
  return {
      {"known", status_name(network.known)}, {"creating", network.creating},
      {"removed", network.removed},          {"netns", network.netns},
      {"interface", network.interface},      {"addresses", network.addresses},
      {"gateway", network.gateway},          {"eni", network.eni},
      {"ports", std::move(ports)},           {"reason", network.reason},
  };
}

// Throws nlohmann::json::exception on a malformed record (task_from_json
// turns it into an error).
NetworkRecord network_from_json(const nlohmann::json& j) {
  NetworkRecord network;
  network.known =
      enum_from_name(kStatusNames, j.at("known").get<std::string>(), TaskStatus::kPending);
  network.creating = j.value("creating", false);
  network.removed = j.value("removed", false);
  network.netns = j.value("netns", "");
  network.interface = j.value("interface", "");
  network.addresses = j.value("addresses", std::vector<std::string>{});
  network.gateway = j.value("gateway", "");
  network.eni = j.value("eni", "");
  for (const auto& p : j.value("ports", nlohmann::json::array())) {
    network.ports.push_back({p.at("containerPort").get<uint32_t>(),
                             p.at("hostPort").get<uint32_t>(), p.value("protocol", "tcp")});
  }
  network.reason = j.value("reason", "");
  return network;
}

nlohmann::json to_json(const TaskRecord& task) {
  nlohmann::json containers = nlohmann::json::array();
  for (const auto& c : task.containers) {
    nlohmann::json j = {
        {"name", c.name},
        {"containerdId", c.containerd_id},
        {"image", c.image},
        {"imageDigest", c.image_digest},
        {"known", status_name(c.known)},
        {"pid", c.pid},
        {"reason", c.reason},
        {"pulledAt", c.pulled_at_ms},
        {"startedAt", c.started_at_ms},
        {"stoppedAt", c.stopped_at_ms},
        {"stopSignalledAt", c.stop_signalled_at_ms},
        {"killed", c.killed},
        {"removed", c.removed},
        {"creating", c.creating},
        {"oomKilled", c.oom_killed},
        {"restartCount", c.restart_count},
        {"lastRestartAt", c.last_restart_at_ms},
        {"health", health_name(c.health)},
        {"healthOutput", c.health_output},
        {"healthFailures", c.health_failures},
    };
    if (c.exit_code) j["exitCode"] = *c.exit_code;
    if (c.network) j["network"] = network_to_json(*c.network);
    containers.push_back(std::move(j));
  }
  nlohmann::json out = {
      {"id", task.id},
      {"name", task.name},
      {"family", task.family},
      {"definition", task.definition_json},
      {"desired", status_name(task.desired)},
      {"known", status_name(task.known)},
      {"stopCode", task.stop_code},
      {"stoppedReason", task.stopped_reason},
      {"createdAt", task.created_at_ms},
      {"startedAt", task.started_at_ms},
      {"stoppedAt", task.stopped_at_ms},
      {"containers", std::move(containers)},
  };
  if (!task.manifest.empty()) {
    out["manifest"] = task.manifest;
    out["manifestDigest"] = task.manifest_digest;
  }
  if (task.sandbox) {
    const SandboxRecord& sandbox = *task.sandbox;
    out["sandbox"] = {
        {"containerdId", sandbox.containerd_id},
        {"known", status_name(sandbox.known)},
        {"pid", sandbox.pid},
        {"creating", sandbox.creating},
        {"removed", sandbox.removed},
        {"reason", sandbox.reason},
    };
  }
  out["networkMode"] = task.network_mode;
  if (task.network) out["network"] = network_to_json(*task.network);
  out["cgroupRemoved"] = task.cgroup_removed;
  return out;
}

Result<TaskRecord> task_from_json(const nlohmann::json& json) {
  try {
    TaskRecord task;
    task.id = json.at("id").get<std::string>();
    task.name = json.at("name").get<std::string>();
    task.family = json.at("family").get<std::string>();
    task.definition_json = json.at("definition").get<std::string>();
    task.desired =
        enum_from_name(kStatusNames, json.at("desired").get<std::string>(), TaskStatus::kStopped);
    task.known =
        enum_from_name(kStatusNames, json.at("known").get<std::string>(), TaskStatus::kPending);
    task.stop_code = json.value("stopCode", "");
    task.stopped_reason = json.value("stoppedReason", "");
    task.created_at_ms = json.value("createdAt", int64_t{0});
    task.started_at_ms = json.value("startedAt", int64_t{0});
    task.stopped_at_ms = json.value("stoppedAt", int64_t{0});
    task.manifest = json.value("manifest", "");
    task.manifest_digest = json.value("manifestDigest", "");
    for (const auto& j : json.at("containers")) {
      ContainerRecord c;
      c.name = j.at("name").get<std::string>();
      c.containerd_id = j.at("containerdId").get<std::string>();
      c.image = j.value("image", "");
      c.image_digest = j.value("imageDigest", "");
      c.known =
          enum_from_name(kStatusNames, j.at("known").get<std::string>(), TaskStatus::kPending);
      c.pid = j.value("pid", 0U);
      if (j.contains("exitCode")) c.exit_code = j.at("exitCode").get<int>();
      c.reason = j.value("reason", "");
      c.pulled_at_ms = j.value("pulledAt", int64_t{0});
      c.started_at_ms = j.value("startedAt", int64_t{0});
      c.stopped_at_ms = j.value("stoppedAt", int64_t{0});
      c.stop_signalled_at_ms = j.value("stopSignalledAt", int64_t{0});
      c.killed = j.value("killed", false);
      c.removed = j.value("removed", false);
      c.creating = j.value("creating", false);
      c.oom_killed = j.value("oomKilled", false);
      c.restart_count = j.value("restartCount", 0U);
      c.last_restart_at_ms = j.value("lastRestartAt", int64_t{0});
      c.health = enum_from_name(kHealthNames, j.value("health", "UNKNOWN"), Health::kUnknown);
      c.health_output = j.value("healthOutput", "");
      c.health_failures = j.value("healthFailures", 0U);
      if (j.contains("network")) c.network = network_from_json(j.at("network"));
      task.containers.push_back(std::move(c));
    }
    if (json.contains("sandbox")) {
      const auto& j = json.at("sandbox");
      SandboxRecord sandbox;
      sandbox.containerd_id = j.at("containerdId").get<std::string>();
      sandbox.known =
          enum_from_name(kStatusNames, j.at("known").get<std::string>(), TaskStatus::kPending);
      sandbox.pid = j.value("pid", 0U);
      sandbox.creating = j.value("creating", false);
      sandbox.removed = j.value("removed", false);
      sandbox.reason = j.value("reason", "");
      task.sandbox = std::move(sandbox);
    }
    task.network_mode = json.value("networkMode", "bridge");
    if (json.contains("network")) task.network = network_from_json(json.at("network"));
    task.cgroup_removed = json.value("cgroupRemoved", false);
    return task;
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::kDataLoss, std::string("task record: ") + e.what());
  }
}

}  // namespace berth::agent
