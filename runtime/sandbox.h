// A task's sandbox: the task-level resources its containers share, held by
// a tiny pause process (berth-pause) that lives as long as the task, in a
// containerd container of its own. Today it holds the task's PID and IPC
// namespaces (pidMode/ipcMode "task") and the task's shared /dev/shm; the
// task's network namespace (awsvpc) and its cgroup hold it too.
//
// The sandbox container has no image and no snapshot: its spec's root is a
// read-only host directory holding only berth-pause, which containerd 1.6
// and runc accept (it is what `ctr run --rootfs` does).
//
// Host layout:
//   <root>/sandbox-rootfs/       berth-pause and the mount points runc needs
//                                (not under the state tmpfs: /run is often noexec)
//   <state>/sandboxes/<id>/shm   the task's /dev/shm, a tmpfs mounted here
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"
#include "runtime/containers.h"
#include "runtime/oci_spec.h"
#include "runtime/task_namespaces.h"

namespace berth::runtime {

struct SandboxSpecInputs {
  std::string rootfs_path;   // absolute host directory holding /berth-pause
  std::string cgroups_path;  // as for a container
  std::string hostname;
  std::string netns_path;  // the task's pinned network namespace; empty: a new one
  Rlimit agent_nofile_limit{"RLIMIT_NOFILE", 0, 0};
};

// The sandbox's OCI spec: berth-pause as pid 1 of new PID, IPC, UTS, mount
// and network namespaces, no capabilities, a read-only root, only /proc and
// /dev mounted.
Result<nlohmann::json> build_sandbox_spec(const SandboxSpecInputs& inputs);

struct SandboxConfig {
  std::string pause_path;  // the berth-pause binary
  std::string root_dir;    // persistent state (e.g. /var/lib/berth)
  std::string state_dir;   // runtime state (a tmpfs such as /run/berth)
};

struct SandboxRequest {
  std::string id;  // the containerd id
  std::map<std::string, std::string> labels;
  // A task /dev/shm of this size (0: none) shared by its containers.
  uint64_t shm_size_bytes = 0;
  // The task's pinned network namespace (awsvpc) to join; empty: a new one.
  std::string netns_path;
  // linux.cgroupsPath (in the task's cgroup); empty: "/<namespace>-run/<id>".
  std::string cgroups_path;
  // A berthd crash cut an earlier create of this id off (see
  // CreateContainerRequest): containerd may still be settling it.
  bool after_interrupted_create = false;
};

class SandboxService {
 public:
  SandboxService(ContainerService& containers, SandboxConfig config);

  // Creates and starts the sandbox; returns the pause process's pid. On
  // failure nothing is left behind.
  Result<uint32_t> create(const SandboxRequest& request);
  // Ends the pause process, removes its container and unmounts the task's
  // /dev/shm. Idempotent; call only once no container uses the sandbox.
  Status remove(const std::string& id);
  // The sandbox's state as ContainerService::task_status gives it.
  Result<TaskState> status(const std::string& id);

  // The host directory of the task's shared /dev/shm.
  std::string shm_path(const std::string& id) const;
  // Ids of the sandboxes that have host state (a sandboxes/<id> directory).
  std::vector<std::string> ids_with_host_state() const;

 private:
  Status prepare_rootfs();

  ContainerService& containers_;
  SandboxConfig config_;
  std::mutex rootfs_mu_;
  bool rootfs_ready_ = false;
};

}  // namespace berth::runtime
