// The cgroup v1 backend (also for hybrid hosts): one directory per
// hierarchy. Task limits go to cpu (CFS quota), memory and pids; cpuacct
// gives cpu usage. Removal and listing cover every mounted hierarchy, since
// the runtime creates container cgroups in all of them.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "cgroups/manager.h"

namespace berth::cgroups {

// Controller (or "name=systemd") -> mount point; co-mounted controllers
// ("cpu,cpuacct") map to the same path.
using V1Roots = std::map<std::string, std::string>;
// The key of a hybrid host's cgroup2 mount in V1Roots: listed and cleaned,
// never written.
inline constexpr std::string_view kUnifiedKey = "unified";

class CgroupfsV1Manager : public CgroupManager {
 public:
  explicit CgroupfsV1Manager(V1Roots roots, std::string parent = "berth", MkdirHook hook = {});

  std::string_view name() const override { return "cgroupfs v1"; }
  bool unified() const override { return false; }
  Status create_task(std::string_view task_id, const TaskLimits& limits) override;
  std::string container_cgroups_path(std::string_view task_id,
                                     std::string_view container) const override;
  Status set_container_limits(std::string_view task_id, std::string_view container,
                              const ContainerLimits& limits) override;
  Status remove_task(std::string_view task_id) override;
  Result<std::vector<std::string>> list_tasks() const override;
  Result<TaskStats> stats(std::string_view task_id) const override;
  Result<TaskStats> container_stats(std::string_view task_id,
                                    std::string_view container) const override;
  bool limits_swap() const override;

 private:
  // The distinct mount points of the controllers berth writes, or an error
  // naming the controllers that are not mounted.
  Result<std::vector<std::string>> required_mounts() const;
  // Every distinct mount point.
  std::vector<std::string> all_mounts() const;
  // "<mount of file's controller>/<relative>/<file>".
  Result<std::string> file_path(const std::string& relative, const std::string& file) const;
  Status make_and_write(const std::string& relative, const std::vector<FileValue>& files);
  // Counters of the cgroup at `relative` (under the mounts).
  Result<TaskStats> stats_of(const std::string& relative) const;
  Status read_cpu_stats(const std::string& relative, TaskStats& stats) const;
  Status read_memory_stats(const std::string& relative, TaskStats& stats) const;
  Status read_pids_stats(const std::string& relative, TaskStats& stats) const;
  // An optional control file: nullopt when its controller is not mounted
  // or the kernel does not have the file.
  Result<std::optional<std::string>> read_optional(const std::string& relative,
                                                   const std::string& file) const;

  V1Roots roots_;
  std::string parent_;
  MkdirHook hook_;
};

}  // namespace berth::cgroups
