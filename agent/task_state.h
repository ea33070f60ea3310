// The state of one task and its containers, and the pure decisions of the
// reconciler: given the definition, the known state and the time, what to do
// next. No I/O here; the engine carries the actions out and feeds the
// results back, so every decision is unit-tested without containerd.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/taskdef/taskdef.h"
#include "common/error.h"

namespace berth::agent {

// ECS's container and task statuses, in the order a container moves
// through them.
enum class TaskStatus { kPending, kPulled, kCreated, kRunning, kStopped };
std::string_view status_name(TaskStatus status);

enum class Health { kUnknown, kHealthy, kUnhealthy };
std::string_view health_name(Health health);

// A port of a container published on the node.
struct PortBinding {
  uint32_t container_port = 0;
  uint32_t host_port = 0;
  std::string protocol = "tcp";
};

// A network namespace berth made and what it holds: the task's (awsvpc) or
// one container's (bridge). The host state (the pinned namespace, the CNI
// cache entry, the IP allocation, a borrowed ENI) is found again from the
// owner's id alone (agent/task_network.h), so the record is what `describe`
// shows and what the planner orders on, not what teardown depends on.
struct NetworkRecord {
  // PENDING until set up, RUNNING while it exists, STOPPED once torn down
  // or when it could not be made.
  TaskStatus known = TaskStatus::kPending;
  bool creating = false;               // written before the host is touched
  bool removed = false;                // torn down
  std::string netns;                   // the pinned namespace's path
  std::string interface;               // inside the namespace, "eth0"
  std::vector<std::string> addresses;  // without prefix length, IPv4 first
  std::string gateway;
  std::string eni;  // the host interface moved in (ENI-style), its host name
  std::vector<PortBinding> ports;
  std::string reason;  // why it could not be made
};

struct ContainerRecord {
  std::string name;
  std::string containerd_id;  // "<task id>-<name>"
  std::string image;          // as the definition names it
  std::string image_digest;   // manifest digest once pulled
  TaskStatus known = TaskStatus::kPending;
  uint32_t pid = 0;
  std::optional<int> exit_code;
  std::string reason;        // why it stopped, when not a plain exit
  int64_t pulled_at_ms = 0;  // when it became PULLED (startTimeout counts from here)
  int64_t started_at_ms = 0;
  int64_t stopped_at_ms = 0;
  int64_t stop_signalled_at_ms = 0;  // SIGTERM sent; SIGKILL after stopTimeout
  bool killed = false;               // SIGKILL sent
  bool removed = false;              // containerd container and snapshot gone
  // Written before containerd is asked to create the container: a crash
  // between this and RUNNING is finished or rolled back at the next start.
  bool creating = false;
  bool oom_killed = false;
  uint32_t restart_count = 0;
  int64_t last_restart_at_ms = 0;
  Health health = Health::kUnknown;
  std::string health_output;
  uint32_t health_failures = 0;  // consecutive, counted after startPeriod
  // Bridge mode: the container's own namespace, set once it started.
  std::optional<NetworkRecord> network;
};

// The task's sandbox (runtime/sandbox.h): what its containers share for
// the task's whole life, today the PID and IPC namespaces of a pause
// process. Made before the first container starts, removed after the last
// one is; checkpointed like a container, so that a restarted berthd adopts
// it (never restarts it: the containers live in its namespaces).
struct SandboxRecord {
  std::string containerd_id;  // "<task id>.sandbox" (no container name has a '.')
  // PENDING until made, RUNNING while it holds the namespaces, STOPPED once
  // its process is gone (removed or not).
  TaskStatus known = TaskStatus::kPending;
  uint32_t pid = 0;
  bool creating = false;  // written before containerd is asked to create it
  bool removed = false;   // containerd container and host state gone
  std::string reason;     // why it stopped or could not be made
};

// Whether the task needs a sandbox: pidMode or ipcMode "task".
bool needs_sandbox(const TaskDefinition& definition);

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
  std::vector<ContainerRecord> containers;  // in definition order
  // A static task: the manifest file it was run from, and the digest of
  // the file's content then (a changed file replaces the task).
  std::string manifest;
  std::string manifest_digest;
  std::optional<SandboxRecord> sandbox;  // only when needs_sandbox
  // The network mode the task runs in: its definition's, or the node's
  // default when the definition names none.
  std::string network_mode;
  // awsvpc: the task's namespace, made before its sandbox and containers,
  // removed after them.
  std::optional<NetworkRecord> network;
  // The task cgroup (berth/<task-id>, made with the first container) is
  // gone: removed after everything else, before the task is STOPPED.
  bool cgroup_removed = false;
};

