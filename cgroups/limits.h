// Task and container resource limits, and their cgroupfs file values for
// v1 and v2. Pure functions: the backends write what these return.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace berth::cgroups {

inline constexpr uint64_t kCpuUnitsPerVcpu = 1024;
inline constexpr uint64_t kCfsPeriodUs = 100000;  // 100 ms
inline constexpr uint64_t kMinCfsQuotaUs = 1000;  // the kernel refuses less
inline constexpr uint64_t kMinCpuShares = 2;      // kernel bounds for cpu.shares
inline constexpr uint64_t kMaxCpuShares = 262144;
inline constexpr uint64_t kMinCpuWeight = 1;  // kernel bounds for cpu.weight
inline constexpr uint64_t kMaxCpuWeight = 10000;
// The smallest memory limit accepted, as Docker does: below it the kernel
// cannot even start the container's init.
inline constexpr uint64_t kMinMemoryBytes = uint64_t{6} * 1024 * 1024;

// Limits of the task cgroup, shared by all its containers.
struct TaskLimits {
  std::optional<uint64_t> cpu_units;     // 1024 = one vCPU; a CFS quota
  std::optional<uint64_t> memory_bytes;  // hard limit
  std::optional<uint64_t> pids;          // pids.max
};

// Limits of one container cgroup, nested in its task's.
struct ContainerLimits {
  std::optional<uint64_t> cpu_units;                 // relative: shares / weight
  std::optional<uint64_t> memory_bytes;              // hard limit
  std::optional<uint64_t> memory_reservation_bytes;  // soft limit
  // ECS linuxParameters.maxSwap (converted from MiB): 0 = no swap, absent =
  // the kernel's default.
  std::optional<uint64_t> max_swap_bytes;
  std::optional<uint64_t> swappiness;  // 0..100, v1 only
};

// One control file to write, relative to the cgroup directory. On v1 the
// controller is the file name's prefix ("cpu.shares" -> cpu).
struct FileValue {
  std::string file;
  std::string value;
  // Written only when the file exists (memory.memsw.* needs swap accounting).
  bool if_present = false;
  bool operator==(const FileValue&) const = default;
};

// cpu units -> CFS quota in microseconds per kCfsPeriodUs.
uint64_t cfs_quota_us(uint64_t cpu_units);
// cpu units -> cpu.shares (clamped to the kernel's bounds).
uint64_t cpu_shares(uint64_t cpu_units);
// cpu.shares -> cpu.weight, the conversion runc and crun use, so that a
// container gets the same weight from berth as from them.
uint64_t cpu_weight_from_shares(uint64_t shares);
// cpu.weight -> cpu.shares, as cAdvisor reports a v2 cgroup's weight
// (container_spec_cpu_shares): 2 + (weight - 1) * 262142 / 9999, weight
// clamped to the kernel's 1..10000. Not an exact inverse of the above (both
// round down): shares 1024 -> weight 39 -> shares 998.
uint64_t cpu_shares_from_weight(uint64_t weight);

// Errors naming the value that is out of range.
Status validate_task_limits(const TaskLimits& limits);
Status validate_container_limits(const ContainerLimits& limits);
// "memory": a limit below kMinMemoryBytes.
Status validate_memory(std::string_view what, uint64_t bytes);

// The file values, in the order they must be written.
std::vector<FileValue> v1_task_files(const TaskLimits& limits);
std::vector<FileValue> v2_task_files(const TaskLimits& limits);
std::vector<FileValue> v1_container_files(const ContainerLimits& limits);
// cgroup v2 has no swappiness: it is ignored there.
std::vector<FileValue> v2_container_files(const ContainerLimits& limits);

}  // namespace berth::cgroups
