// The node's exec_policy: who may open an exec or debug session into a task.
//   allow   every task (the default, as docker exec and kubectl exec)
//   opt-in  only tasks whose definition says enableExecuteCommand: true,
//           as ECS Exec asks of a task
//   deny    none
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace berth::agent {

enum class ExecPolicy { kAllow, kOptIn, kDeny };

std::optional<ExecPolicy> parse_exec_policy(std::string_view name);
std::string_view exec_policy_name(ExecPolicy policy);

// Whether task `task_id`, which opted in or not, takes a session: a
// kPermissionDenied error naming the policy when it does not.
Status check_exec_policy(ExecPolicy policy, bool task_opted_in, const std::string& task_id);

}  // namespace berth::agent
