// The vocabulary between the engine's pure decisions (planner.h, apply.h)
// and the code that touches the host: the steps the planner orders, and the
// events that apply() folds into a task's record.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <variant>

#include "agent/state/record.h"
#include "common/error.h"

namespace berth::agent {

// One resource of a task: a task-level one (index 0) or a container's.
struct ResourceKey {
  ResourceKind kind = ResourceKind::kTaskCgroup;
  size_t index = 0;
  auto operator<=>(const ResourceKey&) const = default;
};

enum class StepKind {
  kEnsure,   // make the resource (idempotent; clears what an earlier attempt left)
  kRelease,  // remove it (idempotent)
  kSignal,   // a container's stop signal
  kKill,     // SIGKILL to a container
};

struct Action {
  StepKind step = StepKind::kEnsure;
  ResourceKey resource;
  bool operator==(const Action&) const = default;
};
// "ensure network", "release container 2", "signal container 0"
std::string action_name(const Action& action);

// The resources with a step in flight (or waiting to retry one): the
// planner orders nothing more for them.
using InFlight = std::set<ResourceKey>;

// -- Events apply() folds into a record --------------------------------

// A step is about to be carried out: its write-ahead mark (a resource
// CREATING, a stop signal's time) goes into the record, which is
// checkpointed before the step runs.
struct Intent {
  Action action;
};

// A step's result. `error` unset: done.
struct StepDone {
  Action action;
  std::optional<Error> error;
  std::string image_digest;                  // ensure image
  std::optional<NetworkAttachment> network;  // ensure (task or container) network
  uint32_t pid = 0;                          // ensure container or sandbox
  int64_t took_ms = 0;                       // how long the step ran
};

// A container's main process exited (pid 0: not known).
struct Exited {
  size_t container = 0;
  uint32_t pid = 0;
  int exit_code = 0;
  bool oom = false;
};

struct SandboxExited {
  int exit_code = 0;
};

struct HealthResult {
  size_t container = 0;
  bool passed = false;
  std::string output;
};

struct StopRequested {
  std::string code;  // ECS stop code: UserInitiated, ServiceSchedulerInitiated, ...
  std::string reason;
};

// What a resource's recover() found at berthd's start.
enum class Recovery {
  kAdopted,     // it exists and runs: kept as it is
  kRolledBack,  // a crash cut its making off: undone, to be made again
  kExited,      // a container that exited while berthd was away (exit_code)
  kGone,        // the host lost it (reason)
};
struct Recovered {
  ResourceKey resource;
  Recovery outcome = Recovery::kAdopted;
  uint32_t pid = 0;
  int exit_code = 0;
  bool oom = false;
  std::string reason;
};

// Time alone moved (timeouts).
struct Tick {};

using Event = std::variant<Intent, StepDone, Exited, SandboxExited, HealthResult, StopRequested,
                           Recovered, Tick>;

// A change worth telling `berthctl events` about.
struct Change {
  std::string container;  // empty for the task itself
  std::string status;     // "RUNNING", "STOPPED", "HEALTHY", "STOPPING", "NETWORK", ...
  std::string detail;
};

}  // namespace berth::agent
