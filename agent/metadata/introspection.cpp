#include "agent/metadata/introspection.h"

namespace berth::agent::metadata {

namespace {

http::Response ok(const nlohmann::json& body) { return http::json_response(200, body.dump()); }

// The ECS agent's introspection shape of a task.
nlohmann::json task_entry(const TaskView& view, const NodeFacts& facts) {
  const auto& r = view.record;
  nlohmann::json task = {{"Arn", task_arn(facts, r.id)},
                         {"DesiredStatus", status_name(r.desired)},
                         {"KnownStatus", status_name(r.known)},
                         {"Family", r.family},
                         {"Version", view.spec ? view.spec->definition.revision.value_or("") : ""},
                         {"Containers", nlohmann::json::array()}};
  if (!view.quarantine_reason.empty()) task["QuarantineReason"] = view.quarantine_reason;
  for (const auto& c : r.containers) {
    nlohmann::json container = {
        {"DockerId", c.containerd_id}, {"DockerName", c.containerd_id}, {"Name", c.name}};
    const auto& network = c.network ? c.network : r.network;
    if (network) {
      container["Networks"] =
          nlohmann::json::array({{{"NetworkMode", network_mode_name(r.network_mode)},
                                  {"IPv4Addresses", network->addresses}}});
    }
    task["Containers"].push_back(std::move(container));
  }
  return task;
}

}  // namespace

http::Response introspect(const IntrospectionSources& sources, const http::Request& request) {
  std::string path = request.path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path == "/v1/metadata") {
    nlohmann::json out = {{"Cluster", sources.facts.cluster},
                          {"ContainerInstanceArn", nullptr},
                          {"Node", sources.facts.node},
                          {"Version", "berth " + sources.version}};
    if (sources.fleet) out["ControlPlane"] = sources.fleet();
    return ok(out);
  }
  if (path != "/v1/tasks") return http::error_response(404, "no such path: " + request.path);
  std::string by;
  std::string wanted;
  if (!request.query.empty()) {
    auto eq = request.query.find('=');
    by = request.query.substr(0, eq);
    wanted = eq == std::string::npos ? "" : request.query.substr(eq + 1);
    if ((by != "taskarn" && by != "dockerid") || wanted.empty()) {
      return http::error_response(
          400, "query must be taskarn=ARN or dockerid=ID, not '" + request.query + "'");
    }
  }
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& view : sources.engine->list(true)) {
    if (by.empty()) {
      tasks.push_back(task_entry(view, sources.facts));
      continue;
    }
    bool match = by == "taskarn" ? task_arn(sources.facts, view.record.id) == wanted
                                 : std::ranges::any_of(view.record.containers, [&](const auto& c) {
                                     return c.containerd_id == wanted;
                                   });
    if (match) return ok(task_entry(view, sources.facts));
  }
  if (!by.empty()) return http::error_response(404, "no task with " + by + " '" + wanted + "'");
  return ok({{"Tasks", tasks}});
}

}  // namespace berth::agent::metadata
