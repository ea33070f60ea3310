#include "agent/engine/step.h"

namespace berth::agent {

std::string action_name(const Action& action) {
  std::string step;
  switch (action.step) {
    case StepKind::kEnsure:
      step = "ensure";
      break;
    case StepKind::kRelease:
      step = "release";
      break;
    case StepKind::kSignal:
      step = "signal";
      break;
    case StepKind::kKill:
      step = "kill";
      break;
  }
  return step + " " + std::string(resource_kind_name(action.resource.kind));
}

}  // namespace berth::agent
