#include "agent/engine/admission.h"

#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace berth::agent {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

uint64_t minus(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

std::string cpus(uint64_t units) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", static_cast<double>(units) / 1024.0);
  return text;
}

}  // namespace

Resources NodeResources::allocatable() const {
  return {minus(total.cpu_units, reserved.cpu_units),
          minus(total.memory_bytes, reserved.memory_bytes)};
}

Resources NodeResources::remaining(const Resources& used) const {
  Resources have = allocatable();
  return {minus(have.cpu_units, used.cpu_units), minus(have.memory_bytes, used.memory_bytes)};
}

std::string format_bytes(uint64_t bytes) {
  if (bytes >= (uint64_t{1} << 30) && bytes % (uint64_t{1} << 30) != 0) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f GiB", static_cast<double>(bytes) / (1 << 30));
    return text;
  }
  if (bytes % (uint64_t{1} << 30) == 0 && bytes > 0) {
    return std::to_string(bytes >> 30) + " GiB";
  }
  return std::to_string(bytes / kMiB) + " MiB";
}

Result<Resources> host_resources(const std::string& meminfo_path) {
  Resources host;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) {
    return fail_errno("count the CPUs berthd may use (sched_getaffinity)");
  }
  host.cpu_units = static_cast<uint64_t>(CPU_COUNT(&set)) * cgroups::kCpuUnitsPerVcpu;
  std::ifstream in(meminfo_path);
  if (!in) return fail(ErrorCode::kNotFound, "cannot read '" + meminfo_path + "'");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("MemTotal:")) continue;
    std::istringstream fields(line.substr(9));
    uint64_t kib = 0;
    std::string unit;
    if (!(fields >> kib >> unit) || unit != "kB") {
      return fail(ErrorCode::kDataLoss, "'" + meminfo_path + "': cannot read '" + line + "'");
    }
    host.memory_bytes = kib * 1024;
    return host;
  }
  return fail(ErrorCode::kDataLoss, "'" + meminfo_path + "' has no MemTotal");
}

Resources task_demand(const TaskDefinition& definition) {
  Resources demand;
  for (const auto& c : definition.containers) {
    demand.cpu_units += c.cpu.value_or(0);
    demand.memory_bytes += c.memory_reservation_mib.value_or(c.memory_mib.value_or(0)) * kMiB;
  }
  if (definition.cpu) demand.cpu_units = *definition.cpu;
  if (definition.memory_mib) demand.memory_bytes = *definition.memory_mib * kMiB;
  return demand;
}

Status admit(const Resources& demand, const NodeResources& node, const Resources& used) {
  Resources allocatable = node.allocatable();
  if (demand.cpu_units > node.total.cpu_units) {
    return fail(ErrorCode::kInvalidArgument,
                "cpu: the task asks for " + std::to_string(demand.cpu_units) +
                    " CPU units, more than this node's " + std::to_string(node.total.cpu_units) +
                    " (" + cpus(node.total.cpu_units) + " CPUs)");
  }
  Resources left = node.remaining(used);
  if (demand.cpu_units > left.cpu_units) {
    return fail(ErrorCode::kFailedPrecondition,
                "RESOURCE:CPU: the task needs " + std::to_string(demand.cpu_units) +
                    " CPU units; the node has " + std::to_string(left.cpu_units) + " left of " +
                    std::to_string(allocatable.cpu_units));
  }
  if (demand.memory_bytes > left.memory_bytes) {
    return fail(ErrorCode::kFailedPrecondition,
                "RESOURCE:MEMORY: the task needs " + format_bytes(demand.memory_bytes) +
                    "; the node has " + format_bytes(left.memory_bytes) + " left of " +
                    format_bytes(allocatable.memory_bytes));
  }
  return {};
}

cgroups::TaskLimits task_limits(const TaskDefinition& definition, uint64_t pids_limit) {
  cgroups::TaskLimits limits;
  if (definition.cpu) limits.cpu_units = *definition.cpu;
  if (definition.memory_mib) limits.memory_bytes = *definition.memory_mib * kMiB;
  if (pids_limit > 0) limits.pids = pids_limit;
  return limits;
}

runtime::ResourceSettings container_resources(const TaskDefinition& definition,
                                              const ContainerDefinition& container, bool cgroup_v2,
                                              bool limits_swap) {
  runtime::ResourceSettings r;
  if (container.cpu) r.cpu_shares = cgroups::cpu_shares(*container.cpu);
  if (container.memory_mib) r.memory_limit = static_cast<int64_t>(*container.memory_mib * kMiB);
  if (container.memory_reservation_mib) {
    r.memory_reservation = static_cast<int64_t>(*container.memory_reservation_mib * kMiB);
  }
  const auto& lp = container.linux_parameters;
  if (lp && lp->max_swap_mib && limits_swap) {
    std::optional<uint64_t> memory =
        container.memory_mib ? container.memory_mib : definition.memory_mib;
    if (memory) {
      // The OCI value is memory plus swap; a container that has no limit of
      // its own gets the task's, which it could not pass anyway.
      r.memory_limit = static_cast<int64_t>(*memory * kMiB);
      r.memory_swap =
          static_cast<int64_t>((*memory + static_cast<uint64_t>(*lp->max_swap_mib)) * kMiB);
    }
  }
  if (lp && lp->swappiness && !cgroup_v2) r.swappiness = static_cast<uint64_t>(*lp->swappiness);
  return r;
}

}  // namespace berth::agent
