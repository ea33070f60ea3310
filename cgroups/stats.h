// Pure parsers of the cgroupfs files that TaskStats is read from, shared by
// the v1 and v2 backends and tested on strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/error.h"

namespace berth::cgroups {

// v1 has no "max": an unlimited memory.limit_in_bytes reads as the kernel's
// PAGE_COUNTER_MAX pages, LONG_MAX rounded down to the page size
// (9223372036854771712 with 4 KiB pages, less with 64 KiB ones). No real
// limit comes near 2^62 bytes (4 EiB), so anything from there up is none.
inline constexpr uint64_t kV1UnlimitedMemoryBytes = uint64_t{1} << 62;

// A v1 memory.limit_in_bytes value; nullopt when it means unlimited.
std::optional<uint64_t> v1_memory_limit(uint64_t bytes);

// "max" -> nullopt, a number -> it: v2 memory.max, pids.max on v1 and v2.
Result<std::optional<uint64_t>> parse_max_or_number(std::string_view text, std::string_view what);

// v1 cpu.cfs_quota_us: -1 (no quota) or a positive number of microseconds.
Result<int64_t> parse_cfs_quota(std::string_view text, std::string_view what);

struct CpuMax {
  int64_t quota_us = -1;  // -1: "max", no quota
  uint64_t period_us = 0;
};

// v2 cpu.max: "max 100000" or "25000 100000" (the period may be left out
// when written, never when read; it defaults to 100000 then).
Result<CpuMax> parse_cpu_max(std::string_view text, std::string_view what);

// Usage less inactive file pages, 0 when they exceed it (the two are read
// at slightly different moments): cAdvisor's working set.
uint64_t working_set_bytes(uint64_t usage, uint64_t inactive_file);

// cpuacct.stat counts USER_HZ ticks: sysconf(_SC_CLK_TCK) per second.
uint64_t ticks_to_ns(uint64_t ticks, uint64_t ticks_per_second);

}  // namespace berth::cgroups
