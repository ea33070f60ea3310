// The model's enumerations by name, and the network mode a task runs in.
#include <optional>
#include <string_view>

#include "agent/taskdef/taskdef.h"

namespace berth::agent {

std::string_view network_mode_name(NetworkMode mode) {
  switch (mode) {
    case NetworkMode::kBridge:
      return "bridge";
    case NetworkMode::kAwsvpc:
      return "awsvpc";
    case NetworkMode::kHost:
      return "host";
    case NetworkMode::kNone:
      return "none";
  }
  return "unknown";
}

std::optional<NetworkMode> parse_network_mode(std::string_view name) {
  for (NetworkMode mode :
       {NetworkMode::kBridge, NetworkMode::kAwsvpc, NetworkMode::kHost, NetworkMode::kNone}) {
    if (network_mode_name(mode) == name) return mode;
  }
  return std::nullopt;
}

std::string_view pid_mode_name(PidMode mode) {
  switch (mode) {
    case PidMode::kDefault:
      return "";
    case PidMode::kTask:
      return "task";
    case PidMode::kHost:
      return "host";
  }
  return "unknown";
}

std::string_view ipc_mode_name(IpcMode mode) {
  switch (mode) {
    case IpcMode::kDefault:
      return "";
    case IpcMode::kTask:
      return "task";
    case IpcMode::kHost:
      return "host";
    case IpcMode::kNone:
      return "none";
  }
  return "unknown";
}

std::string_view condition_name(DependencyCondition condition) {
  switch (condition) {
    case DependencyCondition::kStart:
      return "START";
    case DependencyCondition::kComplete:
      return "COMPLETE";
    case DependencyCondition::kSuccess:
      return "SUCCESS";
    case DependencyCondition::kHealthy:
      return "HEALTHY";
  }
  return "UNKNOWN";
}

NetworkMode container_network_mode(const ContainerDefinition& container, NetworkMode task_mode) {
  return container.disable_networking ? NetworkMode::kNone : task_mode;
}

NetworkMode effective_network_mode(const TaskDefinition& definition,
                                   const ValidationPolicy& policy) {
  return definition.network_mode.value_or(policy.default_network_mode);
}

}  // namespace berth::agent
