#include "controlplane/records.h"

#include <nlohmann/json.hpp>

namespace berth::controlplane {

using nlohmann::json;

Status check_name(std::string_view what, std::string_view name) {
  if (name.empty() || name.size() > 63) {
    return fail(ErrorCode::kInvalidArgument,
                std::string(what) + " '" + std::string(name) + "': must be 1 to 63 characters");
  }
  if (name.front() == '.') {
    return fail(ErrorCode::kInvalidArgument,
                std::string(what) + " '" + std::string(name) + "': must not start with '.'");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) {
      return fail(ErrorCode::kInvalidArgument, std::string(what) + " '" + std::string(name) +
                                                   "': only letters, digits, '_', '.' and '-'");
    }
  }
  return {};
}

std::string Keys::last_segment(const std::string& key) {
  auto slash = key.rfind('/');
  return slash == std::string::npos ? key : key.substr(slash + 1);
}

std::string_view desired_name(Desired desired) {
  return desired == Desired::kRunning ? "RUNNING" : "STOPPED";
}

namespace {

// Reads the fields of one JSON object, remembering the first problem.
class Reader {
 public:
  Reader(const json& object, std::string what) : object_(object), what_(std::move(what)) {}

  template <typename T>
  T get(const char* key, T fallback, bool required = false) {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) {
      if (required) problem(key, "is required");
      return fallback;
    }
    try {
      return it->get<T>();
    } catch (const json::exception&) {
      problem(key, std::string("must be ") + expected<T>() + ", not " + it->type_name());
      return fallback;
    }
  }
  const json* object(const char* key, bool required) {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) {
      if (required) problem(key, "is required");
      return nullptr;
    }
    if (!it->is_object()) {
      problem(key, std::string("must be an object, not ") + it->type_name());
      return nullptr;
    }
    return &*it;
  }
  void problem(const std::string& key, const std::string& why) {
    if (!error_) error_ = what_ + ": " + key + " " + why;
  }
  Status status() const {
    if (error_) return fail(ErrorCode::kInvalidArgument, *error_);
    return {};
  }

 private:
  template <typename T>
  static const char* expected() {
    if constexpr (std::is_same_v<T, std::string>) return "a string";
    if constexpr (std::is_same_v<T, bool>) return "true or false";
    if constexpr (std::is_integral_v<T>) return "an integer";
    return "of another type";
  }
  const json& object_;
  std::string what_;
  std::optional<std::string> error_;
};

Result<json> parse_object(std::string_view text, const char* what) {
  auto parsed = json::parse(text, nullptr, false);
  if (parsed.is_discarded()) {
    return fail(ErrorCode::kInvalidArgument, std::string(what) + ": not valid JSON");
  }
  if (!parsed.is_object()) {
    return fail(ErrorCode::kInvalidArgument, std::string(what) + ": must be a JSON object");
  }
  return parsed;
}

json capacity_json(const Capacity& c) {
  return {{"cpu", c.cpu_units}, {"memoryMiB", c.memory_mib}};
}

Capacity read_capacity(Reader& reader, const char* key) {
  Capacity c;
  if (const json* o = reader.object(key, false)) {
    Reader inner(*o, key);
    c.cpu_units = inner.get<int64_t>("cpu", 0);
    c.memory_mib = inner.get<int64_t>("memoryMiB", 0);
    if (auto s = inner.status(); !s) reader.problem(key, s.error().message());
  }
  return c;
}

}  // namespace

std::string to_json(const MemberRecord& record) {
  return json{{"name", record.name}, {"joinedAt", record.joined_at_ms}}.dump();
}

Result<MemberRecord> parse_member(std::string_view text) {
  json j = BERTH_TRY(parse_object(text, "member record"));
  Reader r(j, "member record");
  MemberRecord record;
  record.name = r.get<std::string>("name", "", true);
  record.joined_at_ms = r.get<int64_t>("joinedAt", 0);
  BERTH_TRY(r.status());
  return record;
}

std::string to_json(const NodeRecord& n) {
  return json{{"name", n.name},
              {"version", n.version},
              {"addresses", n.addresses},
              {"cgroupLayout", n.cgroup_layout},
              {"cgroupDriver", n.cgroup_driver},
              {"networkModes", n.network_modes},
              {"allocatable", capacity_json(n.allocatable)},
              {"remaining", capacity_json(n.remaining)},
              {"hostPortRange", n.host_port_range},
              {"hostPortsInUse", n.host_ports_in_use},
              {"hostPortsRemaining", n.host_ports_remaining},
              {"tasks", n.tasks},
              {"shuttingDown", n.shutting_down},
              {"attributes", n.attributes},
              {"startedAt", n.started_at_ms},
              {"updatedAt", n.updated_at_ms}}
      .dump();
}

Result<NodeRecord> parse_node(std::string_view text) {
  json j = BERTH_TRY(parse_object(text, "node record"));
  Reader r(j, "node record");
  NodeRecord n;
  n.name = r.get<std::string>("name", "", true);
  n.version = r.get<std::string>("version", "");
  n.addresses = r.get<std::vector<std::string>>("addresses", {});
  n.cgroup_layout = r.get<std::string>("cgroupLayout", "");
  n.cgroup_driver = r.get<std::string>("cgroupDriver", "");
  n.network_modes = r.get<std::vector<std::string>>("networkModes", {});
  n.allocatable = read_capacity(r, "allocatable");
  n.remaining = read_capacity(r, "remaining");
  n.host_port_range = r.get<std::string>("hostPortRange", "");
  n.host_ports_in_use = r.get<std::vector<int64_t>>("hostPortsInUse", {});
  n.host_ports_remaining = r.get<int64_t>("hostPortsRemaining", 0);
  n.tasks = r.get<int64_t>("tasks", 0);
  n.shutting_down = r.get<bool>("shuttingDown", false);
  n.attributes = r.get<std::map<std::string, std::string>>("attributes", {});
  n.started_at_ms = r.get<int64_t>("startedAt", 0);
  n.updated_at_ms = r.get<int64_t>("updatedAt", 0);
  BERTH_TRY(r.status());
  return n;
}

