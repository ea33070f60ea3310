// One lifecycle for every host resource of a task (the Mesos isolator's
// shape, synchronous): ensure, release and recover. The engine's planner
// orders ensure() calls for set-up and release() calls in reverse for
// teardown; the engine runs them on its worker pools and folds their
// results into the task's record (agent/engine/apply.h).
//
//   ensure()   makes the resource. Idempotent: it first clears what an
//              interrupted earlier attempt left. On failure it leaves
//              nothing behind.
//   release()  removes it. Idempotent; succeeds when there is nothing left.
//   recover()  runs once at berthd's start, before any step: it decides on
//              each resource of its kind that the checkpoints hold (adopt
//              what a live task owns, roll back a making a crash cut off,
//              report what the host lost), and removes whatever of its kind
//              is on the host that no task owns.
//   purge()    removes whatever of its kind a task id holds, with no record
//              to go by (a quarantined task that `berthctl rm` clears).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/engine/spec.h"
#include "agent/engine/step.h"
#include "agent/state/record.h"
#include "common/error.h"

namespace berth::agent {

// What a step needs of its task, copied from the record on the owner
// thread (small: the definition is shared, never copied).
struct StepInput {
  std::string task_id;
  ResourceKey resource;
  std::shared_ptr<const TaskSpec> spec;
  NetworkMode network_mode = NetworkMode::kBridge;
  std::string containerd_id;  // the container's (container, image, container network)
  std::string image;          // the reference the definition names
  std::string eni;            // awsvpc: the interface it was given
  std::optional<NetworkAttachment> task_network;       // awsvpc, once made
  std::optional<NetworkAttachment> container_network;  // bridge, once made
  std::string sandbox_id;
  uint32_t sandbox_pid = 0;
  // Bridge: the addresses of the task's other containers, for links.
  std::map<std::string, std::string> container_addresses;
  bool foreground = false;  // run by berthctl run in the foreground
};

struct StepOutput {
  std::string image_digest;
  std::optional<NetworkAttachment> network;
  uint32_t pid = 0;
  int64_t took_ms = 0;  // set by the engine
  // The step's own phases, (name, seconds), where it times them (a
  // container's start: spec, snapshot, record, task, start).
  std::vector<std::pair<std::string, double>> phases;
};

// A resource that a checkpoint holds (CREATING or READY) at start.
struct OwnedResource {
  std::string task_id;
  ResourceKey resource;
  Phase phase = Phase::kPending;
  std::string host_id;  // the containerd id, or the network id
  bool task_running = false;
  std::optional<NetworkAttachment> network;  // what it publishes (ports)
  uint32_t pid = 0;                          // recorded pid of a sandbox
};

struct RecoveredResource {
  std::string task_id;
  Recovered found;
};

// What recover() may not touch: the tasks that are quarantined (their
// checkpoint could not be read, so their host state is kept as it is).
struct RecoveryScope {
  std::set<std::string> kept_tasks;
  std::set<std::string> live_tasks;  // every task with a readable record
};

class TaskResource {
 public:
  virtual ~TaskResource() = default;
  virtual ResourceKind kind() const = 0;
  virtual Result<StepOutput> ensure(const StepInput& input) = 0;
  virtual Status release(const StepInput& input) = 0;
  // True when release() touches nothing on the host: the engine then runs
  // it on its owner thread instead of queueing it behind real steps.
  virtual bool releases_inline() const { return false; }
  // Warnings about what it removed or could not remove go to `notes`, for
  // the caller to log (libraries do not log).
  virtual std::vector<RecoveredResource> recover(const std::vector<OwnedResource>& owned,
                                                 const RecoveryScope& scope,
                                                 std::vector<std::string>& notes) = 0;
  virtual Status purge(const std::string& task_id) = 0;
};

}  // namespace berth::agent
