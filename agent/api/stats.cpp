// WatchStats: what the tasks' containers use, streamed from the usage
// sampler (agent/stats/usage.h).
#include <algorithm>
#include <set>
#include <thread>

#include "agent/api/server.h"
#include "agent/engine/engine.h"
#include "agent/stats/usage.h"

namespace berth::agent {

namespace {

constexpr uint32_t kDefaultIntervalMs = 1000;
// The sampler keeps a sample for a second: a shorter interval would repeat it.
constexpr uint32_t kMinIntervalMs = 1000;

bool wanted(const TaskView& view, const std::vector<std::string>& filters) {
  if (filters.empty()) return true;
  return std::ranges::any_of(filters, [&](const std::string& f) {
    return view.record.id.starts_with(f) || view.record.name == f;
  });
}

}  // namespace

v1::StatsSample stats_to_proto(const UsageSample& sample, const std::vector<std::string>& tasks) {
  v1::StatsSample out;
  out.set_at_ms(sample.at_ms);
  const uint64_t node_memory = host_memory_bytes();
  for (const auto& task : sample.tasks) {
    if (!wanted(task.view, tasks)) continue;
    for (const auto& c : task.containers) {
      if (!c.sampled) continue;
      auto* s = out.add_containers();
      s->set_task_id(task.view.record.id);
      s->set_task_name(task.view.record.name);
      s->set_container(c.name);
      s->set_containerd_id(c.containerd_id);
      const auto& now = c.cgroup;
      if (c.previous && sample.at_ms > c.previous_at_ms &&
          now.cpu_usage_ns >= c.previous->cpu_usage_ns) {
        const double used = static_cast<double>(now.cpu_usage_ns - c.previous->cpu_usage_ns);
        const double wall = static_cast<double>(sample.at_ms - c.previous_at_ms) * 1e6;
        s->set_cpu_percent(100.0 * used / wall);
      }
      s->set_cpu_usage_ns(now.cpu_usage_ns);
      s->set_cpu_throttled_periods(now.cpu_throttled_periods);
      s->set_cpu_throttled_ns(now.cpu_throttled_ns);
      s->set_memory_usage_bytes(now.memory_usage_bytes);
      s->set_memory_working_set_bytes(now.memory_working_set_bytes);
      uint64_t limit = now.memory_limit_bytes.value_or(0);
      if (limit == 0 && task.sampled) limit = task.cgroup.memory_limit_bytes.value_or(0);
      if (limit == 0 || (node_memory && limit > node_memory)) limit = node_memory;
      s->set_memory_limit_bytes(limit);
      if (limit > 0) {
        s->set_memory_percent(100.0 * static_cast<double>(now.memory_working_set_bytes) /
                              static_cast<double>(limit));
      }
      s->set_pids(now.pids_current);
      s->set_oom_events(now.oom_events);
      for (const auto& link : c.networks) {
        auto* n = s->add_networks();
        n->set_name(link.name);
        n->set_rx_bytes(link.rx_bytes);
        n->set_rx_packets(link.rx_packets);
        n->set_rx_errors(link.rx_errors);
        n->set_rx_dropped(link.rx_dropped);
        n->set_tx_bytes(link.tx_bytes);
        n->set_tx_packets(link.tx_packets);
        n->set_tx_errors(link.tx_errors);
        n->set_tx_dropped(link.tx_dropped);
      }
    }
  }
  return out;
}

grpc::Status ApiService::WatchStats(grpc::ServerContext* ctx, const v1::WatchStatsRequest* request,
                                    grpc::ServerWriter<v1::StatsSample>* writer) {
  if (!sampler_) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no stats on this berthd");
  std::vector<std::string> tasks(request->tasks().begin(), request->tasks().end());
  // Names and prefixes that match no task are an error, as docker stats has.
  for (const auto& task : tasks) {
    if (auto view = engine_.describe(task); !view) return to_grpc(view.error());
  }
  const auto interval = std::chrono::milliseconds(std::max(
      kMinIntervalMs, request->interval_ms() == 0 ? kDefaultIntervalMs : request->interval_ms()));
  auto next = std::chrono::steady_clock::now();
  while (!ctx->IsCancelled()) {
    auto sample = sampler_->sample();
    if (!writer->Write(stats_to_proto(*sample, tasks))) break;
    next += interval;
    // Wake often enough to notice a client that went.
    while (!ctx->IsCancelled() && std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          std::chrono::milliseconds(100), next - std::chrono::steady_clock::now()));
    }
  }
  return grpc::Status::OK;
}

}  // namespace berth::agent
