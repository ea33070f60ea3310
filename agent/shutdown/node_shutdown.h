// What berthd does when its node shuts down (the kubelet's graceful node
// shutdown): every task is stopped, each container with its stop signal and
// stopTimeout and a task's essential containers last, within a grace
// period; new tasks are refused meanwhile.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>

#include "agent/engine/engine.h"

namespace berth::agent {

struct ShutdownOutcome {
  size_t asked = 0;  // tasks that were not yet stopped
  size_t left = 0;   // of those, still not stopped when the grace ran out
  std::chrono::milliseconds took{0};
};

// Stops every task and waits, on the engine's events, until none is left
// that has not stopped, or until `grace` has passed. `node_changed` is
// called once the engine says it shuts down (the fleet's record then says
// so at once).
ShutdownOutcome stop_tasks_for_shutdown(Engine& engine, std::chrono::milliseconds grace,
                                        const std::function<void()>& node_changed = {});

}  // namespace berth::agent
