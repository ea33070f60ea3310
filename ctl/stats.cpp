#include "ctl/stats.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ctl/tasks.h"

namespace berthctl {

namespace {

std::string scaled(double value, const char* const* units, double step) {
  size_t unit = 0;
  while (value >= step && units[unit + 1] != nullptr) {
    value /= step;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof(buf), "%.0f%s", value, units[0]);
  } else {
    std::snprintf(buf, sizeof(buf), "%.3g%s", value, units[unit]);
  }
  return buf;
}

nlohmann::json container_json(const berth::v1::ContainerStats& c) {
  uint64_t rx = 0;
  uint64_t tx = 0;
  for (const auto& n : c.networks()) {
    rx += n.rx_bytes();
    tx += n.tx_bytes();
  }
  return {{"task", c.task_id()},
          {"taskName", c.task_name()},
          {"container", c.container()},
          {"id", c.containerd_id()},
          {"cpuPercent", c.cpu_percent()},
          {"cpuThrottledPeriods", c.cpu_throttled_periods()},
          {"memoryUsageBytes", c.memory_usage_bytes()},
          {"memoryWorkingSetBytes", c.memory_working_set_bytes()},
          {"memoryLimitBytes", c.memory_limit_bytes()},
          {"memoryPercent", c.memory_percent()},
          {"netRxBytes", rx},
          {"netTxBytes", tx},
          {"pids", c.pids()},
          {"oomEvents", c.oom_events()}};
}

void print_table(const berth::v1::StatsSample& sample) {
  std::printf("%-20s  %-16s  %-7s  %-21s  %-6s  %-19s  %s\n", "TASK", "CONTAINER", "CPU %",
              "MEM USAGE / LIMIT", "MEM %", "NET I/O", "PIDS");
  for (const auto& c : sample.containers()) {
    uint64_t rx = 0;
    uint64_t tx = 0;
    for (const auto& n : c.networks()) {
      rx += n.rx_bytes();
      tx += n.tx_bytes();
    }
    std::string task = c.task_name().empty() ? c.task_id().substr(0, 12) : c.task_name();
    std::string memory =
        binary_bytes(c.memory_working_set_bytes()) + " / " + binary_bytes(c.memory_limit_bytes());
    std::string net = decimal_bytes(rx) + " / " + decimal_bytes(tx);
    std::printf("%-20s  %-16s  %6.2f%%  %-21s  %5.2f%%  %-19s  %llu\n", task.c_str(),
                c.container().c_str(), c.cpu_percent(), memory.c_str(), c.memory_percent(),
                net.c_str(), static_cast<unsigned long long>(c.pids()));
  }
}

}  // namespace

std::string binary_bytes(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", nullptr};
  return scaled(static_cast<double>(bytes), kUnits, 1024);
}

std::string decimal_bytes(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "kB", "MB", "GB", "TB", nullptr};
  return scaled(static_cast<double>(bytes), kUnits, 1000);
}

int task_stats(berth::v1::Berth::Stub& stub, const std::vector<std::string>& tasks, bool no_stream,
               bool json) {
  grpc::ClientContext ctx;
  cancel_on_signal(&ctx);
  berth::v1::WatchStatsRequest request;
  for (const auto& task : tasks) request.add_tasks(task);
  auto stream = stub.WatchStats(&ctx, request);
  const bool redraw = !json && !no_stream && isatty(STDOUT_FILENO);
  berth::v1::StatsSample sample;
  int samples = 0;
  while (stream->Read(&sample)) {
    ++samples;
    // One sample alone has no CPU figure (it is a rate): --no-stream shows
    // the second, as docker stats does.
    if (no_stream && samples < 2) continue;
    if (json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& c : sample.containers()) out.push_back(container_json(c));
      std::cout << (no_stream ? out.dump(2) : out.dump()) << "\n" << std::flush;
    } else {
      // Clear the screen and go home, as docker stats redraws.
      if (redraw) std::fputs("\033[2J\033[H", stdout);
      print_table(sample);
      std::fflush(stdout);
    }
    if (no_stream) {
      ctx.TryCancel();
      break;
    }
  }
  auto status = stream->Finish();
  if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
    return report(status, "stats");
  }
  return 0;
}

}  // namespace berthctl
