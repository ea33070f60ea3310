// Every file and directory berth keeps on the host, in one place.
//
// --root (persistent, default /var/lib/berth, mode 0700):
//   tasks/<task-id>.json            a task's checkpoint (agent/state/store.h)
//   tasks/<task-id>.json.tmp        a checkpoint being written (gone after a rename)
//   tasks/quarantine/<file>         a checkpoint that could not be read, kept aside
//   logs/<containerd-id>.log        a container's output, JSON lines (berth-logger)
//   volumes/<task-id>/<volume>      a task-scoped volume (removed with the task)
//   registry-auth.json              registry credentials when --registry-auth names none
//   sandbox-rootfs/                 the root of every task sandbox: berth-pause only
//   cni/cache/<network>-<id>-eth0   CNI results, written before ADD (libcni's layout)
//   cni/networks/<network>/<ip>     host-local's address allocations (berth's own network)
//   network/eni/<id>.json           a host interface lent to a task, written before it moves
//
// --state (runtime, a tmpfs, default /run/berth):
//   berth.sock                      the API socket (--socket), mode 0600
//   netns/<id>                      a pinned network namespace (a bind mount)
//   containers/<containerd-id>/     the container's hosts, resolv.conf and hostname
//   sandboxes/<sandbox-id>/shm      a task's /dev/shm (a tmpfs mount)
//   stdin/<containerd-id>           an interactive container's stdin FIFO
//   exec/                           FIFOs of health checks and exec sessions
//   view-<containerd-id>            an image's root mounted read-only for a moment (its
//   /etc/passwd)
//
// Names in containerd (namespace --namespace):
//   <task-id>-<container name>      a container, its task and its snapshot
//   <task-id>.sandbox               a task's sandbox (no container name has a '.')
// each labelled berth.task=<task-id> (and berth.container=<name>, or
// berth.sandbox=true); and the network ids: <task-id> (awsvpc) or
// <task-id>-<container name> (bridge). Task ids are 12 lower-case hex digits.
#pragma once

#include <string>
#include <string_view>

namespace berth::agent {

inline constexpr std::string_view kTaskLabel = "berth.task";
inline constexpr std::string_view kContainerLabel = "berth.container";
inline constexpr std::string_view kSandboxLabel = "berth.sandbox";

class Paths {
 public:
  Paths(std::string root, std::string state) : root_(std::move(root)), state_(std::move(state)) {}

  const std::string& root() const { return root_; }
  const std::string& state() const { return state_; }

  std::string checkpoint_dir() const { return root_ + "/tasks"; }
  std::string checkpoint(std::string_view task_id) const;
  std::string quarantine_dir() const { return checkpoint_dir() + "/quarantine"; }
  std::string log_dir() const { return root_ + "/logs"; }
  std::string log(std::string_view containerd_id) const;
  std::string volumes_dir() const { return root_ + "/volumes"; }
  // Shared (named) volumes, kept after the tasks that use them.
  std::string named_volumes_dir() const { return root_ + "/named-volumes"; }
  std::string task_volumes(std::string_view task_id) const;
  std::string registry_auth() const { return root_ + "/registry-auth.json"; }
  std::string sandbox_rootfs() const { return root_ + "/sandbox-rootfs"; }
  std::string cni_cache_dir() const { return root_ + "/cni/cache"; }
  std::string cni_networks_dir() const { return root_ + "/cni/networks"; }
  std::string eni_dir() const { return root_ + "/network/eni"; }
  // Exec and debug sessions, one JSON line each at start and end.
  std::string audit_log() const { return root_ + "/audit.log"; }

  std::string netns_dir() const { return state_ + "/netns"; }
  std::string container_files_dir() const { return state_ + "/containers"; }
  std::string container_files(std::string_view containerd_id) const;
  std::string sandboxes_dir() const { return state_ + "/sandboxes"; }
  std::string stdin_dir() const { return state_ + "/stdin"; }
  std::string exec_dir() const { return state_ + "/exec"; }

 private:
  std::string root_;
  std::string state_;
};

std::string container_id(std::string_view task_id, std::string_view container_name);
std::string sandbox_id(std::string_view task_id);
// The task a containerd id or network id names ("" when it names none):
// "<task-id>", "<task-id>-<name>", "<task-id>.sandbox".
std::string task_id_of(std::string_view id);
// Whether `id` is a task id as berth makes them.
bool is_task_id(std::string_view id);

}  // namespace berth::agent
