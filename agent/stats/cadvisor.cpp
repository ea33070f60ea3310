#include "agent/stats/cadvisor.h"

#include <functional>
#include <optional>
#include <string>

namespace berth::agent {

namespace {

using metrics::Labels;
using metrics::Type;

// One cgroup with its series' labels.
struct Subject {
  Labels labels;
  const cgroups::TaskStats* stats = nullptr;
  const std::vector<netns::InterfaceCounters>* networks = nullptr;  // containers only
  double start_time_seconds = 0;
  uint32_t restarts = 0;
  bool container = false;
};

struct Family {
  const char* name;
  const char* help;
  Type type;
  std::function<std::optional<double>(const cgroups::TaskStats&)> value;
  Labels extra = {};
};

double ns_to_s(uint64_t ns) { return static_cast<double>(ns) / 1e9; }

std::vector<Subject> subjects_of(const UsageSample& sample) {
  std::vector<Subject> out;
  for (const auto& task : sample.tasks) {
    const auto& record = task.view.record;
    const auto& definition = task.view.spec->definition;
    const std::string revision = definition.revision.value_or("");
    if (task.sampled) {
      Subject s;
      s.labels = {{"container", ""},     {"id", task.cgroup_path}, {"image", ""},
                  {"name", ""},          {"task", record.id},      {"family", record.family},
                  {"revision", revision}};
      s.stats = &task.cgroup;
      s.start_time_seconds = static_cast<double>(record.created_at_ms) / 1000;
      out.push_back(std::move(s));
    }
    for (const auto& c : task.containers) {
      if (!c.sampled) continue;
      const ContainerRecord* container = nullptr;
      for (const auto& r : record.containers) {
        if (r.containerd_id == c.containerd_id) container = &r;
      }
      if (!container) continue;
      Subject s;
      s.labels = {{"container", c.name},     {"id", c.cgroup_path}, {"image", container->image},
                  {"name", c.containerd_id}, {"task", record.id},   {"family", record.family},
                  {"revision", revision}};
      s.stats = &c.cgroup;
      s.networks = &c.networks;
      s.start_time_seconds = static_cast<double>(container->started_at_ms) / 1000;
      s.restarts = container->restart_count;
      s.container = true;
      out.push_back(std::move(s));
    }
  }
  return out;
}

const std::vector<Family>& cgroup_families() {
  using S = cgroups::TaskStats;
  auto d = [](uint64_t v) { return std::optional<double>(static_cast<double>(v)); };
  static const std::vector<Family> families = {
      {"container_cpu_usage_seconds_total",
       "Cumulative cpu time consumed in seconds.",
       Type::kCounter,
       [](const S& s) { return std::optional(ns_to_s(s.cpu_usage_ns)); },
       {{"cpu", "total"}}},
      {"container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.",
       Type::kCounter, [](const S& s) { return std::optional(ns_to_s(s.cpu_user_ns)); }},
      {"container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.",
       Type::kCounter, [](const S& s) { return std::optional(ns_to_s(s.cpu_system_ns)); }},
      {"container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.",
       Type::kCounter, [d](const S& s) { return d(s.cpu_periods); }},
      {"container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.",
       Type::kCounter, [d](const S& s) { return d(s.cpu_throttled_periods); }},
      {"container_cpu_cfs_throttled_seconds_total",
       "Total time duration the container has been throttled.", Type::kCounter,
       [](const S& s) { return std::optional(ns_to_s(s.cpu_throttled_ns)); }},
      {"container_memory_usage_bytes",
       "Current memory usage in bytes, including all memory regardless of when it was accessed",
       Type::kGauge, [d](const S& s) { return d(s.memory_usage_bytes); }},
      {"container_memory_working_set_bytes", "Current working set in bytes.", Type::kGauge,
       [d](const S& s) { return d(s.memory_working_set_bytes); }},
      {"container_memory_rss", "Size of RSS in bytes.", Type::kGauge,
       [d](const S& s) { return d(s.memory_rss_bytes); }},
      {"container_memory_cache", "Number of bytes of page cache memory.", Type::kGauge,
       [d](const S& s) { return d(s.memory_cache_bytes); }},
      {"container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes", Type::kGauge,
       [d](const S& s) { return d(s.memory_max_usage_bytes); }},
      // cAdvisor's type is counter, which the format wants named *_total:
      // untyped keeps the name dashboards use and passes promtool.
      {"container_memory_failcnt", "Number of memory usage hits limits", Type::kUntyped,
       [d](const S& s) { return d(s.memory_failcnt); }},
      {"container_oom_events_total", "Count of out of memory events observed for the container",
       Type::kCounter, [d](const S& s) { return d(s.oom_events); }},
      {"container_threads", "Number of threads running inside the container", Type::kGauge,
       [d](const S& s) { return d(s.pids_current); }},
      {"container_threads_max",
       "Maximum number of threads allowed inside the container, infinity if value is zero",
       Type::kGauge, [d](const S& s) { return d(s.pids_limit.value_or(0)); }},
      {"container_spec_cpu_period", "CPU period of the container.", Type::kGauge,
       [d](const S& s) { return d(s.cpu_period_us); }},
      {"container_spec_cpu_quota", "CPU quota of the container.", Type::kGauge,
       [](const S& s) {
         return s.cpu_quota_us < 0 ? std::nullopt
                                   : std::optional(static_cast<double>(s.cpu_quota_us));
       }},
      {"container_spec_cpu_shares", "CPU share of the container.", Type::kGauge,
       [d](const S& s) { return d(s.cpu_shares); }},
      {"container_spec_memory_limit_bytes", "Memory limit for the container.", Type::kGauge,
       [d](const S& s) { return d(s.memory_limit_bytes.value_or(0)); }},
  };
  return families;
}

struct NetFamily {
  const char* name;
  const char* help;
  uint64_t netns::InterfaceCounters::*field;
};

const NetFamily kNetFamilies[] = {
    {"container_network_receive_bytes_total", "Cumulative count of bytes received",
     &netns::InterfaceCounters::rx_bytes},
    {"container_network_receive_packets_total", "Cumulative count of packets received",
     &netns::InterfaceCounters::rx_packets},
    {"container_network_receive_errors_total",
     "Cumulative count of errors encountered while receiving",
     &netns::InterfaceCounters::rx_errors},
    {"container_network_receive_packets_dropped_total",
     "Cumulative count of packets dropped while receiving", &netns::InterfaceCounters::rx_dropped},
    {"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted",
     &netns::InterfaceCounters::tx_bytes},
    {"container_network_transmit_packets_total", "Cumulative count of packets transmitted",
     &netns::InterfaceCounters::tx_packets},
    {"container_network_transmit_errors_total",
     "Cumulative count of errors encountered while transmitting",
     &netns::InterfaceCounters::tx_errors},
    {"container_network_transmit_packets_dropped_total",
     "Cumulative count of packets dropped while transmitting",
     &netns::InterfaceCounters::tx_dropped},
};

Labels with(const Labels& base, const Labels& extra) {
  Labels out = base;
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

}  // namespace

void render_cadvisor(const UsageSample& sample, metrics::Exposition& out) {
  const auto subjects = subjects_of(sample);
  for (const auto& family : cgroup_families()) {
    out.family(family.name, family.help, family.type);
    for (const auto& s : subjects) {
      if (auto value = family.value(*s.stats)) out.sample(with(s.labels, family.extra), *value);
    }
  }
  for (const auto& family : kNetFamilies) {
    out.family(family.name, family.help, Type::kCounter);
    for (const auto& s : subjects) {
      if (!s.networks) continue;
      for (const auto& link : *s.networks) {
        out.sample(with(s.labels, {{"interface", link.name}}),
                   static_cast<double>(link.*family.field));
      }
    }
  }
  out.family("container_start_time_seconds",
             "Start time of the container since unix epoch in seconds.", Type::kGauge);
  for (const auto& s : subjects) out.sample(s.labels, s.start_time_seconds);
  out.family("berth_container_restarts_total", "Times the restart policy restarted the container.",
             Type::kCounter);
  for (const auto& s : subjects) {
    if (s.container) out.sample(s.labels, s.restarts);
  }
}

void render_task_counts(const std::vector<TaskView>& tasks, metrics::Exposition& out) {
  const TaskStatus all[] = {TaskStatus::kPending, TaskStatus::kPulled, TaskStatus::kCreated,
                            TaskStatus::kRunning, TaskStatus::kStopped};
  std::map<TaskStatus, size_t> task_counts;
  std::map<TaskStatus, size_t> container_counts;
  size_t quarantined = 0;
  for (const auto& view : tasks) {
    if (!view.quarantine_reason.empty()) {
      ++quarantined;
      continue;
    }
    ++task_counts[view.record.known];
    for (const auto& c : view.record.containers) ++container_counts[c.status];
  }
  out.family("berth_tasks", "Tasks on the node by known status.", Type::kGauge);
  for (auto status : all) {
    out.sample({{"status", std::string(status_name(status))}},
               static_cast<double>(task_counts[status]));
  }
  out.sample({{"status", "QUARANTINED"}}, static_cast<double>(quarantined));
  out.family("berth_containers", "Task containers on the node by known status.", Type::kGauge);
  for (auto status : all) {
    out.sample({{"status", std::string(status_name(status))}},
               static_cast<double>(container_counts[status]));
  }
}

}  // namespace berth::agent
