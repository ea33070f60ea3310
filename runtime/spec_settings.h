// Per-container settings of an ECS container definition applied to a spec
// that build_spec made: capabilities, ulimits, /dev/shm size, tmpfs and bind
// mounts, device nodes, an init process, host pid/ipc namespaces. Pure but
// for a stat() of each device's host path: the caller passes the other facts
// it read from the host (its own rlimits, prepared files).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "runtime/seccomp.h"
#include "runtime/task_namespaces.h"

namespace berth::runtime {

struct BindMount {
  std::string source;       // absolute host path
  std::string destination;  // absolute container path
  bool read_only = false;
};

struct TmpfsMount {
  std::string destination;
  uint64_t size_bytes = 0;
  std::vector<std::string> options;  // mount options, e.g. "noexec", "mode=1777"
};

struct UlimitSetting {
  std::string name;  // ECS name: "nofile", "nproc", ...
  uint64_t soft = 0;
  uint64_t hard = 0;
};

// A device node of the host made in the container (docker --device).
struct DeviceSetting {
  std::string host_path;                 // absolute; a character or block device
  std::string container_path;            // absolute
  std::vector<std::string> permissions;  // ECS names: "read", "write", "mknod"; empty: all
};

// linux.resources of the container's own cgroup, in the OCI spec's units;
// runc writes them as cgroup v1 or v2 files.
struct ResourceSettings {
  std::optional<uint64_t> cpu_shares;
  std::optional<int64_t> memory_limit;        // bytes
  std::optional<int64_t> memory_reservation;  // bytes: the soft limit
  std::optional<int64_t> memory_swap;         // bytes of memory plus swap
  std::optional<uint64_t> swappiness;         // 0..100; cgroup v1 only
};

struct ContainerSettings {
  std::vector<std::string> cap_add;   // without CAP_ prefix
  std::vector<std::string> cap_drop;  // may hold "ALL"
  std::vector<UlimitSetting> ulimits;
  // berthd's own hard limits per RLIMIT_* name: berthd lacks
  // CAP_SYS_RESOURCE, so a container may not ask for more.
  std::map<std::string, uint64_t> agent_hard_limits;
  // The capabilities berthd holds ("CAP_CHOWN", ...): runc can give a
  // container no other. nullopt: not known, nothing is checked.
  std::optional<std::set<std::string>> agent_capabilities;
  std::optional<uint64_t> shm_size_bytes;
  std::vector<TmpfsMount> tmpfs;
  std::vector<BindMount> mounts;  // a mount replaces a default one at the same destination
  std::vector<DeviceSetting> devices;
  std::string init_path;    // host path of a static init (tini); empty: none
  bool privileged = false;  // every capability, no masked paths, all devices, no seccomp
  // The node's default seccomp profile in Docker's format (null: none), and
  // the host facts its conditions read. seccomp_unconfined: none for this
  // container (dockerSecurityOptions seccomp=unconfined).
  std::shared_ptr<const nlohmann::json> seccomp_profile;
  SeccompHost seccomp_host;
  bool seccomp_unconfined = false;
  bool no_new_privileges = false;  // setuid and file capabilities give nothing
  // Privileged: the node's device nodes, made at the same paths (explicit
  // `devices` take precedence).
  std::vector<std::string> host_devices;
  // linux.sysctl: namespaced kernel parameters, written by runc in the
  // container's namespaces (checked by the task definition's parser).
  std::map<std::string, std::string> sysctls;
  bool host_network = false;  // networkMode host: the node's network namespace
  bool host_pid = false;
  bool host_ipc = false;
  TaskNamespaces task_namespaces;  // pidMode/ipcMode "task" and "none"
  // docker -i: the container's stdin stays open for its whole life, also
  // while berthd is down. Not a spec setting: ContainerService gives the
  // task a stdin FIFO.
  bool interactive = false;
  // With interactive: the logger does not hold the stdin FIFO open, so the
  // container reads EOF once its attached client closed it and the shim's
  // end was closed (CloseIO), as `docker run -i` gives.
  bool stdin_once = false;
  // The journald log driver: the fields ("NAME=value") every line of output
  // carries in the journal; empty for the file only. Not a spec setting:
  // ContainerService hands them to the logger.
  std::vector<std::string> journal_fields;
  ResourceSettings resources;
};

// "nofile" -> "RLIMIT_NOFILE"; nullopt for a name ECS does not know.
std::optional<std::string> rlimit_name(std::string_view ecs_name);

// "read", "write", "mknod" -> the cgroup device access "rwm" (empty: all);
// an error names a permission ECS does not know.
Result<std::string> device_access(const std::vector<std::string>& permissions);

// Applies `settings` to `spec` (an OCI runtime spec from build_spec).
Status apply_container_settings(nlohmann::json& spec, const ContainerSettings& settings);

// The capabilities in this process's bounding set ("CAP_CHOWN", ...).
std::set<std::string> bounding_capabilities();

// The character and block devices under `dev` (recursively), as runc's
// HostDevices finds them for a privileged container: not in pts, shm, fd or
// mqueue, and neither console nor ptmx (the container has its own).
std::vector<std::string> host_device_paths(const std::string& dev = "/dev");

}  // namespace berth::runtime
