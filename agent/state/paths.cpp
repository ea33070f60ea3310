#include "agent/state/paths.h"

#include <algorithm>

namespace berth::agent {

namespace {
constexpr size_t kTaskIdLength = 12;
}

std::string Paths::checkpoint(std::string_view task_id) const {
  return checkpoint_dir() + "/" + std::string(task_id) + ".json";
}

std::string Paths::log(std::string_view containerd_id) const {
  return log_dir() + "/" + std::string(containerd_id) + ".log";
}

std::string Paths::task_volumes(std::string_view task_id) const {
  return volumes_dir() + "/" + std::string(task_id);
}

std::string Paths::container_files(std::string_view containerd_id) const {
  return container_files_dir() + "/" + std::string(containerd_id);
}

std::string container_id(std::string_view task_id, std::string_view container_name) {
  return std::string(task_id) + "-" + std::string(container_name);
}

std::string sandbox_id(std::string_view task_id) { return std::string(task_id) + ".sandbox"; }

bool is_task_id(std::string_view id) {
  return id.size() == kTaskIdLength && std::ranges::all_of(id, [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string task_id_of(std::string_view id) {
  std::string_view head = id.substr(0, kTaskIdLength);
  if (!is_task_id(head)) return "";
  if (id.size() == kTaskIdLength || id[kTaskIdLength] == '-' || id[kTaskIdLength] == '.') {
    return std::string(head);
  }
  return "";
}

}  // namespace berth::agent
