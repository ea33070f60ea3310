#include "agent/state/record.h"

#include <algorithm>
#include <array>

namespace berth::agent {

namespace {

constexpr std::array<std::string_view, 5> kStatusNames = {"PENDING", "PULLED", "CREATED", "RUNNING",
                                                          "STOPPED"};
constexpr std::array<std::string_view, 3> kHealthNames = {"UNKNOWN", "HEALTHY", "UNHEALTHY"};
constexpr std::array<std::string_view, 4> kPhaseNames = {"PENDING", "CREATING", "READY",
                                                         "RELEASED"};

template <typename Enum, size_t N>
std::optional<Enum> from_name(const std::array<std::string_view, N>& names, std::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == name) return static_cast<Enum>(i);
  }
  return std::nullopt;
}

bool released(const std::optional<Resource>& resource) {
  return !resource || resource->phase == Phase::kReleased;
}

}  // namespace

std::string_view status_name(TaskStatus status) {
  return kStatusNames[static_cast<size_t>(status)];
}
std::optional<TaskStatus> parse_status(std::string_view name) {
  return from_name<TaskStatus>(kStatusNames, name);
}
std::string_view health_name(Health health) { return kHealthNames[static_cast<size_t>(health)]; }
std::optional<Health> parse_health(std::string_view name) {
  return from_name<Health>(kHealthNames, name);
}
std::string_view phase_name(Phase phase) { return kPhaseNames[static_cast<size_t>(phase)]; }
std::optional<Phase> parse_phase(std::string_view name) {
  return from_name<Phase>(kPhaseNames, name);
}

std::string_view resource_kind_name(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kTaskNetwork:
      return "network";
    case ResourceKind::kTaskCgroup:
      return "cgroup";
    case ResourceKind::kSandbox:
      return "sandbox";
    case ResourceKind::kImage:
      return "image";
    case ResourceKind::kContainerNetwork:
      return "container network";
    case ResourceKind::kContainer:
      return "container";
  }
  return "?";
}

bool needs_sandbox(const TaskDefinition& definition) {
  return definition.pid_mode == PidMode::kTask || definition.ipc_mode == IpcMode::kTask;
}

TaskRecord new_task(std::string id, const std::string& name, std::string definition_json,
                    const TaskDefinition& definition, int64_t now_ms, NetworkMode network_mode) {
  TaskRecord task;
  task.id = std::move(id);
  task.name = name.empty() ? definition.family : name;
  task.family = definition.family;
  task.definition_json = std::move(definition_json);
  task.created_at_ms = now_ms;
  task.network_mode = network_mode;
  if (network_mode == NetworkMode::kAwsvpc) task.network_resource.emplace();
  if (needs_sandbox(definition)) {
    task.sandbox.emplace();
    task.sandbox_id = task.id + ".sandbox";
  }
  for (const auto& spec : definition.containers) {
    ContainerRecord container;
    container.name = spec.name;
    container.containerd_id = task.id + "-" + spec.name;
    container.image = spec.image;
    if (container_network_mode(spec, network_mode) == NetworkMode::kBridge) {
      container.network_resource.emplace();
    }
    task.containers.push_back(std::move(container));
  }
  return task;
}

Health task_health(const TaskRecord& task, const TaskDefinition& definition) {
  bool any_checked = false;
  bool all_healthy = true;
  for (size_t i = 0; i < task.containers.size(); ++i) {
    const auto& spec = definition.containers[i];
    if (!spec.essential || !spec.health_check) continue;
    // A container that is not running has no current health.
    if (task.containers[i].status != TaskStatus::kRunning) return Health::kUnknown;
    any_checked = true;
    if (task.containers[i].health == Health::kUnhealthy) return Health::kUnhealthy;
    if (task.containers[i].health != Health::kHealthy) all_healthy = false;
  }
  return any_checked && all_healthy ? Health::kHealthy : Health::kUnknown;
}

bool all_released(const TaskRecord& task) {
  return released(task.network_resource) && task.cgroup.phase == Phase::kReleased &&
         released(task.sandbox) &&
         std::ranges::all_of(task.containers, [](const ContainerRecord& c) {
           return c.image_resource.phase == Phase::kReleased && released(c.network_resource) &&
                  c.runtime.phase == Phase::kReleased;
         });
}

}  // namespace berth::agent
