#include "agent/exec/policy.h"

namespace berth::agent {

std::optional<ExecPolicy> parse_exec_policy(std::string_view name) {
  for (ExecPolicy policy : {ExecPolicy::kAllow, ExecPolicy::kOptIn, ExecPolicy::kDeny}) {
    if (exec_policy_name(policy) == name) return policy;
  }
  return std::nullopt;
}

std::string_view exec_policy_name(ExecPolicy policy) {
  switch (policy) {
    case ExecPolicy::kAllow:
      return "allow";
    case ExecPolicy::kOptIn:
      return "opt-in";
    case ExecPolicy::kDeny:
      return "deny";
  }
  return "?";
}

Status check_exec_policy(ExecPolicy policy, bool task_opted_in, const std::string& task_id) {
  if (policy == ExecPolicy::kDeny) {
    return fail(ErrorCode::kPermissionDenied,
                "task '" + task_id + "': the node's exec_policy is deny: no exec or debug session");
  }
  if (policy == ExecPolicy::kOptIn && !task_opted_in) {
    return fail(ErrorCode::kPermissionDenied,
                "task '" + task_id +
                    "': the node's exec_policy is opt-in and the task's definition does not set "
                    "enableExecuteCommand: true");
  }
  return {};
}

}  // namespace berth::agent
