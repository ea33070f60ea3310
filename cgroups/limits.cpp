#include "cgroups/limits.h"

#include <algorithm>

namespace berth::cgroups {

uint64_t cfs_quota_us(uint64_t cpu_units) { return cpu_units * kCfsPeriodUs / kCpuUnitsPerVcpu; }

uint64_t cpu_shares(uint64_t cpu_units) {
  return std::clamp(cpu_units, kMinCpuShares, kMaxCpuShares);
}

uint64_t cpu_weight_from_shares(uint64_t shares) {
  shares = std::clamp(shares, kMinCpuShares, kMaxCpuShares);
  return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t cpu_shares_from_weight(uint64_t weight) {
  weight = std::clamp(weight, kMinCpuWeight, kMaxCpuWeight);
  return 2 + ((weight - 1) * 262142) / 9999;
}

Status validate_memory(std::string_view what, uint64_t bytes) {
  if (bytes < kMinMemoryBytes) {
    return fail(ErrorCode::kInvalidArgument, std::string(what) + " " + std::to_string(bytes) +
                                                 " bytes is below the minimum of " +
                                                 std::to_string(kMinMemoryBytes) +
                                                 " bytes (6 MiB)");
  }
  return {};
}

Status validate_task_limits(const TaskLimits& limits) {
  if (limits.cpu_units && cfs_quota_us(*limits.cpu_units) < kMinCfsQuotaUs) {
    return fail(ErrorCode::kInvalidArgument,
                "task cpu " + std::to_string(*limits.cpu_units) +
                    " units is below the kernel's minimum CFS quota of 1 ms per 100 ms (11 units)");
  }
  if (limits.memory_bytes) BERTH_TRY(validate_memory("task memory", *limits.memory_bytes));
  if (limits.pids && *limits.pids == 0) {
    return fail(ErrorCode::kInvalidArgument, "task pids limit 0 would not even allow init");
  }
  return {};
}

Status validate_container_limits(const ContainerLimits& limits) {
  if (limits.memory_bytes) BERTH_TRY(validate_memory("container memory", *limits.memory_bytes));
  if (limits.memory_reservation_bytes) {
    BERTH_TRY(validate_memory("container memoryReservation", *limits.memory_reservation_bytes));
    if (limits.memory_bytes && *limits.memory_reservation_bytes > *limits.memory_bytes) {
      return fail(ErrorCode::kInvalidArgument,
                  "container memoryReservation " +
                      std::to_string(*limits.memory_reservation_bytes) +
                      " bytes is above its memory limit " + std::to_string(*limits.memory_bytes) +
                      " bytes");
    }
  }
  if (limits.max_swap_bytes && !limits.memory_bytes) {
    // v1 limits memory+swap together: without a memory limit there is no sum.
    return fail(ErrorCode::kInvalidArgument, "container maxSwap " +
                                                 std::to_string(*limits.max_swap_bytes) +
                                                 " bytes needs a container memory limit");
  }
  if (limits.swappiness && *limits.swappiness > 100) {
    return fail(
        ErrorCode::kInvalidArgument,
        "container swappiness " + std::to_string(*limits.swappiness) + " is outside 0..100");
  }
  return {};
}

std::vector<FileValue> v1_task_files(const TaskLimits& limits) {
  std::vector<FileValue> files;
  if (limits.cpu_units) {
    files.push_back({"cpu.cfs_period_us", std::to_string(kCfsPeriodUs)});
    files.push_back({"cpu.cfs_quota_us", std::to_string(cfs_quota_us(*limits.cpu_units))});
  }
  if (limits.memory_bytes) {
    files.push_back({"memory.limit_in_bytes", std::to_string(*limits.memory_bytes)});
  }
  if (limits.pids) files.push_back({"pids.max", std::to_string(*limits.pids)});
  return files;
}

std::vector<FileValue> v2_task_files(const TaskLimits& limits) {
  std::vector<FileValue> files;
  if (limits.cpu_units) {
    files.push_back({"cpu.max", std::to_string(cfs_quota_us(*limits.cpu_units)) + " " +
                                    std::to_string(kCfsPeriodUs)});
  }
  if (limits.memory_bytes) files.push_back({"memory.max", std::to_string(*limits.memory_bytes)});
  if (limits.pids) files.push_back({"pids.max", std::to_string(*limits.pids)});
  return files;
}

std::vector<FileValue> v1_container_files(const ContainerLimits& limits) {
  std::vector<FileValue> files;
  // Absent cpu keeps the kernel's default of 1024 shares.
  if (limits.cpu_units) {
    files.push_back({"cpu.shares", std::to_string(cpu_shares(*limits.cpu_units))});
  }
  // The hard limit first: memsw must never be below it.
  if (limits.memory_bytes) {
    files.push_back({"memory.limit_in_bytes", std::to_string(*limits.memory_bytes)});
  }
  if (limits.memory_reservation_bytes) {
    files.push_back(
        {"memory.soft_limit_in_bytes", std::to_string(*limits.memory_reservation_bytes)});
  }
  if (limits.max_swap_bytes && limits.memory_bytes) {
    files.push_back({"memory.memsw.limit_in_bytes",
                     std::to_string(*limits.memory_bytes + *limits.max_swap_bytes),
                     /*if_present=*/true});
  }
  if (limits.swappiness) {
    files.push_back({"memory.swappiness", std::to_string(*limits.swappiness)});
  }
  return files;
}

std::vector<FileValue> v2_container_files(const ContainerLimits& limits) {
  std::vector<FileValue> files;
  if (limits.cpu_units) {
    files.push_back(
        {"cpu.weight", std::to_string(cpu_weight_from_shares(cpu_shares(*limits.cpu_units)))});
  }
  if (limits.memory_bytes) files.push_back({"memory.max", std::to_string(*limits.memory_bytes)});
  if (limits.memory_reservation_bytes) {
    files.push_back({"memory.low", std::to_string(*limits.memory_reservation_bytes)});
  }
  // v2 limits swap alone, not memory+swap; the file is missing without
  // swap accounting.
  if (limits.max_swap_bytes) {
    files.push_back(
        {"memory.swap.max", std::to_string(*limits.max_swap_bytes), /*if_present=*/true});
  }
  // No swappiness: cgroup v2 has no per-cgroup memory.swappiness.
  return files;
}

}  // namespace berth::cgroups
