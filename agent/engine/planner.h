// The planner: given a task's record, its definition, the resources with a
// step in flight and the time, which steps come next. Pure: it reads the
// record and changes nothing (apply.h makes every change), so every
// decision is unit-tested without a host.
//
// Set-up follows the resources' dependencies: the task's network and cgroup
// first, then its sandbox (which joins both), then each container once its
// image is pulled, its own network made (bridge) and its dependsOn
// conditions met. Teardown runs in reverse: each container is signalled
// once the containers that depend on it stopped, killed after its
// stopTimeout, then released with its network and image; then the sandbox,
// the cgroup and the task's network.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/engine/spec.h"
#include "agent/engine/step.h"
#include "agent/state/record.h"

namespace berth::agent {

struct Plan {
  std::vector<Action> actions;
  // The earliest time the plan may change without an event (a stop or start
  // timeout); 0 if none.
  int64_t wake_at_ms = 0;
};

Plan plan(const TaskRecord& task, const TaskSpec& spec, const InFlight& in_flight, int64_t now_ms);

// Whether container `index` may start as far as its dependsOn conditions and
// links go at `now_ms`: met, still waiting, or never (then `why` names the
// container, the dependency and the condition). As on the ECS agent, a
// dependency with a startTimeout that has run that long since it started
// without reaching COMPLETE, SUCCESS or HEALTHY is given up on; while
// waiting, `gives_up_at_ms` (when given) is the earliest such moment, or 0.
enum class Readiness { kMet, kWaiting, kFailed };
Readiness dependencies_met(const TaskRecord& task, const TaskSpec& spec, size_t index,
                           int64_t now_ms, std::string* why, int64_t* gives_up_at_ms = nullptr);

// A container's stopTimeout in milliseconds (30 s when it names none).
int64_t stop_timeout_ms(const ContainerDefinition& definition);

// ECS's stop code of a task stopped because its node shuts down; such a
// task's essential containers stop after its other ones.
inline constexpr std::string_view kNodeShutdownStopCode = "TerminationNotice";

// A container started (or being started) and not yet stopped.
bool is_active(TaskStatus status);

}  // namespace berth::agent
