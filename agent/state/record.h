// The record of one task: what berth was asked to run, what it decided, and
// what it holds on the host. It is the whole of a task's state: checkpointed
// (agent/state/store.h) before any step touches the host, folded by
// agent/engine/apply.h, read by agent/engine/planner.h.
//
// Every host resource a task holds (its image per container, its network,
// its cgroup, its sandbox, each container's network and each container)
// has one lifecycle and one record shape, Resource: PENDING until berth
// starts making it, CREATING from the moment the making is durable (a crash
// leaves it to the resource's recover(): adopt, finish or roll back), READY
// while it exists, RELEASED once it is gone or was never made.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/network/attachment.h"
#include "agent/taskdef/taskdef.h"

namespace berth::agent {

// ECS's task and container statuses, in the order a container moves
// through them.
enum class TaskStatus { kPending, kPulled, kCreated, kRunning, kStopped };
std::string_view status_name(TaskStatus status);
std::optional<TaskStatus> parse_status(std::string_view name);

enum class Health { kUnknown, kHealthy, kUnhealthy };
std::string_view health_name(Health health);
std::optional<Health> parse_health(std::string_view name);

enum class Phase { kPending, kCreating, kReady, kReleased };
std::string_view phase_name(Phase phase);
std::optional<Phase> parse_phase(std::string_view name);

// The kinds of host resource, in the order a task's set-up makes them
// (teardown runs in reverse).
enum class ResourceKind {
  kTaskNetwork,       // awsvpc: the task's pinned namespace and interface
  kTaskCgroup,        // <namespace>/<task id> in every hierarchy
  kSandbox,           // pidMode/ipcMode task: the pause container
  kImage,             // per container: the image, pulled or found
  kContainerNetwork,  // bridge: a container's own namespace
  kContainer,         // per container: containerd container, task and snapshot
};
std::string_view resource_kind_name(ResourceKind kind);

struct Resource {
  Phase phase = Phase::kPending;
  std::string reason;  // why it could not be made, or why it went
  bool operator==(const Resource&) const = default;
};

struct ContainerRecord {
  std::string name;
  std::string containerd_id;  // "<task id>-<name>"
  std::string image;          // as the definition names it

  // What ECS shows of the container.
  TaskStatus status = TaskStatus::kPending;
  uint32_t pid = 0;
  std::optional<int> exit_code;
  std::string reason;        // why it stopped, when not a plain exit
  int64_t pulled_at_ms = 0;  // when it became PULLED (startTimeout counts from here)
  int64_t started_at_ms = 0;
  int64_t stopped_at_ms = 0;
  int64_t stop_signalled_at_ms = 0;  // stop signal sent; SIGKILL after stopTimeout
  bool killed = false;               // SIGKILL sent
  bool oom_killed = false;
  uint32_t restart_count = 0;
  int64_t last_restart_at_ms = 0;
  bool restart_pending = false;  // the restart policy restarts it
  Health health = Health::kUnknown;
  std::string health_output;
  uint32_t health_failures = 0;  // consecutive, counted after startPeriod

  // What it holds on the host.
  Resource image_resource;
  std::string image_digest;                  // manifest digest once pulled
  std::optional<Resource> network_resource;  // bridge mode only
  std::optional<NetworkAttachment> network;  // set while network_resource is READY
  Resource runtime;                          // the containerd container
};

struct TaskRecord {
  std::string id;
  std::string name;  // the user's name, or the family
  std::string family;
  std::string definition_json;  // as received; re-parsed at load
  TaskStatus desired = TaskStatus::kRunning;
  TaskStatus known = TaskStatus::kPending;
  std::string stop_code;       // "EssentialContainerExited", "UserInitiated", ...
  std::string stopped_reason;  // ECS's stoppedReason
  int64_t created_at_ms = 0;
  int64_t started_at_ms = 0;
  int64_t stopped_at_ms = 0;
  // Where a task that berthd runs on its own came from, and the digest of
  // that source's content then (a changed source replaces the task): a
  // static task's manifest file, or "etcd:" and the desired key of a task
  // the control plane asked for (controlplane/node/plan.h).
  std::string manifest;
  std::string manifest_digest;
  // `berthctl run IMAGE` in the foreground: its client follows the output
  // (a berthd that restarts has lost that client, and stops the task), and
  // with `remove` the task goes once it stopped and its output was read.
  bool foreground = false;
  bool remove_on_exit = false;
  // The mode the task runs in: its definition's, or the node's default.
  NetworkMode network_mode = NetworkMode::kBridge;

  std::optional<Resource> network_resource;  // awsvpc only
  std::optional<NetworkAttachment> network;  // set while network_resource is READY
  std::string eni;                           // the ENI it was given (awsvpc), "" for none
  Resource cgroup;
  std::optional<Resource> sandbox;  // pidMode or ipcMode task only
  std::string sandbox_id;           // its containerd id, "<task id>.sandbox"
  uint32_t sandbox_pid = 0;         // while READY

  std::vector<ContainerRecord> containers;  // in definition order
};

// The prefix of `manifest` for a task from the control plane.
inline constexpr std::string_view kControlPlaneSource = "etcd:";

// Whether the task needs a sandbox: pidMode or ipcMode "task".
bool needs_sandbox(const TaskDefinition& definition);

// A new task record (PENDING) for a validated definition, in `network_mode`
// (the definition's, or the node's default).
TaskRecord new_task(std::string id, const std::string& name, std::string definition_json,
                    const TaskDefinition& definition, int64_t now_ms, NetworkMode network_mode);

// The task's health: UNHEALTHY if an essential container is, HEALTHY if
// every essential container with a health check is, otherwise UNKNOWN.
Health task_health(const TaskRecord& task, const TaskDefinition& definition);

// True once nothing of the task is left on the host.
bool all_released(const TaskRecord& task);

}  // namespace berth::agent
