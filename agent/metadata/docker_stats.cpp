#include "agent/metadata/docker_stats.h"

#include <string>
#include <vector>

#include "agent/metadata/v4.h"

namespace berth::agent::metadata {

namespace {

using nlohmann::json;

// Go's zero time.Time, what Docker writes for "preread" before a second read.
constexpr const char* kZeroTime = "0001-01-01T00:00:00Z";

json cpu_stats(const cgroups::TaskStats& stats, uint64_t system_cpu_ns, unsigned online_cpus) {
  return {
      {"cpu_usage",
       {{"total_usage", stats.cpu_usage_ns},
        {"usage_in_kernelmode", stats.cpu_system_ns},
        {"usage_in_usermode", stats.cpu_user_ns}}},
      {"system_cpu_usage", system_cpu_ns},
      {"online_cpus", online_cpus},
      {"throttling_data",
       {{"periods", stats.cpu_periods},
        {"throttled_periods", stats.cpu_throttled_periods},
        {"throttled_time", stats.cpu_throttled_ns}}},
  };
}

json memory_stats(const cgroups::TaskStats& stats, uint64_t machine_memory_bytes) {
  const uint64_t usage = stats.memory_usage_bytes;
  const uint64_t inactive_file =
      usage > stats.memory_working_set_bytes ? usage - stats.memory_working_set_bytes : 0;
  // Docker reports the host's memory for a container without a limit, and
  // never more than it.
  uint64_t limit = machine_memory_bytes;
  if (stats.memory_limit_bytes &&
      (machine_memory_bytes == 0 || *stats.memory_limit_bytes < machine_memory_bytes)) {
    limit = *stats.memory_limit_bytes;
  }
  return {
      {"usage", usage},
      {"max_usage", stats.memory_max_usage_bytes},
      {"failcnt", stats.memory_failcnt},
      {"limit", limit},
      {"stats",
       {
           {"rss", stats.memory_rss_bytes},
           {"total_rss", stats.memory_rss_bytes},
           {"cache", stats.memory_cache_bytes},
           {"total_cache", stats.memory_cache_bytes},
           {"anon", stats.memory_rss_bytes},
           {"file", stats.memory_cache_bytes},
           {"inactive_file", inactive_file},
           {"total_inactive_file", inactive_file},
       }},
  };
}

json blkio_stats() {
  json out = json::object();
  for (const char* key :
       {"io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
        "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
        "io_time_recursive", "sectors_recursive"}) {
    out[key] = nullptr;
  }
  return out;
}

json network_stats(const std::vector<netns::InterfaceCounters>& interfaces) {
  json out = json::object();
  for (const auto& i : interfaces) {
    if (i.name == "lo") continue;
    out[i.name] = {
        {"rx_bytes", i.rx_bytes},     {"rx_packets", i.rx_packets}, {"rx_errors", i.rx_errors},
        {"rx_dropped", i.rx_dropped}, {"tx_bytes", i.tx_bytes},     {"tx_packets", i.tx_packets},
        {"tx_errors", i.tx_errors},   {"tx_dropped", i.tx_dropped},
    };
  }
  return out;
}

}  // namespace

json container_stats_json(const UsageSample& sample, const TaskUsage& task,
                          const ContainerUsage& container, uint64_t machine_memory_bytes) {
  const cgroups::TaskStats& now = container.cgroup;
  json out = {
      {"id", container.containerd_id},
      {"name", "/" + container.containerd_id},
      {"read", rfc3339_ms(sample.at_ms)},
      {"preread", container.previous ? rfc3339_ms(container.previous_at_ms) : kZeroTime},
      {"num_procs", 0},
      {"storage_stats", json::object()},
      {"blkio_stats", blkio_stats()},
      {"cpu_stats", cpu_stats(now, sample.system_cpu_ns, sample.online_cpus)},
      {"precpu_stats",
       container.previous
           ? cpu_stats(*container.previous, sample.previous_system_cpu_ns, sample.online_cpus)
           : cpu_stats(cgroups::TaskStats{}, 0, 0)},
      {"memory_stats", memory_stats(now, machine_memory_bytes)},
  };

  json pids = {{"current", now.pids_current}};
  if (now.pids_limit) pids["limit"] = *now.pids_limit;
  out["pids_stats"] = std::move(pids);

  // The sampler gives an awsvpc container its task's namespace; the task's
  // counters stand in should it not have.
  const bool awsvpc = task.view.record.network_mode == NetworkMode::kAwsvpc;
  const auto& interfaces =
      container.networks.empty() && awsvpc ? task.networks : container.networks;
  if (json networks = network_stats(interfaces); !networks.empty()) {
    out["networks"] = std::move(networks);
  }
  return out;
}

json task_stats_json(const UsageSample& sample, const TaskUsage& task,
                     uint64_t machine_memory_bytes) {
  json out = json::object();
  for (const auto& record : task.view.record.containers) {
    json stats = nullptr;
    if (record.status == TaskStatus::kRunning) {
      for (const auto& usage : task.containers) {
        if (usage.containerd_id == record.containerd_id && usage.sampled) {
          stats = container_stats_json(sample, task, usage, machine_memory_bytes);
          break;
        }
      }
    }
    out[record.containerd_id] = std::move(stats);
  }
  return out;
}

}  // namespace berth::agent::metadata
