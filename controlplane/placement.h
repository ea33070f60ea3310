// Where a task goes: a simple spread over the READY nodes that have room.
#pragma once

#include <string>
#include <vector>

#include "common/error.h"
#include "controlplane/records.h"

namespace berth::controlplane {

struct NodeState {
  std::string name;
  bool ready = false;     // its lease is alive
  bool cordoned = false;  // drained: no new tasks
  Capacity allocatable;
  Capacity used;  // by the desired RUNNING tasks placed on it that have not stopped
  int64_t tasks = 0;
  bool shutting_down = false;  // its host shuts down
};

// The node for a task needing `demand`: among READY, not cordoned nodes,
// not shutting down, with room, the one with the fewest tasks, then the
// most CPU left, then by name. With `only`, that node or an error saying why not. The error of
// "no node fits" lists each node and what it lacks.
Result<std::string> place(const std::vector<NodeState>& nodes, const Capacity& demand,
                          const std::string& only = "");

}  // namespace berth::controlplane
