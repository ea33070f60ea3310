#include "runtime/task_namespaces.h"

#include <string_view>

namespace berth::runtime {

namespace {

using nlohmann::json;

Status set_namespace_path(json& spec, const std::string& type, const std::string& path) {
  if (path.empty()) return {};
  if (path.front() != '/') {
    return fail(ErrorCode::kInvalidArgument,
                type + " namespace path '" + path + "' is not an absolute path");
  }
  auto& namespaces = spec["linux"]["namespaces"].get_ref<json::array_t&>();
  std::erase_if(namespaces, [&](const json& n) { return n.value("type", "") == type; });
  namespaces.push_back({{"type", type}, {"path", path}});
  return {};
}

void remove_mount(json& spec, std::string_view destination) {
  auto& mounts = spec["mounts"].get_ref<json::array_t&>();
  std::erase_if(mounts, [&](const json& m) { return m.value("destination", "") == destination; });
}

}  // namespace

Status apply_task_namespaces(json& spec, const TaskNamespaces& namespaces) {
  if (namespaces.ipc_none && (!namespaces.ipc_path.empty() || !namespaces.shm_source.empty())) {
    return fail(ErrorCode::kInvalidArgument,
                "ipc mode none cannot join an IPC namespace or share a /dev/shm");
  }
  BERTH_TRY(set_namespace_path(spec, "pid", namespaces.pid_path));
  BERTH_TRY(set_namespace_path(spec, "ipc", namespaces.ipc_path));
  if (namespaces.ipc_none) {
    // Its own IPC namespace, even if an earlier setting chose the host's.
    auto& list = spec["linux"]["namespaces"].get_ref<json::array_t&>();
    std::erase_if(list, [](const json& n) { return n.value("type", "") == "ipc"; });
    list.push_back({{"type", "ipc"}});
    remove_mount(spec, "/dev/shm");
  }
  if (!namespaces.shm_source.empty()) {
    if (namespaces.shm_source.front() != '/') {
      return fail(ErrorCode::kInvalidArgument,
                  "/dev/shm source '" + namespaces.shm_source + "' is not an absolute path");
    }
    remove_mount(spec, "/dev/shm");
    spec["mounts"].push_back({{"destination", "/dev/shm"},
                              {"type", "bind"},
                              {"source", namespaces.shm_source},
                              {"options", {"rbind", "rprivate", "nosuid", "nodev", "noexec"}}});
  }
  return {};
}

}  // namespace berth::runtime
