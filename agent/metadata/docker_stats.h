// Docker's container stats JSON (GET /containers/{id}/stats?stream=false,
// what the ECS task metadata endpoint v4 serves at .../stats and
// .../task/stats), built from a usage sample (agent/stats/usage.h). Pure
// functions but for the host memory default below.
//
// The fields are Docker's names, and every one Docker's clients read is
// there, 0 when berth has no figure (Docker's encoder would leave some of
// them out); blkio_stats holds Docker's keys with no entries (null, as
// Docker writes an empty list). What the sample does not give:
//   memory_stats.limit  the cgroup's limit, or the host's memory when the
//                       container has none (or a larger one), as Docker does.
//   memory_stats.stats  rss/cache/inactive_file under their cgroup v1 and v2
//                       names ("total_inactive_file", "inactive_file": usage
//                       less the working set), so that clients of either
//                       flavour compute the same figures.
//   precpu_stats        the previous sample's counters; all zeros without
//                       one, and "preread" is then Go's zero time
//                       "0001-01-01T00:00:00Z", as on Docker's first read.
//   networks            the interfaces of the namespace the container is in
//                       (loopback left out); none for host mode.
// "network_rate_stats" (ECS's per-second rates) is not given: the sample
// keeps no previous network counters.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "agent/stats/usage.h"

namespace berth::agent::metadata {

// One container's stats. A container the sample has no counters for
// (`sampled` false) shows zeros.
nlohmann::json container_stats_json(const UsageSample& sample, const TaskUsage& task,
                                    const ContainerUsage& container,
                                    uint64_t machine_memory_bytes = host_memory_bytes());

// {"<DockerId>": stats, ...} for every container of the task; one that is
// not RUNNING, or has no counters in this sample, maps to null.
nlohmann::json task_stats_json(const UsageSample& sample, const TaskUsage& task,
                               uint64_t machine_memory_bytes = host_memory_bytes());

}  // namespace berth::agent::metadata
