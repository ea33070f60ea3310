#include "systemd/cgroup_driver.h"

#include <chrono>

namespace berth::systemd {

namespace {

constexpr std::string_view kSlicePrefix = "berth-";
constexpr std::string_view kSliceSuffix = ".slice";
constexpr std::chrono::seconds kJobTimeout{30};

}  // namespace

SystemdCgroupManager::SystemdCgroupManager(std::unique_ptr<cgroups::CgroupManager> cgroupfs,
                                           Units& units, bool unified)
    : cgroupfs_(std::move(cgroupfs)), units_(units), unified_(unified) {}

std::string SystemdCgroupManager::slice_name(std::string_view task_id) {
  return std::string(kSlicePrefix) + std::string(task_id) + std::string(kSliceSuffix);
}

std::string SystemdCgroupManager::scope_name(std::string_view task_id, std::string_view container) {
  return "berth-" + std::string(task_id) + "-" + std::string(container) + ".scope";
}

std::vector<UnitProperty> SystemdCgroupManager::slice_properties(std::string_view task_id,
                                                                 const cgroups::TaskLimits& limits,
                                                                 bool unified) {
  // Accounting on: systemd then makes the slice's cgroup in the cpuacct,
  // memory and pids hierarchies too, where its counters are read.
  std::vector<UnitProperty> properties = {{"Description", "berth task " + std::string(task_id)},
                                          {"CPUAccounting", true},
                                          {"MemoryAccounting", true},
                                          {"TasksAccounting", true}};
  if (limits.cpu_units) {
    // The same CFS quota as cgroupfs writes: 1024 units are one CPU, that
    // is one second of CPU time per second.
    uint64_t per_second =
        cgroups::cfs_quota_us(*limits.cpu_units) * 1'000'000 / cgroups::kCfsPeriodUs;
    properties.push_back({"CPUQuotaPerSecUSec", per_second});
  }
  if (limits.memory_bytes) {
    properties.push_back({unified ? "MemoryMax" : "MemoryLimit", *limits.memory_bytes});
  }
  if (limits.pids) properties.push_back({"TasksMax", *limits.pids});
  return properties;
}

Status SystemdCgroupManager::create_task(std::string_view task_id,
                                         const cgroups::TaskLimits& limits) {
  std::string slice = slice_name(task_id);
  std::string context = "create task slice '" + slice + "'";
  BERTH_TRY_CTX(cgroups::validate_cgroup_name("task id", task_id), context);
  if (task_id.find('-') != std::string_view::npos) {
    // A dash in a slice's name makes a level of the hierarchy.
    return fail(ErrorCode::kInvalidArgument,
                context + ": task id '" + std::string(task_id) + "' has a '-'");
  }
  BERTH_TRY_CTX(cgroups::validate_task_limits(limits), context);
  auto started =
      units_.start_transient(slice, slice_properties(task_id, limits, unified_),
                             std::chrono::duration_cast<std::chrono::milliseconds>(kJobTimeout));
  // An existing slice is reused (a retried step, an adopted task).
  if (!started && started.error().code() != ErrorCode::kAlreadyExists) {
    return fail(started.error().with_context(context));
  }
  return {};
}

std::string SystemdCgroupManager::container_cgroups_path(std::string_view task_id,
                                                         std::string_view container) const {
  return slice_name(task_id) + ":berth:" + std::string(task_id) + "-" + std::string(container);
}

Status SystemdCgroupManager::set_container_limits(std::string_view task_id,
                                                  std::string_view container,
                                                  const cgroups::ContainerLimits& limits) {
  return cgroupfs_->set_container_limits(slice_name(task_id), scope_name(task_id, container),
                                         limits);
}

Status SystemdCgroupManager::remove_task(std::string_view task_id) {
  std::string slice = slice_name(task_id);
  BERTH_TRY_CTX(
      units_.stop(slice, std::chrono::duration_cast<std::chrono::milliseconds>(kJobTimeout)),
      "remove task slice '" + slice + "'");
  // systemd removes the directories of the controllers it manages; the
  // rest (and a check that all are gone) is cgroupfs's.
  return cgroupfs_->remove_task(slice);
}

Result<std::vector<std::string>> SystemdCgroupManager::list_tasks() const {
  std::vector<std::string> tasks;
  for (const std::string& child : BERTH_TRY(cgroupfs_->list_tasks())) {
    if (child.size() > kSlicePrefix.size() + kSliceSuffix.size() &&
        child.starts_with(kSlicePrefix) && child.ends_with(kSliceSuffix)) {
      tasks.push_back(child.substr(kSlicePrefix.size(),
                                   child.size() - kSlicePrefix.size() - kSliceSuffix.size()));
    }
  }
  return tasks;
}

Result<cgroups::TaskStats> SystemdCgroupManager::stats(std::string_view task_id) const {
  return cgroupfs_->stats(slice_name(task_id));
}

Result<cgroups::TaskStats> SystemdCgroupManager::container_stats(std::string_view task_id,
                                                                 std::string_view container) const {
  return cgroupfs_->container_stats(slice_name(task_id), scope_name(task_id, container));
}

}  // namespace berth::systemd
