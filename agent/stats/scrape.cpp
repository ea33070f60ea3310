#include "agent/stats/scrape.h"

#include "agent/stats/cadvisor.h"

namespace berth::agent {

std::string scrape(const ScrapeSources& sources) {
  metrics::Exposition out;
  render_cadvisor(*sources.sampler->sample(), out);
  render_task_counts(sources.engine->list(true), out);
  sources.agent->render(out);
  for (const auto& more : sources.more) more(out);
  metrics::render_process(out);
  return out.text();
}

void render_fleet(const controlplane::NodeAgent::Health& health, metrics::Exposition& out) {
  out.family("berth_controlplane_registered",
             "Whether the node's registration lease in etcd is alive (1) or not (0).",
             metrics::Type::kGauge);
  out.sample({{"endpoint", health.endpoint}}, health.registered ? 1 : 0);
  out.family("berth_controlplane_sessions_total",
             "Times the node registered with etcd since berthd started.", metrics::Type::kCounter);
  out.sample({}, static_cast<double>(health.sessions));
  out.family("berth_controlplane_desired_listed",
             "Whether the node has read its desired tasks from etcd (1) or not yet (0).",
             metrics::Type::kGauge);
  out.sample({}, health.desired_listed ? 1 : 0);
}

}  // namespace berth::agent
