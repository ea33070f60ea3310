// The cgroup v2 backend: one unified hierarchy. cpu, memory and pids are
// enabled in cgroup.subtree_control of the parent and of the task cgroup,
// so that both the task cgroup and its container cgroups have them.
#pragma once

#include <string>

#include "cgroups/manager.h"

namespace berth::cgroups {

class CgroupfsV2Manager : public CgroupManager {
 public:
  explicit CgroupfsV2Manager(std::string unified_root, std::string parent = "berth",
                             MkdirHook hook = {});

  std::string_view name() const override { return "cgroupfs v2"; }
  bool unified() const override { return true; }
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
  // Checks that `dir` has the controllers berth needs (error naming the
  // missing ones) and enables them for its children.
  Status enable_controllers(const std::string& dir) const;
  // Counters of "<parent>/<relative>".
  Result<TaskStats> stats_of(const std::string& relative) const;

  std::string root_;
  std::string parent_;
  MkdirHook hook_;
};

}  // namespace berth::cgroups
