// The /metrics page: cAdvisor's container families from a usage sample,
// berth's own (tasks by status, start and pull durations, health checks,
// the control plane's state when there is one) and the process_* families.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "agent/engine/engine.h"
#include "agent/metrics/agent_metrics.h"
#include "agent/metrics/exposition.h"
#include "agent/stats/usage.h"
#include "controlplane/node/node_agent.h"

namespace berth::agent {

struct ScrapeSources {
  Engine* engine = nullptr;
  UsageSampler* sampler = nullptr;
  const metrics::AgentMetrics* agent = nullptr;
  // More families (the control plane's, the metadata endpoint's), written
  // after berth's own.
  std::vector<std::function<void(metrics::Exposition&)>> more;
};

std::string scrape(const ScrapeSources& sources);

// berth_controlplane_* families from the node agent's state.
void render_fleet(const controlplane::NodeAgent::Health& health, metrics::Exposition& out);

}  // namespace berth::agent
