#include "runtime/debug_container.h"

#include <filesystem>

namespace berth::runtime {

namespace fs = std::filesystem;

Result<std::string> sibling_cgroups_path(const std::string& target_cgroups_path,
                                         const std::string& id) {
  if (!target_cgroups_path.empty() && target_cgroups_path.front() != '/') {
    // systemd's "slice:prefix:name": a scope of its own in the same slice.
    auto colon = target_cgroups_path.rfind(':');
    if (colon == std::string::npos || target_cgroups_path.find(':') == colon) {
      return fail(ErrorCode::kFailedPrecondition,
                  "debug: the target's cgroup '" + target_cgroups_path +
                      "' is neither a cgroupfs path nor systemd's slice:prefix:name");
    }
    return target_cgroups_path.substr(0, colon + 1) + id;
  }
  auto slash = target_cgroups_path.rfind('/');
  if (slash == std::string::npos || slash == 0) {
    return fail(ErrorCode::kFailedPrecondition,
                "debug: the target's cgroup '" + target_cgroups_path + "' has no task cgroup");
  }
  return target_cgroups_path.substr(0, slash + 1) + id;
}

Result<std::unique_ptr<ExecSession>> create_debug_session(ContainerService& containers,
                                                          Containerd& containerd,
                                                          const std::string& fifo_dir,
                                                          const DebugRequest& request) {
  auto target = BERTH_TRY(running_container(containerd, request.target_id, "debug"));
  CreateContainerRequest container;
  container.id = request.id;
  container.image = request.image;
  container.labels[std::string(kDebugLabel)] = request.task_id;
  container.labels[std::string(kDebugTargetLabel)] = request.target_id;
  container.cgroups_path = BERTH_TRY(sibling_cgroups_path(target.cgroups_path, request.id));
  // Its namespaces are the target's own: the task's network namespace
  // (awsvpc), the container's (bridge) or the node's (host); its process
  // namespace, so that the target's processes are visible.
  const std::string ns = "/proc/" + std::to_string(target.pid) + "/ns/";
  container.netns_path = ns + "net";
  container.settings.task_namespaces.pid_path = ns + "pid";
  auto session = BERTH_TRY(ExecSession::create_container(containers, containerd, fifo_dir,
                                                         std::move(container), request.session));
  // The namespaces were joined through the target's pid: if the target
  // ended meanwhile and its pid went to another process, they may be that
  // process's. The session (and its container) goes if so.
  auto again = running_container(containerd, request.target_id, "debug");
  if (!again || again->pid != target.pid) {
    return fail(ErrorCode::kFailedPrecondition, "debug: container '" + request.target_id +
                                                    "' stopped while the debug container "
                                                    "was made");
  }
  return session;
}

Result<int> remove_debug_leftovers(ContainerService& containers, const std::string& fifo_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fifo_dir, ec)) {
    if (entry.path().filename().string().starts_with("debug-")) fs::remove_all(entry.path(), ec);
  }
  auto ids = BERTH_TRY(containers.list_ids("labels.\"" + std::string(kDebugLabel) + "\""));
  int removed = 0;
  std::string failures;
  // Every one is tried: one that resists does not keep the others.
  for (const auto& id : ids) {
    if (auto gone = containers.kill_and_remove(id); !gone) {
      failures += (failures.empty() ? "" : "; ") + id + ": " + gone.error().message();
    } else {
      ++removed;
    }
  }
  if (!failures.empty()) {
    return fail(ErrorCode::kInternal, "remove debug containers: " + failures);
  }
  return removed;
}

}  // namespace berth::runtime
