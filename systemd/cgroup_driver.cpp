#include "systemd/cgroup_driver.h"

#include <chrono>

namespace berth::systemd {

namespace {

constexpr std::string_view kSliceSuffix = ".slice";
constexpr std::string_view kScopeSuffix = ".scope";
constexpr std::chrono::milliseconds kJobTimeout{30'000};

}  // namespace

Result<std::string> slice_prefix(std::string_view ns) {
  std::string prefix;
  for (char c : ns) {
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-';
    if (!allowed) {
      return fail(ErrorCode::kInvalidArgument,
                  "namespace '" + std::string(ns) + "': '" + std::string(1, c) +
                      "' cannot be in a systemd slice name (the systemd cgroup driver allows "
                      "letters, digits, '_' and '-')");
    }
    // As systemd-escape does: a '-' would nest the slice in another's.
    prefix += c == '-' ? std::string("\\x2d") : std::string(1, c);
  }
  if (prefix.empty()) return fail(ErrorCode::kInvalidArgument, "namespace: empty");
  return prefix;
}

SystemdCgroupManager::SystemdCgroupManager(std::string prefix,
                                           std::unique_ptr<cgroups::CgroupManager> cgroupfs,
                                           std::shared_ptr<Units> units, bool unified)
    : prefix_(std::move(prefix)),
      cgroupfs_(std::move(cgroupfs)),
      units_(std::move(units)),
      unified_(unified) {}

std::string SystemdCgroupManager::slice_name(std::string_view task_id) const {
  return prefix_ + "-" + std::string(task_id) + std::string(kSliceSuffix);
}

std::string SystemdCgroupManager::scope_name(std::string_view container) const {
  return prefix_ + "-" + std::string(container) + std::string(kScopeSuffix);
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
  auto properties = slice_properties(task_id, limits, unified_);
  auto started = units_->start_transient(slice, properties, kJobTimeout);
  if (!started && started.error().code() == ErrorCode::kAlreadyExists) {
    // An existing slice is reused (a retried step, an adopted task), with
    // the limits asked now.
    BERTH_TRY_CTX(units_->set_properties(slice, properties), context);
  } else if (!started) {
    // A job that failed or did not finish may leave the unit loaded, or
    // let it start later: it is stopped, so that nothing stays.
    (void)units_->stop(slice, kJobTimeout);
    return fail(started.error().with_context(context));
  }
  // systemd makes the slice's directory only in the hierarchies it
  // manages; where it does not (a v1 cpuacct mounted apart from cpu), the
  // cgroupfs manager makes it, as runc does for a scope. It writes no limit.
  if (auto made = cgroupfs_->create_task(slice, {}); !made) {
    if (started) (void)units_->stop(slice, kJobTimeout);
    return fail(made.error().with_context(context));
  }
  return {};
}

std::string SystemdCgroupManager::container_cgroups_path(std::string_view task_id,
                                                         std::string_view container) const {
  return slice_name(task_id) + ":" + prefix_ + ":" + std::string(container);
}

std::string SystemdCgroupManager::task_cgroup(std::string_view task_id) const {
  return "/" + prefix_ + std::string(kSliceSuffix) + "/" + slice_name(task_id);
}

std::string SystemdCgroupManager::container_cgroup(std::string_view task_id,
                                                   std::string_view container) const {
  return task_cgroup(task_id) + "/" + scope_name(container);
}

Status SystemdCgroupManager::set_container_limits(std::string_view task_id,
                                                  std::string_view container,
                                                  const cgroups::ContainerLimits& limits) {
  return cgroupfs_->set_container_limits(slice_name(task_id), scope_name(container), limits);
}

Status SystemdCgroupManager::remove_task(std::string_view task_id) {
  std::string slice = slice_name(task_id);
  std::string context = "remove task slice '" + slice + "'";
  BERTH_TRY_CTX(cgroups::validate_cgroup_name("task id", task_id), context);
  // Stopping a slice kills what runs in it; cgroupfs's removal refuses a
  // cgroup with processes instead, and so does this driver.
  // ("infinity": systemd does not know, without a pids controller.)
  auto tasks = units_->property(slice, "org.freedesktop.systemd1.Slice", "TasksCurrent");
  if (!tasks && tasks.error().code() != ErrorCode::kNotFound) {
    return fail(tasks.error().with_context(context));
  }
  if (tasks && *tasks != "infinity" && *tasks != "0") {
    return fail(ErrorCode::kFailedPrecondition,
                context + ": " + *tasks + " process(es) still run in it");
  }
  BERTH_TRY_CTX(units_->stop(slice, kJobTimeout), context);
  // systemd removes the directories of the controllers it manages; the
  // rest (and a check that all are gone) is cgroupfs's.
  return cgroupfs_->remove_task(slice);
}

Result<std::vector<std::string>> SystemdCgroupManager::list_tasks() const {
  std::vector<std::string> tasks;
  std::string prefix = prefix_ + "-";
  for (const std::string& child : BERTH_TRY(cgroupfs_->list_tasks())) {
    if (child.size() > prefix.size() + kSliceSuffix.size() && child.starts_with(prefix) &&
        child.ends_with(kSliceSuffix)) {
      tasks.push_back(
          child.substr(prefix.size(), child.size() - prefix.size() - kSliceSuffix.size()));
    }
  }
  return tasks;
}

Result<cgroups::TaskStats> SystemdCgroupManager::stats(std::string_view task_id) const {
  return cgroupfs_->stats(slice_name(task_id));
}

Result<cgroups::TaskStats> SystemdCgroupManager::container_stats(std::string_view task_id,
                                                                 std::string_view container) const {
  return cgroupfs_->container_stats(slice_name(task_id), scope_name(container));
}

Result<std::unique_ptr<SystemdCgroupManager>> make_cgroup_manager(const cgroups::Layout& layout,
                                                                  std::string_view ns,
                                                                  const std::string& bus_address) {
  std::string prefix = BERTH_TRY_CTX(slice_prefix(ns), "systemd cgroup driver");
  auto cgroupfs = BERTH_TRY(cgroups::make_manager(layout, prefix + std::string(kSliceSuffix)));
  std::shared_ptr<Units> units =
      BERTH_TRY_CTX(Units::connect(bus_address), "systemd cgroup driver");
  bool unified = layout.kind == cgroups::LayoutKind::kV2;
  return std::make_unique<SystemdCgroupManager>(std::move(prefix), std::move(cgroupfs),
                                                std::move(units), unified);
}

namespace {

std::string joined(const std::vector<std::string>& tasks) {
  std::string out;
  for (const auto& task : tasks) out += (out.empty() ? "" : ", ") + task;
  return out;
}

}  // namespace

Result<CgroupDriverChoice> choose_cgroup_driver(const cgroups::Layout& layout, std::string_view ns,
                                                std::string_view requested, bool booted) {
  bool want_systemd = requested == "systemd" || (requested.empty() && booted);
  auto cgroupfs = BERTH_TRY(cgroups::make_manager(layout, std::string(ns)));
  // Tasks of the other driver, from its cgroupfs directories (no bus call).
  std::vector<std::string> cgroupfs_tasks =
      cgroupfs->list_tasks().value_or(std::vector<std::string>{});
  std::vector<std::string> slice_tasks;
  if (auto prefix = slice_prefix(ns); prefix) {
    auto slices = cgroups::make_manager(layout, *prefix + std::string(kSliceSuffix));
    if (slices) {
      for (const auto& child : (*slices)->list_tasks().value_or(std::vector<std::string>{})) {
        std::string head = *prefix + "-";
        if (child.starts_with(head) && child.ends_with(kSliceSuffix)) {
          slice_tasks.push_back(
              child.substr(head.size(), child.size() - head.size() - kSliceSuffix.size()));
        }
      }
    }
  }
  CgroupDriverChoice choice;
  const auto& others = want_systemd ? cgroupfs_tasks : slice_tasks;
  if (!others.empty()) {
    std::string other = want_systemd ? "cgroupfs" : "systemd";
    if (!requested.empty()) {
      return fail(ErrorCode::kFailedPrecondition,
                  "cgroup-driver " + std::string(requested) + ": task(s) " + joined(others) +
                      " have cgroups of the " + other +
                      " driver; stop them first, or use --cgroup-driver " + other);
    }
    choice.note = "cgroup driver: keeping " + other + ", which task(s) " + joined(others) +
                  " use; the default driver takes over once none is left";
    want_systemd = !want_systemd;
  }
  choice.systemd = want_systemd;
  if (want_systemd) {
    choice.manager = BERTH_TRY(make_cgroup_manager(layout, ns));
  } else {
    choice.manager = std::move(cgroupfs);
  }
  return choice;
}

}  // namespace berth::systemd