nlohmann::json to_json(const TaskRecord& task);
nlohmann::json network_to_json(const NetworkRecord& network);
// Throws nlohmann::json::exception on a malformed record.
NetworkRecord network_from_json(const nlohmann::json& json);
Result<TaskRecord> task_from_json(const nlohmann::json& json);

// A new task record (PENDING) for a validated definition, in `network_mode`
// (the definition's, or the node's default).
TaskRecord new_task(std::string id, const std::string& name, std::string definition_json,
                    const TaskDefinition& definition, int64_t now_ms,
                    const std::string& network_mode = "bridge");

// What the engine should do for one container. Every action is idempotent.
struct Action {
  enum class Kind {
    kPull,           // resolve or pull the image; then PULLED
    kStart,          // create and start the container; then RUNNING
    kRestart,        // remove the exited container, create and start it again
    kSignal,         // SIGTERM
    kKill,           // SIGKILL
    kRemove,         // delete task, container and snapshot; keep the log file
    kCreateSandbox,  // create and start the task's sandbox; then RUNNING
    kRemoveSandbox,  // end the sandbox and remove what it holds
    kCreateNetwork,  // make the task's namespace and interface; then RUNNING
    kRemoveNetwork,  // tear the task's network down
    kRemoveCgroup,   // remove the task cgroup, last of all
  };
  Kind kind;
  size_t container;  // index in TaskRecord::containers; kTaskLevel for the sandbox
};
inline constexpr size_t kTaskLevel = static_cast<size_t>(-1);
std::string_view action_name(Action::Kind kind);

struct Plan {
  std::vector<Action> actions;
  // The earliest time the plan may change without an event (a stop or start
  // timeout); 0 if none.
  int64_t wake_at_ms = 0;
};

// Decides the next steps. May change the record in ways that touch nothing
// on the host (stop the task and say why, mark a never-started container
// STOPPED, move the task's known status). `busy[i]` is true while an action
// on container i is in flight, `sandbox_busy` while one on the sandbox is;
// no new action is issued for it (`network_busy` likewise for the task's
// network, `cgroup_busy` for its cgroup). The task's network is made first,
// then its sandbox (which joins the network), then the containers; teardown
// runs in reverse and ends with the task cgroup. A container with links
// starts once the containers it links to run.
Plan plan_task(TaskRecord& task, const TaskDefinition& definition, const std::vector<bool>& busy,
               int64_t now_ms, bool sandbox_busy = false, bool network_busy = false,
               bool cgroup_busy = false);

// Records a container's exit and decides whether the restart policy restarts
// it (ECS semantics: enabled, exit code not ignored, the task still wanted,
// and it ran for restartAttemptPeriod since its start or last restart).
// Returns true if it should restart (the engine then issues kRestart).
bool record_exit(TaskRecord& task, const TaskDefinition& definition, size_t container,
                 int exit_code, bool oom, int64_t now_ms);

// Asks the task to stop, keeping the first reason given.
void request_stop(TaskRecord& task, std::string_view code, std::string_view reason);

// Applies one health check result (ECS semantics: failures during the start
// period do not count; `retries` consecutive failures make it UNHEALTHY; one
// success makes it HEALTHY).
void record_health(ContainerRecord& container, const HealthCheck& check, bool passed,
                   std::string output, int64_t now_ms);

// The task's health: UNHEALTHY if an essential container is, HEALTHY if every
// essential container with a health check is, otherwise UNKNOWN.
Health task_health(const TaskRecord& task, const TaskDefinition& definition);

}  // namespace berth::agent
