// Parsing a task definition: the document (bare or in the describe
// wrapper), the task-level fields, tags and volumes. The containers are in
// container.cpp, the cross-field checks in checks.cpp.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "agent/taskdef/parser.h"
#include "agent/taskdef/reader.h"
#include "agent/taskdef/taskdef.h"
#include "common/strings.h"

namespace berth::agent {

namespace taskdef {

namespace {

// A decimal number followed by an optional unit, as in "0.25 vCPU" or "1GB".
// Only spaces may surround and separate them, not the tabs and line breaks
// that berth::trim also skips: "256\n" has always been refused.
std::optional<std::pair<double, std::string>> number_with_unit(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  double number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || !std::isfinite(number) || number < 0) return std::nullopt;
  std::string unit = lower(text.substr(static_cast<size_t>(end - text.data())));
  unit.erase(0, unit.find_first_not_of(' '));
  return std::pair{number, unit};
}

// Task cpu: units as a number or string, or vCPUs.
std::optional<int64_t> task_cpu_units(const json& value) {
  if (auto n = whole_number(value)) return n;
  if (!value.is_string()) return std::nullopt;
  auto parsed = number_with_unit(value.get_ref<const std::string&>());
  if (!parsed || parsed->first > 1e9) return std::nullopt;
  auto [number, unit] = *parsed;
  if (unit.empty() && number == std::trunc(number)) return static_cast<int64_t>(number);
  if (unit == "vcpu" || unit == "vcpus") return std::llround(number * 1024);
  return std::nullopt;
}

// Task memory: MiB as a number or string, or with a unit (GB means GiB, as
// in ECS).
std::optional<int64_t> task_memory_mib(const json& value) {
  if (auto n = whole_number(value)) return n;
  if (!value.is_string()) return std::nullopt;
  auto parsed = number_with_unit(value.get_ref<const std::string&>());
  if (!parsed || parsed->first > 1e12) return std::nullopt;
  auto [number, unit] = *parsed;
  if ((unit.empty() || unit == "mib" || unit == "mb") && number == std::trunc(number)) {
    return static_cast<int64_t>(number);
  }
  if (unit == "gib" || unit == "gb") return std::llround(number * 1024);
  return std::nullopt;
}

// The pidMode and ipcMode a definition may name. The default is named by
// leaving the field out: an empty string is refused.
std::optional<PidMode> named_pid_mode(std::string_view name) {
  for (PidMode mode : {PidMode::kTask, PidMode::kHost}) {
    if (pid_mode_name(mode) == name) return mode;
  }
  return std::nullopt;
}

std::optional<IpcMode> named_ipc_mode(std::string_view name) {
  for (IpcMode mode : {IpcMode::kTask, IpcMode::kHost, IpcMode::kNone}) {
    if (ipc_mode_name(mode) == name) return mode;
  }
  return std::nullopt;
}

}  // namespace

TaskDefinition Parser::parse(const json& root) {
  TaskDefinition task;
  if (!root.is_object()) {
    add("", "a task definition must be a JSON object, not " + describe(root));
    return task;
  }
  auto wrapped = root.find("taskDefinition");
  if (wrapped == root.end()) {
    parse_task(root, task);
    return task;
  }
  // describe-task-definition output: {"taskDefinition": {...}, "tags": [...]}.
  for (const auto& [key, value] : root.items()) {
    if (key != "taskDefinition" && key != "tags") {
      add("", "unknown field " + quote(key) + " beside \"taskDefinition\"");
    }
  }
  if (!wrapped->is_object()) {
    add("taskDefinition", "must be an object, not " + describe(*wrapped));
    return task;
  }
  parse_tags(root, task);
  parse_task(*wrapped, task);
  return task;
}

void Parser::parse_tags(const json& doc, TaskDefinition& task) {
  each_object(doc, "tags", "", [&](const json& tag, const std::string& path, size_t) {
    check_fields(tag, "tags[]", path);
    if (!require(tag, "key", path)) return;
    auto key = string_field(tag, "key", path);
    auto value = string_field(tag, "value", path);
    if (!key) return;
    if (key->empty()) {
      add(member(path, "key"), "must not be empty");
      return;
    }
    task.tags[*key] = value.value_or("");
  });
}

void Parser::parse_task(const json& doc, TaskDefinition& task) {
  check_fields(doc, "", "");
  if (require(doc, "family", "")) {
    if (auto family = string_field(doc, "family", "")) {
      task.family = *family;
      if (!valid_name(task.family)) {
        add("family",
            "must be 1-255 letters, digits, hyphens or underscores, not " + quote(task.family));
      }
    }
  }
  if (const json* revision = field(doc, "revision")) {
    if (auto number = whole_number(*revision)) {
      task.revision = std::to_string(*number);
    } else if (revision->is_string()) {
      task.revision = revision->get<std::string>();
    } else {
      add("revision", "must be a number, not " + describe(*revision));
    }
  }
  // An empty networkMode leaves the mode to the node, as leaving it out does.
  if (auto mode = string_field(doc, "networkMode", ""); mode && !mode->empty()) {
    task.network_mode = parse_network_mode(*mode);
    if (!task.network_mode) {
      add("networkMode", "must be bridge, awsvpc, host or none, not " + quote(*mode));
      unknown_network_mode_ = *mode;
    }
  }
  if (const json* cpu = field(doc, "cpu")) {
    auto units = task_cpu_units(*cpu);
    if (!units) {
      add("cpu",
          "must be CPU units (256 or \"256\") or vCPUs (\"0.25 vCPU\"), not " + describe(*cpu));
    } else if (*units < 128 || *units > 196608) {
      add("cpu", range_reason({128, 196608, " CPU units"}, *units));
    } else {
      task.cpu = static_cast<uint32_t>(*units);
    }
  }
  if (const json* memory = field(doc, "memory")) {
    auto mib = task_memory_mib(*memory);
    if (!mib) {
      add("memory", "must be MiB (512 or \"512\") or a size (\"512 MiB\", \"1 GB\"), not " +
                        describe(*memory));
    } else if (*mib < 6) {
      add("memory", range_reason({6, std::numeric_limits<int64_t>::max(), " MiB"}, *mib));
    } else {
      task.memory_mib = static_cast<uint64_t>(*mib);
    }
  }
  if (auto mode = string_field(doc, "pidMode", "")) {
    if (auto pid_mode = named_pid_mode(*mode)) {
      task.pid_mode = *pid_mode;
    } else {
      add("pidMode", "must be task or host, not " + quote(*mode));
    }
  }
  if (auto enable = bool_field(doc, "enableExecuteCommand", "")) {
    task.enable_execute_command = *enable;
  }
  if (auto mode = string_field(doc, "ipcMode", "")) {
    if (auto ipc_mode = named_ipc_mode(*mode)) {
      task.ipc_mode = *ipc_mode;
    } else {
      add("ipcMode", "must be task, host or none, not " + quote(*mode));
    }
  }
  if (auto launch_types = strings_field(doc, "requiresCompatibilities", "")) {
    static const std::set<std::string_view> kLaunchTypes = {"EC2", "EXTERNAL", "FARGATE",
                                                            "MANAGED_INSTANCES"};
    for (size_t i = 0; i < launch_types->size(); ++i) {
      const std::string& type = (*launch_types)[i];
      std::string at = element("requiresCompatibilities", i);
      if (type.find("WINDOWS") != std::string::npos) {
        add(at, "not supported by berth: Windows containers do not run on berth");
      } else if (!kLaunchTypes.contains(type)) {
        add(at, "must be EC2, EXTERNAL, FARGATE or MANAGED_INSTANCES, not " + quote(type));
      }
    }
  }
  if (const json* platform = object_field(doc, "runtimePlatform", "")) {
    check_fields(*platform, "runtimePlatform", "runtimePlatform");
    if (auto os = string_field(*platform, "operatingSystemFamily", "runtimePlatform")) {
      if (os->starts_with("WINDOWS")) {
        add("runtimePlatform.operatingSystemFamily",
            "not supported by berth: " + quote(*os) +
                " needs Windows; berth runs Linux containers");
      } else if (*os != "LINUX") {
        add("runtimePlatform.operatingSystemFamily", "must be LINUX, not " + quote(*os));
      }
    }
    if (auto arch = string_field(*platform, "cpuArchitecture", "runtimePlatform")) {
      if (*arch != "X86_64" && *arch != "ARM64") {
        add("runtimePlatform.cpuArchitecture", "must be X86_64 or ARM64, not " + quote(*arch));
      } else if (*arch != node_cpu_architecture()) {
        add("runtimePlatform.cpuArchitecture", "not supported by berth: this node runs " +
                                                   std::string(node_cpu_architecture()) +
                                                   " containers, not " + *arch);
      }
    }
  }
  each_object(doc, "placementConstraints", "",
              [&](const json& constraint, const std::string& path, size_t) {
                check_fields(constraint, "placementConstraints[]", path);
                if (auto type = string_field(constraint, "type", path);
                    type && *type != "memberOf") {
                  add(member(path, "type"), "must be memberOf, not " + quote(*type));
                }
                (void)string_field(constraint, "expression", path);
              });
  if (const json* storage = object_field(doc, "ephemeralStorage", "")) {
    check_fields(*storage, "ephemeralStorage", "ephemeralStorage");
    if (require(*storage, "sizeInGiB", "ephemeralStorage")) {
      (void)int_field(*storage, "sizeInGiB", "ephemeralStorage", {21, 200, " GiB"});
    }
  }
  (void)string_field(doc, "taskRoleArn", "");
  (void)string_field(doc, "executionRoleArn", "");
  (void)bool_field(doc, "enableFaultInjection", "");
  parse_tags(doc, task);
  each_object(doc, "volumes", "", [&](const json& volume, const std::string& path, size_t i) {
    size_t before = task.volumes.size();
    parse_volume(volume, path, task);
    if (task.volumes.size() > before) volume_origins_.push_back(i);
  });

  const json* containers = field(doc, "containerDefinitions");
  if (containers == nullptr) {
    add("containerDefinitions", "required");
  } else if (containers->is_array() && containers->empty()) {
    add("containerDefinitions", "must list at least one container");
  } else if (containers->is_array() && containers->size() > kMaxContainers) {
    add("containerDefinitions", "lists " + std::to_string(containers->size()) +
                                    " containers; ECS takes at most " +
                                    std::to_string(kMaxContainers) + " per task definition");
  } else {
    each_object(doc, "containerDefinitions", "",
                [&](const json& container, const std::string& path, size_t i) {
                  parse_container(container, path, i, task);
                });
  }
  check_containers(task);
}

void Parser::parse_volume(const json& v, const std::string& path, TaskDefinition& task) {
  check_fields(v, "volumes[]", path);
  Volume volume;
  if (!require(v, "name", path)) return;
  auto name = string_field(v, "name", path);
  if (!name) return;
  volume.name = *name;
  if (!valid_name(volume.name)) {
    add(member(path, "name"),
        "must be 1-255 letters, digits, hyphens or underscores, not " + quote(volume.name));
  }
  const json* host = object_field(v, "host", path);
  const json* docker = object_field(v, "dockerVolumeConfiguration", path);
  if (host != nullptr && docker != nullptr) {
    add(path, "host and dockerVolumeConfiguration exclude each other");
  }
  if (host != nullptr) {
    std::string host_at = member(path, "host");
    check_fields(*host, "volumes[].host", host_at);
    if (auto source = string_field(*host, "sourcePath", host_at); source && !source->empty()) {
      if (auto allowed = host_path(*source, member(host_at, "sourcePath"))) {
        volume.host_source_path = *allowed;
      }
    }
  }
  if (docker != nullptr) {
    std::string docker_at = member(path, "dockerVolumeConfiguration");
    check_fields(*docker, "volumes[].dockerVolumeConfiguration", docker_at);
    if (auto scope = string_field(*docker, "scope", docker_at)) {
      if (*scope == "shared") {
        volume.shared = true;
      } else if (*scope != "task") {
        add(member(docker_at, "scope"), "must be task or shared, not " + quote(*scope));
      }
    }
    if (auto driver = string_field(*docker, "driver", docker_at); driver && *driver != "local") {
      add(member(docker_at, "driver"), "not supported by berth: volume driver " + quote(*driver) +
                                           " (berth has no Docker volume plugins; only local)");
    }
    // Only shared volumes read it, as in ECS.
    volume.autoprovision = bool_field(*docker, "autoprovision", docker_at).value_or(false);
    volume.labels = string_map(*docker, "labels", docker_at);
    parse_driver_options(*docker, docker_at, volume);
  }
  task.volumes.push_back(std::move(volume));
}

// driverOpts as Docker's local driver takes them: type, device and o.
void Parser::parse_driver_options(const json& docker, const std::string& path, Volume& volume) {
  const json* options = object_field(docker, "driverOpts", path);
  if (options == nullptr || options->empty()) return;
  const std::string at = member(path, "driverOpts");
  auto options_map = string_map(docker, "driverOpts", path);
  for (const auto& [key, value] : options_map) {
    if (key != "type" && key != "device" && key != "o") {
      add(member(at, key), "not an option of the local driver (type, device, o)");
    }
  }
  LocalMount mount;
  mount.type = options_map["type"];
  mount.device = options_map["device"];
  mount.options = options_map["o"];
  if (mount.type.empty()) {
    add(member(at, "type"),
        "required: the file system type to mount (tmpfs, none with o bind, ...)");
    return;
  }
  bool bind = false;
  for (const auto& flag : split(mount.options, ','))
    bind = bind || flag == "bind" || flag == "rbind";
  if (mount.type == "none" && !bind) {
    add(member(at, "o"), "type none mounts nothing without bind: say o: bind and a device");
    return;
  }
  // A node path (a bind's source, a block device, an image file) must be
  // one the node allows; other devices ("server:/export") are the kernel's
  // to judge.
  if (bind && mount.device.empty()) {
    add(member(at, "device"), "required with bind: the node path to mount");
    return;
  }
  if (bind || mount.device.starts_with('/')) {
    auto allowed = host_path(mount.device, member(at, "device"));
    if (!allowed) return;
    mount.device = *allowed;
  }
  if (mount.type == "tmpfs" && mount.device.empty()) mount.device = "tmpfs";
  volume.mount = std::move(mount);
}

}  // namespace taskdef

