#include "cgroups/stats.h"

#include <charconv>
#include <limits>
#include <string>

#include "cgroups/cgroupfs.h"
#include "cgroups/limits.h"

namespace berth::cgroups {
namespace {

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  return text;
}

}  // namespace

std::optional<uint64_t> v1_memory_limit(uint64_t bytes) {
  if (bytes >= kV1UnlimitedMemoryBytes) return std::nullopt;
  return bytes;
}

Result<std::optional<uint64_t>> parse_max_or_number(std::string_view text, std::string_view what) {
  text = trimmed(text);
  if (text == "max") return std::optional<uint64_t>();
  return std::optional<uint64_t>(BERTH_TRY(parse_number(text, what)));
}

Result<int64_t> parse_cfs_quota(std::string_view text, std::string_view what) {
  text = trimmed(text);
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || (value < 0 && value != -1)) {
    return fail(ErrorCode::kDataLoss, std::string(what) + ": '" + std::string(text) +
                                          "' is neither -1 nor a quota in microseconds");
  }
  return value;
}

Result<CpuMax> parse_cpu_max(std::string_view text, std::string_view what) {
  text = trimmed(text);
  size_t space = text.find(' ');
  std::string_view quota = text.substr(0, space);
  CpuMax max;
  max.period_us = kCfsPeriodUs;
  if (space != std::string_view::npos) {
    max.period_us = BERTH_TRY(parse_number(trimmed(text.substr(space + 1)), what));
  }
  if (quota != "max") {
    uint64_t quota_us = BERTH_TRY(parse_number(quota, what));
    if (quota_us > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return fail(ErrorCode::kDataLoss,
                  std::string(what) + ": quota '" + std::string(quota) + "' is out of range");
    }
    max.quota_us = static_cast<int64_t>(quota_us);
  }
  return max;
}

uint64_t working_set_bytes(uint64_t usage, uint64_t inactive_file) {
  return usage < inactive_file ? 0 : usage - inactive_file;
}

uint64_t ticks_to_ns(uint64_t ticks, uint64_t ticks_per_second) {
  if (ticks_per_second == 0) return 0;
  constexpr uint64_t kNsPerSecond = 1'000'000'000;
  // Exact for the usual 100 Hz; the split keeps ticks * 1e9 from overflowing.
  return ticks / ticks_per_second * kNsPerSecond +
         ticks % ticks_per_second * kNsPerSecond / ticks_per_second;
}

}  // namespace berth::cgroups
