// A usage sample as the Prometheus families cAdvisor (and the kubelet's
// /metrics/cadvisor) give them, so that dashboards built on those names
// work unchanged. Every series carries `container`, `id` (the cgroup),
// `image`, `name` (containerd's id), `task`, `family` and `revision`; a
// task's own cgroup is a series with container="" as a pod's is.
#pragma once

#include <vector>

#include "agent/engine/engine.h"
#include "agent/metrics/exposition.h"
#include "agent/stats/usage.h"

namespace berth::agent {

void render_cadvisor(const UsageSample& sample, metrics::Exposition& out);

// berth_tasks{status}: the engine's tasks by known status (every status
// appears, 0 included, so that a series never vanishes mid-graph), and
// berth_containers{status}.
void render_task_counts(const std::vector<TaskView>& tasks, metrics::Exposition& out);

}  // namespace berth::agent