std::string to_json(const DesiredTask& task) {
  json definition = json::parse(task.definition_json, nullptr, false);
  return json{{"name", task.name},
              {"desiredStatus", desired_name(task.desired)},
              {"taskDefinition", definition},
              {"createdAt", task.created_at_ms}}
      .dump();
}

Result<DesiredTask> parse_desired(std::string_view text) {
  json j = BERTH_TRY(parse_object(text, "desired task"));
  Reader r(j, "desired task");
  DesiredTask task;
  task.name = r.get<std::string>("name", "");
  std::string status = r.get<std::string>("desiredStatus", "RUNNING");
  if (status == "RUNNING") {
    task.desired = Desired::kRunning;
  } else if (status == "STOPPED") {
    task.desired = Desired::kStopped;
  } else {
    r.problem("desiredStatus", "'" + status + "' must be RUNNING or STOPPED");
  }
  if (const json* definition = r.object("taskDefinition", true)) {
    task.definition_json = definition->dump();
  }
  task.created_at_ms = r.get<int64_t>("createdAt", 0);
  BERTH_TRY(r.status());
  return task;
}

std::string to_json(const TaskStatusRecord& s) {
  json containers = json::array();
  for (const auto& c : s.containers) {
    json out = {{"name", c.name}, {"status", c.status}, {"health", c.health}};
    if (c.exit_code) out["exitCode"] = *c.exit_code;
    if (!c.reason.empty()) out["reason"] = c.reason;
    if (c.started_at_ms) out["startedAt"] = c.started_at_ms;
    if (c.stopped_at_ms) out["stoppedAt"] = c.stopped_at_ms;
    containers.push_back(std::move(out));
  }
  json out = {{"name", s.name},
              {"node", s.node},
              {"taskId", s.task_id},
              {"desiredStatus", s.desired},
              {"knownStatus", s.known},
              {"health", s.health},
              {"desiredRevision", s.desired_revision},
              {"containers", containers}};
  if (!s.error.empty()) out["error"] = s.error;
  if (!s.stop_code.empty()) out["stopCode"] = s.stop_code;
  if (!s.stopped_reason.empty()) out["stoppedReason"] = s.stopped_reason;
  if (s.created_at_ms) out["createdAt"] = s.created_at_ms;
  if (s.started_at_ms) out["startedAt"] = s.started_at_ms;
  if (s.stopped_at_ms) out["stoppedAt"] = s.stopped_at_ms;
  return out.dump();
}

Result<TaskStatusRecord> parse_status(std::string_view text) {
  json j = BERTH_TRY(parse_object(text, "task status"));
  Reader r(j, "task status");
  TaskStatusRecord s;
  s.name = r.get<std::string>("name", "", true);
  s.node = r.get<std::string>("node", "");
  s.task_id = r.get<std::string>("taskId", "");
  s.desired = r.get<std::string>("desiredStatus", "");
  s.known = r.get<std::string>("knownStatus", "", true);
  s.health = r.get<std::string>("health", "");
  s.error = r.get<std::string>("error", "");
  s.stop_code = r.get<std::string>("stopCode", "");
  s.stopped_reason = r.get<std::string>("stoppedReason", "");
  s.desired_revision = r.get<int64_t>("desiredRevision", 0);
  s.created_at_ms = r.get<int64_t>("createdAt", 0);
  s.started_at_ms = r.get<int64_t>("startedAt", 0);
  s.stopped_at_ms = r.get<int64_t>("stoppedAt", 0);
  auto it = j.find("containers");
  if (it != j.end() && it->is_array()) {
    for (const auto& c : *it) {
      if (!c.is_object()) continue;
      Reader cr(c, "container");
      ContainerStatus out;
      out.name = cr.get<std::string>("name", "");
      out.status = cr.get<std::string>("status", "");
      if (c.contains("exitCode")) out.exit_code = cr.get<int>("exitCode", 0);
      out.reason = cr.get<std::string>("reason", "");
      out.health = cr.get<std::string>("health", "");
      out.started_at_ms = cr.get<int64_t>("startedAt", 0);
      out.stopped_at_ms = cr.get<int64_t>("stoppedAt", 0);
      if (auto ok = cr.status(); !ok) r.problem("containers", ok.error().message());
      s.containers.push_back(std::move(out));
    }
  }
  BERTH_TRY(r.status());
  return s;
}

std::string to_json(const JoinToken& token) {
  json out = {{"cluster", token.cluster},
              {"node", token.node},
              {"user", token.user},
              {"expiresAt", token.expires_at_ms},
              {"used", token.used}};
  if (!token.password.empty()) out["password"] = token.password;
  return out.dump();
}

Result<JoinToken> parse_token(std::string_view text) {
  json j = BERTH_TRY(parse_object(text, "join token"));
  Reader r(j, "join token");
  JoinToken token;
  token.cluster = r.get<std::string>("cluster", "", true);
  token.node = r.get<std::string>("node", "", true);
  token.user = r.get<std::string>("user", "", true);
  token.password = r.get<std::string>("password", "");
  token.expires_at_ms = r.get<int64_t>("expiresAt", 0, true);
  token.used = r.get<bool>("used", false);
  BERTH_TRY(r.status());
  return token;
}

}  // namespace berth::controlplane
