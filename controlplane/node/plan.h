// The node's decisions, without I/O: which desired tasks to run or stop,
// and what each task's status in etcd should say.
//
// A task run for a desired key carries the key as its source ("etcd:" and
// the key) and a digest of the value it was run from: the key's create
// revision and the definition's sha256. A task keeps its digest for life,
// so a berthd that restarts recognises (adopts) what it already runs. A
// desired RUNNING task runs once per digest: when it stops (its essential
// container exited), it stays STOPPED, as an ECS task does; writing a new
// definition, or deleting the key and writing it again, runs it anew.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/engine/engine.h"
#include "controlplane/records.h"

namespace berth::controlplane {

// One key under the node's desired prefix.
struct DesiredEntry {
  std::string name;  // the key's last segment
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  std::optional<DesiredTask> task;  // set when the value is valid
  std::string error;                // why it is not
};

// The engine's tasks that came from the control plane, as the plan sees
// them.
struct LocalTask {
  std::string id;
  std::string name;  // of the desired key it came from
  std::string digest;
  bool stopped = false;         // known STOPPED
  bool stop_requested = false;  // desired STOPPED
  int64_t created_at_ms = 0;
};

struct NodeAction {
  enum class Kind { kRun, kStop };
  Kind kind = Kind::kRun;
  std::string name;
  std::string task_id;  // kStop
  std::string reason;
};

// Why a run was refused, per name: the digest refused and the error.
struct Refusal {
  std::string digest;
  std::string error;
};

// "etcd:<desired key>" and the digest of an entry's value.
std::string task_source(const Keys& keys, const std::string& node, const std::string& name);
std::string desired_digest(const DesiredEntry& entry);

// The engine's tasks whose source lies under this node's desired prefix.
std::vector<LocalTask> local_tasks(const std::vector<agent::TaskView>& views, const Keys& keys,
                                   const std::string& node);

// What to do. `refused`: names whose current digest the engine refused
// (not tried again until the value changes). `finished`: names whose status
// in etcd says STOPPED, and the desired revision it answers: a task whose
// record the engine no longer keeps (its retention ended) is not run again
// for the value it already ran for.
std::vector<NodeAction> plan_node(const std::map<std::string, DesiredEntry>& desired,
                                  const std::vector<LocalTask>& local,
                                  const std::map<std::string, Refusal>& refused,
                                  const std::map<std::string, int64_t>& finished = {});

// The status of every desired task (by name), from its newest local task,
// and of tasks whose key was removed while they still run.
std::map<std::string, TaskStatusRecord> build_statuses(
    const std::map<std::string, DesiredEntry>& desired, const std::vector<agent::TaskView>& views,
    const Keys& keys, const std::string& node, const std::map<std::string, Refusal>& refused);

}  // namespace berth::controlplane
