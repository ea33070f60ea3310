// Containers and their tasks in containerd: create (rootfs snapshot, OCI
// spec, container record, task with log files), start, signal, stop, delete.
//
// Output never flows through berthd: the shim starts berth-logger
// (containerd's binary:// log URI), which appends both streams to a JSON-lines
// file that keeps filling while berthd is down.
//
// An interactive container's stdin is a FIFO, <run_dir>/stdin/<id>, that
// berth-runc makes the container's stdin and that berth-logger and the shim
// keep open for writing (runtime/runc_wrapper.h): reads block, never see
// end-of-file, and need nothing from berthd. Writing to the FIFO feeds the
// container.
#pragma once

#include <grpcpp/support/status_code_enum.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/phase_times.h"
#include "runtime/containerd.h"
#include "runtime/images.h"
#include "runtime/oci_spec.h"
#include "runtime/spec_settings.h"

namespace containerd::services::containers::v1 {
class ListContainersResponse;
}  // namespace containerd::services::containers::v1
namespace containerd::services::tasks::v1 {
class CreateTaskRequest;
}  // namespace containerd::services::tasks::v1

namespace berth::runtime {

struct ContainerRuntimeConfig {
  std::string logger_path;  // absolute path of the berth-logger binary
  std::string log_dir;      // per-container log files: <log_dir>/<id>.log
  std::string run_dir;      // runtime state: image views, stdin FIFOs
  // berth-runc, the runc wrapper that interactive containers need; empty:
  // berth-runc beside logger_path.
  std::string runc_wrapper_path;
  // Every container's default seccomp profile (Docker's format); null: none.
  std::shared_ptr<const nlohmann::json> seccomp_profile;
  // The systemd cgroup driver's slice prefix (systemd/cgroup_driver.h);
  // empty: cgroupfs. A container that is not a task's then runs in a scope
  // of "<prefix>_run.slice".
  std::string systemd_slice_prefix;
};

struct CreateContainerRequest {
  std::string id;
  ResolvedImage image;
  ContainerOverrides overrides;
  std::map<std::string, std::string> labels;
  std::string netns_path;  // empty: a new network namespace
  // linux.cgroupsPath, e.g. "/berth/<task-id>/<id>" or systemd's
  // "slice:prefix:name" (runc then runs in its systemd cgroup mode); empty:
  // "/<namespace>-run/<id>" (systemd: "<prefix>_run.slice:<prefix>_run:<id>").
  std::string cgroups_path;
  ContainerSettings settings;
  // An earlier Create of this id was cut off by a berthd crash: containerd
  // may still be finishing or undoing it (bundle directories appearing and
  // vanishing, a late task), so any failure of the task's creation is
  // retried for a while instead of failing the start.
  bool after_interrupted_create = false;
  // FIFOs for the task's stdin, stdout and stderr ("" for none), opened by
  // the caller (an operator's debug session, runtime/debug_container.h);
  // unset: its output goes to berth-logger's log file.
  struct Stdio {
    std::string in;
    std::string out;
    std::string err;
  };
  std::optional<Stdio> stdio;
  // Where create() marks its phases (spec, snapshot, record, task); null:
  // not timed.
  PhaseTimes* times = nullptr;
};

struct ExitStatus {
  uint32_t code = 0;
  int64_t exited_at_unix_nanos = 0;
};

// A task's process state as containerd reports it.
enum class ProcessState { kUnknown, kCreated, kRunning, kStopped, kPaused, kPausing };

// "unknown", "created", "running", "stopped", "paused", "pausing".
std::string_view process_state_name(ProcessState state);

struct TaskState {
  ProcessState state = ProcessState::kUnknown;
  uint32_t pid = 0;  // the init process's
  ExitStatus exit;   // meaningful once kStopped
};

class ContainerService {
 public:
  ContainerService(Containerd& containerd, ContainerRuntimeConfig config);

  // Creates the container and its task, ready to start. On failure nothing
  // is left behind (no snapshot, container record, task or log file).
  Result<uint32_t> create(const CreateContainerRequest& request);
  // Creates a container and its task from a complete spec, without an image
  // or a snapshot: spec.root.path is an absolute host directory (what
  // `ctr run --rootfs` does); linux.cgroupsPath is set as for any container.
  // Its output is discarded. On failure nothing is left behind.
  // `after_interrupted_create` as in CreateContainerRequest.
  // `cgroups_path` as in CreateContainerRequest.
  Result<uint32_t> create_without_image(const std::string& id, nlohmann::json spec,
                                        const std::map<std::string, std::string>& labels,
                                        bool after_interrupted_create = false,
                                        const std::string& cgroups_path = "");
  Result<uint32_t> start(const std::string& id);
  Status kill(const std::string& id, int signal, bool all = true);
  // What `docker stop` sends first: the container's stop signal (its image's
  // StopSignal, kept as a label at create; SIGTERM when there is none) to its
  // main process only. Returns the signal sent.
  Result<int> signal_stop(const std::string& id);
  // The task's state, its init process's pid and (once stopped) its exit;
  // kNotFound if there is no task.
  Result<TaskState> task_status(const std::string& id);
  // Blocks until the task exits (Tasks.Wait).
  Result<ExitStatus> wait(const std::string& id);
  // Deletes the task, which lets its shim (and logger) exit; the exit status
  // when there was a task. Idempotent.
  Result<std::optional<ExitStatus>> delete_task(const std::string& id);
  // Deletes the task (if any), the container, its snapshot and its stdin
  // FIFO. Idempotent; returns the task's exit status when there was a task
  // to delete.
  Result<std::optional<ExitStatus>> remove(const std::string& id);
  // remove(), after ending whatever still runs in it: SIGKILL to every
  // process, then its exit is awaited (a task still running cannot be
  // deleted, and a kill is not yet an exit).
  Result<std::optional<ExitStatus>> kill_and_remove(const std::string& id);

  // Ids of the containers matching a containerd filter, e.g.
  // `labels."berth.task"` (every container that names a task).
  Result<std::vector<std::string>> list_ids(const std::string& filter);
  // The image names that containers of the namespace were created from.
  Result<std::set<std::string>> image_names();

  std::string log_path(const std::string& id) const;
  // The stdin FIFO of an interactive container.
  std::string stdin_path(const std::string& id) const;
  const ContainerRuntimeConfig& config() const { return config_; }

 private:
  std::string default_cgroups_path(const std::string& id) const;
  Result<std::pair<std::string, std::string>> read_passwd_group(const ResolvedImage& image,
                                                                const std::string& id);
  std::string runc_wrapper_path() const;
  // Containers.List with a containerd filter ("" for all).
  Result<containerd::services::containers::v1::ListContainersResponse> list_containers(
      const std::string& filter);
  // Tasks.Create, retried while containerd settles an interrupted earlier
  // Create of the same id; the task's pid.
  Result<uint32_t> create_task(const containerd::services::tasks::v1::CreateTaskRequest& task,
                               bool after_interrupted_create);
  Status remove_snapshot(const std::string& key);
  Status delete_container_record(const std::string& id);

  Containerd& containerd_;
  ContainerRuntimeConfig config_;
};

// True when resolving `user` needs the image's /etc/passwd or /etc/group: a
// name, or a bare uid whose primary group is listed there.
bool user_needs_lookup(std::string_view user);

// Whether a failed Tasks.Create, answered with `code`, may succeed once
// containerd has settled an earlier Create of the same id, and is retried.
// Decided on the status code, never on the message text.
bool create_may_settle(grpc::StatusCode code, bool after_interrupted_create);

}  // namespace berth::runtime
