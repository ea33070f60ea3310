// Why cgroupfs files and not libcgroup (which the design card names):
// libcgroup 2.0.2's cgroup_delete_cgroup (cgdelete -g cpu,memory,pids:/x)
// reports success yet removes only the first controller's directory, it
// keeps the mount table in process-global state set by cgroup_init() (a
// singleton, against berth's passed-in dependencies), and it cannot be
// pointed at a directory tree standing in for cgroupfs, which is how these
// backends are tested without root. The kernel's interface is files: a
// mkdir, a write per limit, an rmdir, each checked.
#include "cgroups/cgroupfs_v1.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include "cgroups/cgroupfs.h"
#include "cgroups/stats.h"

namespace berth::cgroups {
namespace {

// The controllers berth writes or reads (cpuacct for usage).
constexpr std::string_view kRequired[] = {"cpu", "cpuacct", "memory", "pids"};

// USER_HZ when sysconf cannot tell: 100 on every Linux architecture.
constexpr uint64_t kDefaultUserHz = 100;

std::string controller_of(const std::string& file) { return file.substr(0, file.find('.')); }

// oom_kill of `dir` and every cgroup below it. v1 counts a kill only in the
// victim's own cgroup; a cgroup removed meanwhile counts nothing.
Result<uint64_t> subtree_oom_kills(const std::string& dir) {
  uint64_t total = 0;
  if (auto text = BERTH_TRY(read_optional_control(dir + "/memory.oom_control"))) {
    total += keyed_value(*text, "oom_kill").value_or(0);
  }
  for (const std::string& child : BERTH_TRY(child_cgroups(dir))) {
    total += BERTH_TRY(subtree_oom_kills(dir + "/" + child));
  }
  return total;
}

}  // namespace

CgroupfsV1Manager::CgroupfsV1Manager(V1Roots roots, std::string parent, MkdirHook hook)
    : roots_(std::move(roots)), parent_(std::move(parent)), hook_(std::move(hook)) {}

std::string CgroupfsV1Manager::container_cgroups_path(std::string_view task_id,
                                                      std::string_view container) const {
  return "/" + parent_ + "/" + std::string(task_id) + "/" + std::string(container);
}

Result<std::vector<std::string>> CgroupfsV1Manager::required_mounts() const {
  std::vector<std::string> mounts;
  std::string missing;
  for (std::string_view controller : kRequired) {
    auto it = roots_.find(std::string(controller));
    if (it == roots_.end()) {
      missing += (missing.empty() ? "" : " ") + std::string(controller);
      continue;
    }
    if (std::find(mounts.begin(), mounts.end(), it->second) == mounts.end()) {
      mounts.push_back(it->second);
    }
  }
  if (!missing.empty()) {
    return fail(ErrorCode::kFailedPrecondition, "cgroup v1 controllers not mounted: " + missing);
  }
  return mounts;
}

std::vector<std::string> CgroupfsV1Manager::all_mounts() const {
  std::set<std::string> unique;
  for (const auto& [controller, mount] : roots_) unique.insert(mount);
  return {unique.begin(), unique.end()};
}

Result<std::string> CgroupfsV1Manager::file_path(const std::string& relative,
                                                 const std::string& file) const {
  auto it = roots_.find(controller_of(file));
  if (it == roots_.end()) {
    return fail(ErrorCode::kFailedPrecondition,
                "cgroup v1 controller '" + controller_of(file) + "' is not mounted");
  }
  return it->second + "/" + relative + "/" + file;
}

Status CgroupfsV1Manager::make_and_write(const std::string& relative,
                                         const std::vector<FileValue>& files) {
  std::vector<std::string> mounts = BERTH_TRY(required_mounts());
  MadeDirs made(hook_);
  for (const std::string& mount : mounts) BERTH_TRY(made.make(mount, relative));
  for (const FileValue& file : files) {
    std::string path = BERTH_TRY(file_path(relative, file.file));
    if (file.if_present && !path_exists(path)) continue;
    BERTH_TRY(write_control(path, file.value));
  }
  made.commit();
  return {};
}

Status CgroupfsV1Manager::create_task(std::string_view task_id, const TaskLimits& limits) {
  std::string relative = parent_ + "/" + std::string(task_id);
  std::string context = "create task cgroup '" + relative + "'";
  BERTH_TRY_CTX(validate_cgroup_name("task id", task_id), context);
  BERTH_TRY_CTX(validate_task_limits(limits), context);
  BERTH_TRY_CTX(make_and_write(relative, v1_task_files(limits)), context);
  return {};
}

Status CgroupfsV1Manager::set_container_limits(std::string_view task_id, std::string_view container,
                                               const ContainerLimits& limits) {
  std::string relative = parent_ + "/" + std::string(task_id) + "/" + std::string(container);
  std::string context = "set container cgroup '" + relative + "'";
  BERTH_TRY_CTX(validate_cgroup_name("task id", task_id), context);
  BERTH_TRY_CTX(validate_cgroup_name("container name", container), context);
  BERTH_TRY_CTX(validate_container_limits(limits), context);
  std::string task_dir = parent_ + "/" + std::string(task_id);
  for (const std::string& mount : BERTH_TRY_CTX(required_mounts(), context)) {
    if (!path_exists(mount + "/" + task_dir)) {
      return fail(ErrorCode::kNotFound,
                  context + ": task cgroup '" + mount + "/" + task_dir + "' does not exist");
    }
  }
  BERTH_TRY_CTX(make_and_write(relative, v1_container_files(limits)), context);
  return {};
}

Status CgroupfsV1Manager::remove_task(std::string_view task_id) {
  std::string relative = parent_ + "/" + std::string(task_id);
  std::string context = "remove task cgroup '" + relative + "'";
  BERTH_TRY_CTX(validate_cgroup_name("task id", task_id), context);
  // Every hierarchy, even when one fails, so that a busy memory cgroup does
  // not keep the empty ones.
  std::optional<Error> first_error;
  for (const std::string& mount : all_mounts()) {
    Status removed = remove_cgroup_tree(mount + "/" + relative);
    if (!removed && !first_error) first_error = removed.error();
  }
  if (first_error) return fail(first_error->with_context(context));
  return {};
}

Result<std::vector<std::string>> CgroupfsV1Manager::list_tasks() const {
  std::set<std::string> tasks;
  for (const std::string& mount : all_mounts()) {
    for (std::string& child : BERTH_TRY_CTX(child_cgroups(mount + "/" + parent_), "list tasks")) {
      tasks.insert(std::move(child));
    }
  }
  return std::vector<std::string>(tasks.begin(), tasks.end());
}

Result<TaskStats> CgroupfsV1Manager::stats(std::string_view task_id) const {
  BERTH_TRY_CTX(validate_cgroup_name("task id", task_id), "stats");
  return stats_of(parent_ + "/" + std::string(task_id));
}

Result<TaskStats> CgroupfsV1Manager::container_stats(std::string_view task_id,
                                                     std::string_view container) const {
  BERTH_TRY_CTX(validate_cgroup_name("task id", task_id), "stats");
  BERTH_TRY_CTX(validate_cgroup_name("container", container), "stats");
  return stats_of(parent_ + "/" + std::string(task_id) + "/" + std::string(container));
}

Result<TaskStats> CgroupfsV1Manager::stats_of(const std::string& relative) const {
  std::string context = "stats of cgroup '" + relative + "'";
  TaskStats stats;
  BERTH_TRY_CTX(read_cpu_stats(relative, stats), context);
  BERTH_TRY_CTX(read_memory_stats(relative, stats), context);
  BERTH_TRY_CTX(read_pids_stats(relative, stats), context);
  return stats;
}

Result<std::optional<std::string>> CgroupfsV1Manager::read_optional(const std::string& relative,
                                                                    const std::string& file) const {
  if (!roots_.contains(controller_of(file))) return std::optional<std::string>();
  return read_optional_control(BERTH_TRY(file_path(relative, file)));
}

Status CgroupfsV1Manager::read_cpu_stats(const std::string& relative, TaskStats& stats) const {
  stats.cpu_usage_ns = BERTH_TRY(read_number(BERTH_TRY(file_path(relative, "cpuacct.usage"))));
  if (auto text = BERTH_TRY(read_optional(relative, "cpuacct.stat"))) {
    long hz = ::sysconf(_SC_CLK_TCK);
    uint64_t ticks_per_second = hz > 0 ? static_cast<uint64_t>(hz) : kDefaultUserHz;
    stats.cpu_user_ns = ticks_to_ns(keyed_value(*text, "user").value_or(0), ticks_per_second);
    stats.cpu_system_ns = ticks_to_ns(keyed_value(*text, "system").value_or(0), ticks_per_second);
  }
  // cpu.stat and the quota files need CONFIG_CFS_BANDWIDTH.
  if (auto text = BERTH_TRY(read_optional(relative, "cpu.stat"))) {
    stats.cpu_periods = keyed_value(*text, "nr_periods").value_or(0);
    stats.cpu_throttled_periods = keyed_value(*text, "nr_throttled").value_or(0);
    stats.cpu_throttled_ns = keyed_value(*text, "throttled_time").value_or(0);
  }
  if (auto text = BERTH_TRY(read_optional(relative, "cpu.cfs_quota_us"))) {
    stats.cpu_quota_us = BERTH_TRY(parse_cfs_quota(*text, "cpu.cfs_quota_us"));
  }
  if (auto text = BERTH_TRY(read_optional(relative, "cpu.cfs_period_us"))) {
    stats.cpu_period_us = BERTH_TRY(parse_number(*text, "cpu.cfs_period_us"));
  }
  if (auto text = BERTH_TRY(read_optional(relative, "cpu.shares"))) {
    stats.cpu_shares = BERTH_TRY(parse_number(*text, "cpu.shares"));
  }
  return {};
}

Status CgroupfsV1Manager::read_memory_stats(const std::string& relative, TaskStats& stats) const {
  stats.memory_usage_bytes =
      BERTH_TRY(read_number(BERTH_TRY(file_path(relative, "memory.usage_in_bytes"))));
  std::string oom_path = BERTH_TRY(file_path(relative, "memory.oom_control"));
  std::string oom_control = BERTH_TRY(read_control(oom_path));
  // "oom_kill" appeared in Linux 4.13; older kernels count nothing.
  stats.oom_kills = keyed_value(oom_control, "oom_kill").value_or(0);
  std::string dir = roots_.at("memory") + "/" + relative;
  uint64_t below = 0;
  for (const std::string& child : BERTH_TRY(child_cgroups(dir))) {
    below += BERTH_TRY(subtree_oom_kills(dir + "/" + child));
  }
  stats.oom_events = stats.oom_kills + below;

  // The total_* keys cover the cgroup and its descendants, as usage does.
  uint64_t inactive_file = 0;
  if (auto text = BERTH_TRY(read_optional(relative, "memory.stat"))) {
    inactive_file = keyed_value(*text, "total_inactive_file").value_or(0);
    stats.memory_rss_bytes = keyed_value(*text, "total_rss").value_or(0);
    stats.memory_cache_bytes = keyed_value(*text, "total_cache").value_or(0);
  }
  stats.memory_working_set_bytes = working_set_bytes(stats.memory_usage_bytes, inactive_file);
  if (auto text = BERTH_TRY(read_optional(relative, "memory.max_usage_in_bytes"))) {
    stats.memory_max_usage_bytes = BERTH_TRY(parse_number(*text, "memory.max_usage_in_bytes"));
  }
  if (auto text = BERTH_TRY(read_optional(relative, "memory.failcnt"))) {
    stats.memory_failcnt = BERTH_TRY(parse_number(*text, "memory.failcnt"));
  }
  if (auto text = BERTH_TRY(read_optional(relative, "memory.limit_in_bytes"))) {
    stats.memory_limit_bytes =
        v1_memory_limit(BERTH_TRY(parse_number(*text, "memory.limit_in_bytes")));
  }
  return {};
}

Status CgroupfsV1Manager::read_pids_stats(const std::string& relative, TaskStats& stats) const {
  // A v1 host may have no pids hierarchy: no counters then, not an error.
  if (auto text = BERTH_TRY(read_optional(relative, "pids.current"))) {
    stats.pids_current = BERTH_TRY(parse_number(*text, "pids.current"));
  }
  if (auto text = BERTH_TRY(read_optional(relative, "pids.max"))) {
    stats.pids_limit = BERTH_TRY(parse_max_or_number(*text, "pids.max"));
  }
  return {};
}

bool CgroupfsV1Manager::limits_swap() const {
  auto memory = roots_.find("memory");
  return memory != roots_.end() && path_exists(memory->second + "/memory.memsw.limit_in_bytes");
}

}  // namespace berth::cgroups
