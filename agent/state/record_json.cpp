#include "agent/state/record_json.h"

namespace berth::agent {

namespace {

using nlohmann::json;

constexpr int kVersion = 2;

json resource_to_json(const Resource& resource) {
  json out = {{"phase", phase_name(resource.phase)}};
  if (!resource.reason.empty()) out["reason"] = resource.reason;
  return out;
}

// The readers below throw nlohmann::json::exception (or std::invalid_argument
// for a bad enum name); task_from_json turns either into an error.
template <typename Enum>
Enum enum_at(const json& j, const char* key, std::optional<Enum> (*parse)(std::string_view)) {
  auto name = j.at(key).get<std::string>();
  auto value = parse(name);
  if (!value) throw std::invalid_argument(std::string(key) + ": unknown value '" + name + "'");
  return *value;
}

Resource resource_from_json(const json& j) {
  return {enum_at<Phase>(j, "phase", parse_phase), j.value("reason", "")};
}

NetworkAttachment attachment_from_json(const json& j) {
  NetworkAttachment network;
  network.netns = j.value("netns", "");
  network.interface = j.value("interface", "");
  network.addresses = j.value("addresses", std::vector<std::string>{});
  network.gateway = j.value("gateway", "");
  network.eni = j.value("eni", "");
  for (const auto& p : j.value("ports", json::array())) {
    network.ports.push_back({p.at("containerPort").get<uint32_t>(),
                             p.at("hostPort").get<uint32_t>(), p.value("protocol", "tcp")});
  }
  return network;
}

NetworkMode network_mode_from(const json& j) {
  auto name = j.value("networkMode", "bridge");
  auto mode = parse_network_mode(name);
  if (!mode) throw std::invalid_argument("networkMode: unknown value '" + name + "'");
  return *mode;
}

// Fields both versions share.
void read_common(const json& j, TaskRecord& task) {
  task.id = j.at("id").get<std::string>();
  task.name = j.at("name").get<std::string>();
  task.family = j.at("family").get<std::string>();
  task.definition_json = j.at("definition").get<std::string>();
  task.desired = enum_at<TaskStatus>(j, "desired", parse_status);
  task.known = enum_at<TaskStatus>(j, "known", parse_status);
  task.stop_code = j.value("stopCode", "");
  task.stopped_reason = j.value("stoppedReason", "");
  task.created_at_ms = j.value("createdAt", int64_t{0});
  task.started_at_ms = j.value("startedAt", int64_t{0});
  task.stopped_at_ms = j.value("stoppedAt", int64_t{0});
  task.manifest = j.value("manifest", "");
  task.manifest_digest = j.value("manifestDigest", "");
  task.network_mode = network_mode_from(j);
}

void read_common(const json& j, ContainerRecord& c) {
  c.name = j.at("name").get<std::string>();
  c.containerd_id = j.at("containerdId").get<std::string>();
  c.image = j.value("image", "");
  c.image_digest = j.value("imageDigest", "");
  c.pid = j.value("pid", 0U);
  if (j.contains("exitCode")) c.exit_code = j.at("exitCode").get<int>();
  c.reason = j.value("reason", "");
  c.pulled_at_ms = j.value("pulledAt", int64_t{0});
  c.started_at_ms = j.value("startedAt", int64_t{0});
  c.stopped_at_ms = j.value("stoppedAt", int64_t{0});
  c.stop_signalled_at_ms = j.value("stopSignalledAt", int64_t{0});
  c.killed = j.value("killed", false);
  c.oom_killed = j.value("oomKilled", false);
  c.restart_count = j.value("restartCount", 0U);
  c.last_restart_at_ms = j.value("lastRestartAt", int64_t{0});
  c.health = parse_health(j.value("health", "UNKNOWN")).value_or(Health::kUnknown);
  c.health_output = j.value("healthOutput", "");
  c.health_failures = j.value("healthFailures", 0U);
}

TaskRecord read_v2(const json& j) {
  TaskRecord task;
  read_common(j, task);
  task.foreground = j.value("foreground", false);
  task.remove_on_exit = j.value("removeOnExit", false);
  const json& resources = j.at("resources");
  if (resources.contains("network"))
    task.network_resource = resource_from_json(resources["network"]);
  task.cgroup = resource_from_json(resources.at("cgroup"));
  if (resources.contains("sandbox")) task.sandbox = resource_from_json(resources["sandbox"]);
  if (j.contains("network")) task.network = attachment_from_json(j["network"]);
  task.eni = j.value("eni", "");
  task.sandbox_id = j.value("sandboxId", "");
  task.sandbox_pid = j.value("sandboxPid", 0U);
  for (const auto& cj : j.at("containers")) {
    ContainerRecord c;
    read_common(cj, c);
    c.status = enum_at<TaskStatus>(cj, "status", parse_status);
    c.restart_pending = cj.value("restartPending", false);
    const json& r = cj.at("resources");
    c.image_resource = resource_from_json(r.at("image"));
    if (r.contains("network")) c.network_resource = resource_from_json(r["network"]);
    c.runtime = resource_from_json(r.at("container"));
    if (cj.contains("network")) c.network = attachment_from_json(cj["network"]);
    task.containers.push_back(std::move(c));
  }
  return task;
}

// Version 1 kept a status, "creating" and "removed" per thing; the phase
// follows from them.
Phase v1_phase(bool creating, bool removed, bool exists) {
  if (creating) return Phase::kCreating;
  if (removed) return Phase::kReleased;
  return exists ? Phase::kReady : Phase::kPending;
}

TaskRecord read_v1(const json& j) {
  TaskRecord task;
  read_common(j, task);
  bool stopped = task.known == TaskStatus::kStopped;
  if (j.contains("network")) {
    const json& n = j["network"];
    auto known = enum_at<TaskStatus>(n, "known", parse_status);
    task.network_resource =
        Resource{v1_phase(n.value("creating", false), n.value("removed", false) || stopped,
                          known == TaskStatus::kRunning),
                 n.value("reason", "")};
    if (known == TaskStatus::kRunning) task.network = attachment_from_json(n);
    task.eni = n.value("eni", "");
  }
  task.cgroup.phase = j.value("cgroupRemoved", false) || stopped ? Phase::kReleased : Phase::kReady;
  if (j.contains("sandbox")) {
    const json& s = j["sandbox"];
    auto known = enum_at<TaskStatus>(s, "known", parse_status);
    task.sandbox =
        Resource{v1_phase(s.value("creating", false), s.value("removed", false),
                          known == TaskStatus::kRunning || known == TaskStatus::kStopped),
                 s.value("reason", "")};
    task.sandbox_id = s.value("containerdId", "");
    task.sandbox_pid = s.value("pid", 0U);
  }
  for (const auto& cj : j.at("containers")) {
    ContainerRecord c;
    read_common(cj, c);
    c.status = enum_at<TaskStatus>(cj, "known", parse_status);
    bool removed = cj.value("removed", false);
    bool creating = cj.value("creating", false);
    bool exists = c.status == TaskStatus::kCreated || c.status == TaskStatus::kRunning ||
                  (c.status == TaskStatus::kStopped && !removed && c.started_at_ms != 0);
    c.runtime.phase = v1_phase(creating, removed, exists);
    c.image_resource.phase = removed                  ? Phase::kReleased
                             : c.image_digest.empty() ? Phase::kPending
                                                      : Phase::kReady;
    if (task.network_mode == NetworkMode::kBridge) {
      c.network_resource = Resource{};
      if (cj.contains("network")) {
        c.network = attachment_from_json(cj["network"]);
        c.network_resource->phase = removed ? Phase::kReleased : Phase::kReady;
      } else if (removed || c.status == TaskStatus::kStopped) {
        c.network_resource->phase = Phase::kReleased;
      }
    }
    task.containers.push_back(std::move(c));
  }
  return task;
}

}  // namespace

json attachment_to_json(const NetworkAttachment& network) {
  json ports = json::array();
  for (const auto& p : network.ports) {
    ports.push_back(
        {{"containerPort", p.container_port}, {"hostPort", p.host_port}, {"protocol", p.protocol}});
  }
  return {
      {"netns", network.netns},
      {"interface", network.interface},
      {"addresses", network.addresses},
      {"gateway", network.gateway},
      {"eni", network.eni},
      {"ports", std::move(ports)},
  };
}

json to_json(const TaskRecord& task) {
  json containers = json::array();
  for (const auto& c : task.containers) {
    json resources = {{"image", resource_to_json(c.image_resource)},
                      {"container", resource_to_json(c.runtime)}};
    if (c.network_resource) resources["network"] = resource_to_json(*c.network_resource);
    json j = {
        {"name", c.name},
        {"containerdId", c.containerd_id},
        {"image", c.image},
        {"imageDigest", c.image_digest},
        {"status", status_name(c.status)},
        {"pid", c.pid},
        {"reason", c.reason},
        {"pulledAt", c.pulled_at_ms},
        {"startedAt", c.started_at_ms},
        {"stoppedAt", c.stopped_at_ms},
        {"stopSignalledAt", c.stop_signalled_at_ms},
        {"killed", c.killed},
        {"oomKilled", c.oom_killed},
        {"restartCount", c.restart_count},
        {"lastRestartAt", c.last_restart_at_ms},
        {"restartPending", c.restart_pending},
        {"health", health_name(c.health)},
        {"healthOutput", c.health_output},
        {"healthFailures", c.health_failures},
        {"resources", std::move(resources)},
    };
    if (c.exit_code) j["exitCode"] = *c.exit_code;
    if (c.network) j["network"] = attachment_to_json(*c.network);
    containers.push_back(std::move(j));
  }
  json resources = {{"cgroup", resource_to_json(task.cgroup)}};
  if (task.network_resource) resources["network"] = resource_to_json(*task.network_resource);
  if (task.sandbox) resources["sandbox"] = resource_to_json(*task.sandbox);
  json out = {
      {"version", kVersion},
      {"id", task.id},
      {"name", task.name},
      {"family", task.family},
      {"definition", task.definition_json},
      {"desired", status_name(task.desired)},
      {"known", status_name(task.known)},
      {"stopCode", task.stop_code},
      {"stoppedReason", task.stopped_reason},
      {"createdAt", task.created_at_ms},
      {"startedAt", task.started_at_ms},
      {"stoppedAt", task.stopped_at_ms},
      {"networkMode", network_mode_name(task.network_mode)},
      {"resources", std::move(resources)},
      {"containers", std::move(containers)},
  };
  if (!task.manifest.empty()) {
    out["manifest"] = task.manifest;
    out["manifestDigest"] = task.manifest_digest;
  }
  if (task.foreground) out["foreground"] = true;
  if (task.remove_on_exit) out["removeOnExit"] = true;
  if (task.network) out["network"] = attachment_to_json(*task.network);
  if (!task.eni.empty()) out["eni"] = task.eni;
  if (task.sandbox) {
    out["sandboxId"] = task.sandbox_id;
    out["sandboxPid"] = task.sandbox_pid;
  }
  return out;
}

Result<TaskRecord> task_from_json(const json& j) {
  try {
    if (!j.is_object()) return fail(ErrorCode::kDataLoss, "task record: not a JSON object");
    int version = j.value("version", 1);
    if (version == kVersion) return read_v2(j);
    if (version == 1) return read_v1(j);
    return fail(ErrorCode::kDataLoss,
                "task record: version " + std::to_string(version) + " is newer than this berthd's");
  } catch (const json::exception& e) {
    return fail(ErrorCode::kDataLoss, std::string("task record: ") + e.what());
  } catch (const std::invalid_argument& e) {
    return fail(ErrorCode::kDataLoss, std::string("task record: ") + e.what());
  }
}

}  // namespace berth::agent
