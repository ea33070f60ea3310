// Ephemeral debug containers (berthctl debug), as `kubectl debug` makes
// them: a container of its own image and command that joins a running
// target container's network and process namespaces, lives in its task's
// cgroup, and is an operator's session (runtime/exec_session.h): its
// process's stdio are the session's FIFOs, and it is removed with its
// snapshot when the session ends.
//
// Such a container belongs to no task: it carries the kDebugLabel label
// (the task's id), never the task label, so that the engine neither adopts
// nor counts it. No session outlives the berthd that served it, so a
// berthd that starts removes every debug container it finds.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"
#include "runtime/containerd.h"
#include "runtime/containers.h"
#include "runtime/exec_session.h"
#include "runtime/images.h"

namespace berth::runtime {

inline constexpr std::string_view kDebugLabel = "berth.debug";
inline constexpr std::string_view kDebugTargetLabel = "berth.debug.target";

struct DebugRequest {
  std::string id;         // the debug container's id, e.g. new_exec_id("debug")
  std::string task_id;    // for its label
  std::string target_id;  // the running container whose namespaces it joins
  ResolvedImage image;
  SessionRequest session;  // command, terminal, stdin, user, cwd, env
};

// Makes the debug container, not yet started: kFailedPrecondition when the
// target does not run; kNotFound (127) or kPermissionDenied (126) when the
// command cannot run. On failure nothing of it is left.
Result<std::unique_ptr<ExecSession>> create_debug_session(ContainerService& containers,
                                                          Containerd& containerd,
                                                          const std::string& fifo_dir,
                                                          const DebugRequest& request);

// The cgroup of a new container beside `target_cgroups_path` (a sibling in
// the same parent, the task's cgroup; for systemd's "slice:prefix:name", a
// scope in the same slice); an error for a path with no parent.
Result<std::string> sibling_cgroups_path(const std::string& target_cgroups_path,
                                         const std::string& id);

// Removes every debug container (killing what still runs in it) and the
// debug FIFO directories under `fifo_dir`, which a killed berthd left.
// Returns how many containers it removed.
Result<int> remove_debug_leftovers(ContainerService& containers, const std::string& fifo_dir);

}  // namespace berth::runtime
