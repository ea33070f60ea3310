#include "agent/stats/usage.h"

#include <sys/sysinfo.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

namespace berth::agent {

uint64_t system_cpu_ns() {
  // "cpu  user nice system idle iowait irq softirq steal ..." in USER_HZ.
  std::ifstream in("/proc/stat");
  std::string label;
  in >> label;
  if (label != "cpu") return 0;
  uint64_t total = 0;
  for (int i = 0; i < 8; ++i) {
    uint64_t value = 0;
    if (!(in >> value)) break;
    total += value;
  }
  const auto ticks = static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  return ticks == 0 ? 0 : total * (1'000'000'000 / ticks);
}

uint64_t host_memory_bytes() {
  struct sysinfo info {};
  if (::sysinfo(&info) != 0) return 0;
  return static_cast<uint64_t>(info.totalram) * info.mem_unit;
}

unsigned online_cpus() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1;
}

UsageSampler::UsageSampler(Engine& engine, const cgroups::CgroupManager& cgroups,
                           const Clock& clock, std::chrono::milliseconds max_age)
    : engine_(engine), cgroups_(cgroups), clock_(clock), max_age_(max_age) {
  subscription_ = engine_.subscribe([this](const EngineEvent& event) {
    if (event.status == "RUNNING" || event.status == "STOPPED" || event.status == "REMOVED") {
      stale_ = true;
    }
  });
}

UsageSampler::~UsageSampler() { engine_.unsubscribe(subscription_); }

std::shared_ptr<const UsageSample> UsageSampler::sample() {
  std::lock_guard lock(mu_);
  const auto now = clock_.steady();
  const bool stale = stale_.exchange(false);
  if (last_ && now - last_at_ < max_age_ && !stale) return last_;
  last_ = take(last_.get());
  last_at_ = now;
  return last_;
}

std::shared_ptr<const UsageSample> UsageSampler::take(const UsageSample* previous) {
  auto out = std::make_shared<UsageSample>();
  out->at_ms = clock_.wall_ms();
  out->system_cpu_ns = system_cpu_ns();
  out->online_cpus = online_cpus();
  std::map<std::string, std::pair<cgroups::TaskStats, int64_t>> before;
  if (previous) {
    out->previous_system_cpu_ns = previous->system_cpu_ns;
    for (const auto& task : previous->tasks) {
      for (const auto& c : task.containers) {
        if (c.sampled) before[c.containerd_id] = {c.cgroup, previous->at_ms};
      }
    }
  }
  // One read of a namespace's counters per sample, however many containers
  // share it.
  std::map<std::string, std::vector<netns::InterfaceCounters>> counters;
  auto networks_of = [&](const std::optional<NetworkAttachment>& network) {
    std::vector<netns::InterfaceCounters> none;
    if (!network || network->netns.empty()) return none;
    auto it = counters.find(network->netns);
    if (it == counters.end()) {
      auto read = netns::interface_counters(network->netns);
      it = counters.emplace(network->netns, read ? std::move(*read) : none).first;
    }
    return it->second;
  };
  for (auto& view : engine_.list(false)) {
    if (!view.spec) continue;  // quarantined
    TaskUsage task;
    task.cgroup_path = cgroups_.task_cgroup(view.record.id);
    if (auto stats = cgroups_.stats(view.record.id); stats) {
      task.sampled = true;
      task.cgroup = *stats;
    }
    task.networks = networks_of(view.record.network);
    for (const auto& record : view.record.containers) {
      if (record.status != TaskStatus::kRunning) continue;
      ContainerUsage c;
      c.name = record.name;
      c.containerd_id = record.containerd_id;
      c.cgroup_path = cgroups_.container_cgroup(view.record.id, record.containerd_id);
      if (auto stats = cgroups_.container_stats(view.record.id, record.containerd_id); stats) {
        c.sampled = true;
        c.cgroup = *stats;
      }
      if (auto it = before.find(c.containerd_id); it != before.end()) {
        c.previous = it->second.first;
        c.previous_at_ms = it->second.second;
      }
      c.networks = record.network ? networks_of(record.network) : task.networks;
      task.containers.push_back(std::move(c));
    }
    task.view = std::move(view);
    out->tasks.push_back(std::move(task));
  }
  return out;
}

}  // namespace berth::agent
