// apply(): the one place where a task's record changes. It folds one event
// (a step's intent or result, a container's exit, a health result, a stop
// request, what recovery found, or the time moving on) into the record, then
// settles what follows from it: a stop of the task and why (an essential
// container exited, a dependency can never be met, a startTimeout passed, a
// resource could not be made), the restart policy's decision, containers
// that will never start, and the task's known status. Pure: no I/O, the
// time is an argument; unit-tested without a host.
#pragma once

#include <cstdint>
#include <vector>

#include "agent/engine/spec.h"
#include "agent/engine/step.h"
#include "agent/state/record.h"

namespace berth::agent {

// Folds `event` into `task` at `now_ms`; returns what changed, for events.
std::vector<Change> apply(TaskRecord& task, const TaskSpec& spec, const Event& event,
                          int64_t now_ms);

// Applies one health check result (ECS semantics: failures during the start
// period do not count; `retries` consecutive failures make it UNHEALTHY; one
// success makes it HEALTHY).
void record_health(ContainerRecord& container, const HealthCheck& check, bool passed,
                   std::string output, int64_t now_ms);

}  // namespace berth::agent
