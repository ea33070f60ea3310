// The model's enumerations by name, and the network mode a task runs in.
#include <string_view>

#include "agent/taskdef/taskdef.h"

namespace berth::agent {

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

std::string effective_network_mode(const TaskDefinition& definition,
                                   const ValidationPolicy& policy) {
  if (!definition.network_mode.empty()) return definition.network_mode;
  return policy.default_network_mode.empty() ? "bridge" : policy.default_network_mode;
}

}  // namespace berth::agent