std::string_view node_cpu_architecture() {
#if defined(__x86_64__)
  return "X86_64";
#elif defined(__aarch64__)
  return "ARM64";
#else
  return "UNSUPPORTED";
#endif
}

ParseOutcome parse_task_definition(std::string_view text, const ValidationPolicy& policy) {
  ParseOutcome outcome;
  if (text.size() > kMaxDefinitionBytes) {
    outcome.problems.push_back({"", "the task definition is " + std::to_string(text.size()) +
                                        " bytes; ECS takes at most " +
                                        std::to_string(kMaxDefinitionBytes) + " (64 KiB)"});
    return outcome;
  }
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    // what(): "[json.exception.parse_error.101] parse error at line 3, column 5: ..."
    std::string what = e.what();
    if (auto bracket = what.find("] "); bracket != std::string::npos) what.erase(0, bracket + 2);
    outcome.problems.push_back(
        {"", "not valid JSON: " + what + " (byte " + std::to_string(e.byte) + ")"});
    return outcome;
  } catch (const std::exception& e) {
    outcome.problems.push_back({"", std::string("not valid JSON: ") + e.what()});
    return outcome;
  }
  taskdef::Parser parser(policy);
  TaskDefinition task;
  try {
    task = parser.parse(doc);
  } catch (const std::exception& e) {
    // The readers check types before reading, so this is a bug in them;
    // report it rather than throw through the API.
    parser.add("", std::string("cannot read the task definition: ") + e.what());
  }
  outcome.problems = parser.take_problems();
  if (outcome.problems.empty()) outcome.definition = std::move(task);
  return outcome;
}

std::string format_problems(const std::vector<Problem>& problems) {
  std::string out;
  for (const auto& problem : problems) {
    if (!out.empty()) out += "\n";
    out += problem.path.empty() ? problem.reason : problem.path + ": " + problem.reason;
  }
  return out;
}

}  // namespace berth::agent
