// The systemd cgroup driver (as runc's and the kubelet's): on a host whose
// cgroup tree systemd owns, each task is a transient slice,
// berth.slice/berth-<task>.slice, made over sd-bus with the task's limits
// as unit properties, and each container a scope inside it that runc makes
// in its systemd cgroup mode (cgroupsPath "berth-<task>.slice:berth:
// <task>-<container>"). Counters are read from the slice's cgroupfs
// directories, by the cgroupfs manager of the same layout rooted at
// berth.slice.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups/manager.h"
#include "systemd/units.h"

namespace berth::systemd {

class SystemdCgroupManager : public cgroups::CgroupManager {
 public:
  // `cgroupfs`: the host layout's cgroupfs manager with parent
  // "berth.slice"; `unified`: cgroup v2 (MemoryMax and CPUWeight, not
  // MemoryLimit and CPUShares).
  SystemdCgroupManager(std::unique_ptr<cgroups::CgroupManager> cgroupfs, Units& units,
                       bool unified);

  std::string_view name() const override { return unified_ ? "systemd v2" : "systemd v1"; }
  bool unified() const override { return unified_; }
  Status create_task(std::string_view task_id, const cgroups::TaskLimits& limits) override;
  std::string container_cgroups_path(std::string_view task_id,
                                     std::string_view container) const override;
  Status set_container_limits(std::string_view task_id, std::string_view container,
                              const cgroups::ContainerLimits& limits) override;
  Status remove_task(std::string_view task_id) override;
  Result<std::vector<std::string>> list_tasks() const override;
  Result<cgroups::TaskStats> stats(std::string_view task_id) const override;
  Result<cgroups::TaskStats> container_stats(std::string_view task_id,
                                             std::string_view container) const override;
  bool limits_swap() const override { return cgroupfs_->limits_swap(); }

  // "berth-<task>.slice"; the scope runc makes for a container.
  static std::string slice_name(std::string_view task_id);
  static std::string scope_name(std::string_view task_id, std::string_view container);
  // The unit properties of a task's limits.
  static std::vector<UnitProperty> slice_properties(std::string_view task_id,
                                                    const cgroups::TaskLimits& limits,
                                                    bool unified);

 private:
  std::unique_ptr<cgroups::CgroupManager> cgroupfs_;
  Units& units_;
  bool unified_;
};

}  // namespace berth::systemd
