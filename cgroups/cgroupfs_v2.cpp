// Why cgroupfs files and not libcgroup: see cgroupfs_v1.cpp (cgdelete's
// partial removal, process-global state, no way to test on a directory
// tree). On v2 the interface is even simpler: one hierarchy, one directory
// per cgroup.
#include "cgroups/cgroupfs_v2.h"

#include <algorithm>

#include "cgroups/cgroupfs.h"
#include "cgroups/limits.h"
#include "cgroups/stats.h"

namespace berth::cgroups {
namespace {

constexpr std::string_view kRequired[] = {"cpu", "memory", "pids"};

// The controllers listed in cgroup.controllers or cgroup.subtree_control.
// The kernel lists them bare ("cpu memory"); the '+' is stripped for a
// stand-in tree whose subtree_control keeps what was written to it.
std::vector<std::string> controller_list(std::string_view text) {
  std::vector<std::string> names = split_words(text);
  for (std::string& name : names) {
    if (name.starts_with('+')) name.erase(0, 1);
  }
  return names;
}

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

constexpr uint64_t kNsPerUs = 1000;

// cpu.stat always has usage_usec (the core accounts it without the cpu
// controller); the rest needs the controller (and the throttling keys CFS
// bandwidth); cpu.max and cpu.weight exist only with the controller.
Status read_cpu_stats(const std::string& dir, TaskStats& stats) {
  std::string cpu_stat = BERTH_TRY(read_control(dir + "/cpu.stat"));
  std::optional<uint64_t> usage_usec = keyed_value(cpu_stat, "usage_usec");
  if (!usage_usec) {
    return fail(ErrorCode::kDataLoss, "no usage_usec in '" + dir + "/cpu.stat'");
  }
  stats.cpu_usage_ns = *usage_usec * kNsPerUs;
  stats.cpu_user_ns = keyed_value(cpu_stat, "user_usec").value_or(0) * kNsPerUs;
  stats.cpu_system_ns = keyed_value(cpu_stat, "system_usec").value_or(0) * kNsPerUs;
  stats.cpu_periods = keyed_value(cpu_stat, "nr_periods").value_or(0);
  stats.cpu_throttled_periods = keyed_value(cpu_stat, "nr_throttled").value_or(0);
  stats.cpu_throttled_ns = keyed_value(cpu_stat, "throttled_usec").value_or(0) * kNsPerUs;
  if (auto text = BERTH_TRY(read_optional_control(dir + "/cpu.max"))) {
    CpuMax max = BERTH_TRY(parse_cpu_max(*text, dir + "/cpu.max"));
    stats.cpu_quota_us = max.quota_us;
    stats.cpu_period_us = max.period_us;
  }
  if (auto text = BERTH_TRY(read_optional_control(dir + "/cpu.weight"))) {
    stats.cpu_shares = cpu_shares_from_weight(BERTH_TRY(parse_number(*text, dir + "/cpu.weight")));
  }
  return {};
}

Status read_memory_stats(const std::string& dir, TaskStats& stats) {
  stats.memory_usage_bytes = BERTH_TRY(read_number(dir + "/memory.current"));
  std::string events = BERTH_TRY(read_control(dir + "/memory.events"));
  // Hierarchical (unless cgroup2 is mounted with memory_localevents).
  stats.oom_kills = keyed_value(events, "oom_kill").value_or(0);
  stats.oom_events = stats.oom_kills;
  stats.memory_failcnt = keyed_value(events, "max").value_or(0);
  uint64_t inactive_file = 0;
  if (auto text = BERTH_TRY(read_optional_control(dir + "/memory.stat"))) {
    inactive_file = keyed_value(*text, "inactive_file").value_or(0);
    stats.memory_rss_bytes = keyed_value(*text, "anon").value_or(0);
    stats.memory_cache_bytes = keyed_value(*text, "file").value_or(0);
  }
  stats.memory_working_set_bytes = working_set_bytes(stats.memory_usage_bytes, inactive_file);
  if (auto text = BERTH_TRY(read_optional_control(dir + "/memory.peak"))) {
    stats.memory_max_usage_bytes = BERTH_TRY(parse_number(*text, dir + "/memory.peak"));
  }
  if (auto text = BERTH_TRY(read_optional_control(dir + "/memory.max"))) {
    stats.memory_limit_bytes = BERTH_TRY(parse_max_or_number(*text, dir + "/memory.max"));
  }
  return {};
}

Status read_pids_stats(const std::string& dir, TaskStats& stats) {
  if (auto text = BERTH_TRY(read_optional_control(dir + "/pids.current"))) {
    stats.pids_current = BERTH_TRY(parse_number(*text, dir + "/pids.current"));
  }
  if (auto text = BERTH_TRY(read_optional_control(dir + "/pids.max"))) {
    stats.pids_limit = BERTH_TRY(parse_max_or_number(*text, dir + "/pids.max"));
  }
  return {};
}

}  // namespace

CgroupfsV2Manager::CgroupfsV2Manager(std::string unified_root, std::string parent, MkdirHook hook)
    : root_(std::move(unified_root)), parent_(std::move(parent)), hook_(std::move(hook)) {}

std::string CgroupfsV2Manager::container_cgroups_path(std::string_view task_id,
                                                      std::string_view container) const {
  return "/" + parent_ + "/" + std::string(task_id) + "/" + std::string(container);
}

Status CgroupfsV2Manager::enable_controllers(const std::string& dir) const {
  std::string controllers_text = BERTH_TRY(read_control(dir + "/cgroup.controllers"));
  std::vector<std::string> available = controller_list(controllers_text);
  std::string missing;
  for (std::string_view controller : kRequired) {
    if (!contains(available, controller)) {
      missing += (missing.empty() ? "" : " ") + std::string(controller);
    }
  }
  if (!missing.empty()) {
    std::string listed = controllers_text;
    while (!listed.empty() && listed.back() == '\n') listed.pop_back();
    return fail(ErrorCode::kFailedPrecondition,
                "cgroup v2 controllers " + missing + " are not available in '" + dir +
                    "/cgroup.controllers' (it lists '" + listed +
                    "'; on a v1 or hybrid host they are bound to cgroup v1)");
  }
  std::vector<std::string> enabled =
      controller_list(BERTH_TRY(read_control(dir + "/cgroup.subtree_control")));
  std::string enable;
  for (std::string_view controller : kRequired) {
    if (!contains(enabled, controller)) {
      enable += (enable.empty() ? "+" : " +") + std::string(controller);
    }
  }
  // Already enabled (as systemd does at the root) means no write at all.
  if (!enable.empty()) BERTH_TRY(write_control(dir + "/cgroup.subtree_control", enable));
  return {};
}

Status CgroupfsV2Manager::create_task(std::string_view task_id, const TaskLimits& limits) {
  std::string relative = parent_ + "/" + std::string(task_id);
  std::string context = "create task cgroup '" + relative + "'";
  BERTH_TRY_CTX(validate_cgroup_name("task id", task_id), context);
  BERTH_TRY_CTX(validate_task_limits(limits), context);
  BERTH_TRY_CTX(enable_controllers(root_), context);
  MadeDirs made(hook_);
  // Each level of the parent passes the controllers down to the next.
  std::string dir = root_;
  size_t start = 0;
  while (start < parent_.size()) {
    size_t end = parent_.find('/', start);
    if (end == std::string::npos) end = parent_.size();
    if (end > start) {
      std::string component = parent_.substr(start, end - start);
      BERTH_TRY_CTX(made.make(dir, component), context);
      dir += "/" + component;
      BERTH_TRY_CTX(enable_controllers(dir), context);
    }
    start = end + 1;
  }
  BERTH_TRY_CTX(made.make(dir, task_id), context);
  dir += "/" + std::string(task_id);
  BERTH_TRY_CTX(enable_controllers(dir), context);
  for (const FileValue& file : v2_task_files(limits)) {
    std::string path = dir + "/" + file.file;
    if (file.if_present && !path_exists(path)) continue;
    BERTH_TRY_CTX(write_control(path, file.value), context);
  }
  made.commit();
  return {};
}

Status CgroupfsV2Manager::set_container_limits(std::string_view task_id, std::string_view container,
                                               const ContainerLimits& limits) {
  std::string task_dir = root_ + "/" + parent_ + "/" + std::string(task_id);
  std::string context = "set container cgroup '" + parent_ + "/" + std::string(task_id) + "/" +
                        std::string(container) + "'";
  BERTH_TRY_CTX(validate_cgroup_name("task id", task_id), context);
  BERTH_TRY_CTX(validate_cgroup_name("container name", container), context);
  BERTH_TRY_CTX(validate_container_limits(limits), context);
  if (!path_exists(task_dir)) {
    return fail(ErrorCode::kNotFound, context + ": task cgroup '" + task_dir + "' does not exist");
  }
  MadeDirs made(hook_);
  BERTH_TRY_CTX(made.make(task_dir, container), context);
  std::string dir = task_dir + "/" + std::string(container);
  for (const FileValue& file : v2_container_files(limits)) {
    std::string path = dir + "/" + file.file;
    if (file.if_present && !path_exists(path)) continue;
    BERTH_TRY_CTX(write_control(path, file.value), context);
  }
  made.commit();
  return {};
}

Status CgroupfsV2Manager::remove_task(std::string_view task_id) {
  std::string relative = parent_ + "/" + std::string(task_id);
  std::string context = "remove task cgroup '" + relative + "'";
  BERTH_TRY_CTX(validate_cgroup_name("task id", task_id), context);
  BERTH_TRY_CTX(remove_cgroup_tree(root_ + "/" + relative), context);
  return {};
}

Result<std::vector<std::string>> CgroupfsV2Manager::list_tasks() const {
  return BERTH_TRY_CTX(child_cgroups(root_ + "/" + parent_), "list tasks");
}

Result<TaskStats> CgroupfsV2Manager::stats(std::string_view task_id) const {
  BERTH_TRY_CTX(validate_cgroup_name("task id", task_id), "stats");
  return stats_of(std::string(task_id));
}

Result<TaskStats> CgroupfsV2Manager::container_stats(std::string_view task_id,
                                                     std::string_view container) const {
  BERTH_TRY_CTX(validate_cgroup_name("task id", task_id), "stats");
  BERTH_TRY_CTX(validate_cgroup_name("container", container), "stats");
  return stats_of(std::string(task_id) + "/" + std::string(container));
}

Result<TaskStats> CgroupfsV2Manager::stats_of(const std::string& relative) const {
  std::string dir = root_ + "/" + parent_ + "/" + relative;
  std::string context = "stats of cgroup '" + parent_ + "/" + relative + "'";
  TaskStats stats;
  BERTH_TRY_CTX(read_cpu_stats(dir, stats), context);
  BERTH_TRY_CTX(read_memory_stats(dir, stats), context);
  BERTH_TRY_CTX(read_pids_stats(dir, stats), context);
  return stats;
}

// runc skips memory.swap.max when swap accounting is off and the value is
// 0 or max, the only values berth writes without a swap limit of its own.
bool CgroupfsV2Manager::limits_swap() const { return true; }

}  // namespace berth::cgroups
