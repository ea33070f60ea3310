// What a task takes from the node, and the cgroup limits and OCI resources
// its definition asks for. Pure but for host_resources(), which reads the
// host's CPU count and /proc/meminfo.
#pragma once

#include <cstdint>
#include <string>

#include "agent/taskdef/taskdef.h"
#include "cgroups/limits.h"
#include "common/error.h"
#include "runtime/spec_settings.h"

namespace berth::agent {

struct Resources {
  uint64_t cpu_units = 0;  // 1024 per CPU
  uint64_t memory_bytes = 0;
  bool operator==(const Resources&) const = default;
};

// The node as tasks see it: what it has, and what stays for the system and
// berthd (ECS_RESERVED_MEMORY, the kubelet's system-reserved).
struct NodeResources {
  Resources total;
  Resources reserved;
  // total less reserved (never below zero).
  Resources allocatable() const;
  // allocatable less what the tasks take (`used`), never below zero.
  Resources remaining(const Resources& used) const;
};

// The host's CPUs (sched_getaffinity, 1024 units each) and MemTotal from
// `meminfo_path`.
Result<Resources> host_resources(const std::string& meminfo_path = "/proc/meminfo");

// What a task takes, as ECS places tasks: the task-level cpu and memory
// when given, else the sum of its containers' cpu and of each container's
// memoryReservation (or memory when it has none).
Resources task_demand(const TaskDefinition& definition);

// Checks a task against the node before anything is made:
// kInvalidArgument when its cpu is more than the node has at all (no node
// of this size can run it); kFailedPrecondition "RESOURCE:CPU" or
// "RESOURCE:MEMORY" when it does not fit in what the running tasks (`used`)
// leave.
Status admit(const Resources& demand, const NodeResources& node, const Resources& used);

// The task cgroup's limits: task cpu as a CFS quota, task memory as the hard
// limit, `pids_limit` (0: none).
cgroups::TaskLimits task_limits(const TaskDefinition& definition, uint64_t pids_limit);

// A container cgroup's settings for the runtime's OCI spec. `cgroup_v2`:
// no swappiness (v2 has none). `limits_swap`: whether maxSwap can be
// enforced (v1 swap accounting); maxSwap needs a memory limit, the
// container's or else the task's.
runtime::ResourceSettings container_resources(const TaskDefinition& definition,
                                              const ContainerDefinition& container, bool cgroup_v2,
                                              bool limits_swap);

// "512 MiB", "1.5 GiB": for messages.
std::string format_bytes(uint64_t bytes);

}  // namespace berth::agent
