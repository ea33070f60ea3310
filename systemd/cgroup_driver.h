// The systemd cgroup driver (as runc's and the kubelet's): on a host whose
// cgroup tree systemd owns, each task is a transient slice,
// <P>.slice/<P>-<task>.slice, made over sd-bus with the task's limits as
// unit properties, and each container a scope inside it that runc makes in
// its systemd cgroup mode (cgroupsPath "<P>-<task>.slice:<P>:<container
// id>", the scope "<P>-<container id>.scope"). P is the containerd
// namespace with '-' escaped as systemd-escape does (slice_prefix), so that
// every namespace's slice sits at the top, never inside another's. Counters are read from the
// slice's cgroupfs directories, by the host layout's cgroupfs manager rooted
// at "<P>.slice".
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups/manager.h"
#include "systemd/units.h"

namespace berth::systemd {

// The slice prefix of a containerd namespace: '-' (which nests slices)
// becomes "\x2d", as systemd-escape writes it. kInvalidArgument, naming the
// namespace, for a character other than [A-Za-z0-9_-].
Result<std::string> slice_prefix(std::string_view ns);

class SystemdCgroupManager : public cgroups::CgroupManager {
 public:
  // `prefix`: slice_prefix(namespace); `cgroupfs`: the host layout's
  // cgroupfs manager with parent "<prefix>.slice"; `unified`: cgroup v2
  // (MemoryMax, not MemoryLimit).
  SystemdCgroupManager(std::string prefix, std::unique_ptr<cgroups::CgroupManager> cgroupfs,
                       std::shared_ptr<Units> units, bool unified);

  std::string_view name() const override { return unified_ ? "systemd v2" : "systemd v1"; }
  bool unified() const override { return unified_; }
  Status create_task(std::string_view task_id, const cgroups::TaskLimits& limits) override;
  std::string container_cgroups_path(std::string_view task_id,
                                     std::string_view container) const override;
  std::string task_cgroup(std::string_view task_id) const override;
  std::string container_cgroup(std::string_view task_id, std::string_view container) const override;
  Status set_container_limits(std::string_view task_id, std::string_view container,
                              const cgroups::ContainerLimits& limits) override;
  Status remove_task(std::string_view task_id) override;
  Result<std::vector<std::string>> list_tasks() const override;
  Result<cgroups::TaskStats> stats(std::string_view task_id) const override;
  Result<cgroups::TaskStats> container_stats(std::string_view task_id,
                                             std::string_view container) const override;
  bool limits_swap() const override { return cgroupfs_->limits_swap(); }

  // "<prefix>-<task>.slice"; the scope runc makes for a container.
  std::string slice_name(std::string_view task_id) const;
  std::string scope_name(std::string_view container) const;
  // The unit properties of a task's limits.
  static std::vector<UnitProperty> slice_properties(std::string_view task_id,
                                                    const cgroups::TaskLimits& limits,
                                                    bool unified);

 private:
  std::string prefix_;
  std::unique_ptr<cgroups::CgroupManager> cgroupfs_;
  std::shared_ptr<Units> units_;
  bool unified_;
};

// The driver for the containerd namespace `ns` on a host of `layout`, over
// the system manager (or the one at `bus_address`); the error names what
// failed (the namespace, the bus).
Result<std::unique_ptr<SystemdCgroupManager>> make_cgroup_manager(
    const cgroups::Layout& layout, std::string_view ns, const std::string& bus_address = {});

// berthd's cgroup driver. `requested`: "systemd", "cgroupfs" or "" (systemd
// when `booted`, systemd being the init system). Tasks whose cgroups the
// other driver made keep their driver: asked for by name, the other one is
// refused (kFailedPrecondition, naming the tasks); chosen by default, the
// driver that has tasks stays, and `note` says why.
struct CgroupDriverChoice {
  std::unique_ptr<cgroups::CgroupManager> manager;
  bool systemd = false;
  std::string note;
};
Result<CgroupDriverChoice> choose_cgroup_driver(const cgroups::Layout& layout, std::string_view ns,
                                                std::string_view requested, bool booted);

}  // namespace berth::systemd
