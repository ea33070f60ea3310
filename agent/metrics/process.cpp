// process_* metrics from /proc/self.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "agent/metrics/agent_metrics.h"
#include "common/file.h"

namespace berth::metrics {

namespace {

// /proc/stat's btime: the boot time in seconds since the epoch.
double boot_time() {
  std::istringstream in(read_file("/proc/stat").value_or(""));
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime" && in >> value) return value;
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

}  // namespace

void render_process(Exposition& out) {
  // /proc/self/stat: the fields after the command (which is in parentheses
  // and may hold spaces), counted from field 3 (state).
  std::string stat = read_file("/proc/self/stat").value_or("");
  auto close = stat.rfind(')');
  if (close != std::string::npos) {
    std::istringstream in(stat.substr(close + 2));
    std::vector<std::string> fields;
    std::string field;
    while (in >> field) fields.push_back(field);
    // utime is field 14, stime 15, num_threads 20, starttime 22, vsize 23,
    // rss 24; fields[0] is field 3.
    if (fields.size() > 21) {
      const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
      const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
      auto num = [&](size_t field_number) {
        return std::strtod(fields[field_number - 3].c_str(), nullptr);
      };
      out.family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                 Type::kCounter);
      out.sample({}, (num(14) + num(15)) / ticks);
      out.family("process_resident_memory_bytes", "Resident memory size in bytes.", Type::kGauge);
      out.sample({}, num(24) * page);
      out.family("process_virtual_memory_bytes", "Virtual memory size in bytes.", Type::kGauge);
      out.sample({}, num(23));
      out.family("process_start_time_seconds",
                 "Start time of the process since unix epoch in seconds.", Type::kGauge);
      out.sample({}, boot_time() + num(22) / ticks);
      out.family("berth_process_threads", "Threads of berthd.", Type::kGauge);
      out.sample({}, num(20));
    }
  }
  std::error_code ec;
  size_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  if (!ec) {
    out.family("process_open_fds", "Number of open file descriptors.", Type::kGauge);
    out.sample({}, static_cast<double>(fds));
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    out.family("process_max_fds", "Maximum number of open file descriptors.", Type::kGauge);
    out.sample({}, static_cast<double>(limit.rlim_cur));
  }
}

}  // namespace berth::metrics
