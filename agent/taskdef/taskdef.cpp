// Parsing and validation of ECS task definitions (see agent/taskdef/taskdef.h and
// docs/task-definitions.md).
//
// The parser never stops at the first problem: every reader reports what is
// wrong with its field and carries on, and the model is filled with what
// could be read, so that the cross-field checks (dependsOn targets, volume
// names, ports) still run and report their own problems.
#include "agent/taskdef/taskdef.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <queue>
#include <set>
#include <utility>

#include "agent/taskdef/reader.h"
#include "common/strings.h"

namespace berth::agent {

namespace taskdef {

namespace {

const std::set<std::string_view> kCapabilities = {
    "AUDIT_CONTROL",   "AUDIT_READ",   "AUDIT_WRITE",
    "BLOCK_SUSPEND",   "BPF",          "CHECKPOINT_RESTORE",
    "CHOWN",           "DAC_OVERRIDE", "DAC_READ_SEARCH",
    "FOWNER",          "FSETID",       "IPC_LOCK",
    "IPC_OWNER",       "KILL",         "LEASE",
    "LINUX_IMMUTABLE", "MAC_ADMIN",    "MAC_OVERRIDE",
    "MKNOD",           "NET_ADMIN",    "NET_BIND_SERVICE",
    "NET_BROADCAST",   "NET_RAW",      "PERFMON",
    "SETFCAP",         "SETGID",       "SETPCAP",
    "SETUID",          "SYS_ADMIN",    "SYS_BOOT",
    "SYS_CHROOT",      "SYS_MODULE",   "SYS_NICE",
    "SYS_PACCT",       "SYS_PTRACE",   "SYS_RAWIO",
    "SYS_RESOURCE",    "SYS_TIME",     "SYS_TTY_CONFIG",
    "SYSLOG",          "WAKE_ALARM"};

const std::set<std::string_view> kUlimits = {
    "core",   "cpu",   "data", "fsize",  "locks",  "memlock",    "msgqueue", "nice",
    "nofile", "nproc", "rss",  "rtprio", "rttime", "sigpending", "stack"};

const std::set<std::string_view> kTmpfsOptions = {
    "defaults",   "ro",          "rw",         "suid",        "nosuid",        "dev",     "nodev",
    "exec",       "noexec",      "sync",       "async",       "dirsync",       "remount", "mand",
    "nomand",     "atime",       "noatime",    "diratime",    "nodiratime",    "bind",    "rbind",
    "unbindable", "runbindable", "private",    "rprivate",    "shared",        "rshared", "slave",
    "rslave",     "relatime",    "norelatime", "strictatime", "nostrictatime", "mode",    "uid",
    "gid",        "nr_inodes",   "nr_blocks",  "mpol"};

const std::set<std::string_view> kLogDrivers = {"awslogs",   "fluentd",  "gelf",
                                                "json-file", "journald", "logentries",
                                                "splunk",    "syslog",   "awsfirelens"};

// Windows images cannot run on a Linux node. Their platform is only known
// once the manifest is fetched; these names are Windows-only, so such task
// definitions are refused up front rather than failing at pull time.
bool windows_image(std::string_view image) {
  const std::string name = lower(image);
  if (name.starts_with("mcr.microsoft.com/windows") ||
      name.starts_with("mcr.microsoft.com/dotnet/framework")) {
    return true;
  }
  size_t slash = name.rfind('/');
  size_t colon = name.rfind(':');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) return false;
  std::string_view tag = std::string_view(name).substr(colon + 1);
  return tag.find("servercore") != std::string_view::npos ||
         tag.find("nanoserver") != std::string_view::npos;
}

bool ip_address(const std::string& text) {
  std::array<unsigned char, 16> buffer{};
  return inet_pton(AF_INET, text.c_str(), buffer.data()) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer.data()) == 1;
}

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

// --- The parser -------------------------------------------------------------

// Where each model element came from in the JSON, for the paths of
// cross-field problems (an element that could not be read leaves a gap).
struct Origins {
  size_t index = 0;  // in containerDefinitions
  std::vector<size_t> port_mappings;
  std::vector<size_t> depends_on;
  std::vector<size_t> links;
  std::vector<size_t> mount_points;
  std::vector<size_t> volumes_from;
};

class Parser : private Reader {
 public:
  explicit Parser(const ValidationPolicy& policy)
      : Reader(policy.allowed_host_paths), policy_(policy) {}

  // The definition as far as it could be read; the problems say what could
  // not.
  TaskDefinition parse(const json& root);
  using Reader::add;
  using Reader::take_problems;

 private:
  void parse_task(const json& doc, TaskDefinition& task);
  void parse_tags(const json& doc, TaskDefinition& task);
  void parse_volume(const json& volume, const std::string& path, TaskDefinition& task);
  void parse_container(const json& container, const std::string& path, size_t index,
                       TaskDefinition& task);
  void parse_ports(const json& c, const std::string& path, ContainerDefinition& out,
                   Origins& origins);
  void parse_dependencies(const json& c, const std::string& path, ContainerDefinition& out,
                          Origins& origins);
  void parse_environment(const json& c, const std::string& path, ContainerDefinition& out);
  void parse_mounts(const json& c, const std::string& path, ContainerDefinition& out,
                    Origins& origins);
  void parse_health_check(const json& check, const std::string& path, ContainerDefinition& out);
  void parse_restart_policy(const json& policy, const std::string& path, ContainerDefinition& out);
  void parse_linux_parameters(const json& parameters, const std::string& path,
                              LinuxParameters& out);
  void parse_ulimits(const json& c, const std::string& path, ContainerDefinition& out);
  void parse_log_configuration(const json& c, const std::string& path);

  void check_containers(const TaskDefinition& task);
  void check_dependencies(const TaskDefinition& task, const std::map<std::string, size_t>& by_name);
  void check_ports(const TaskDefinition& task);
  void find_cycles(const TaskDefinition& task, const std::map<std::string, size_t>& by_name);

  std::string container_path(size_t model_index) const {
    return element("containerDefinitions", origins_[model_index].index);
  }

  const ValidationPolicy& policy_;
  std::vector<Origins> origins_;  // parallel to TaskDefinition::containers
  std::vector<size_t> volume_origins_;
};

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
  if (auto mode = string_field(doc, "networkMode", "")) {
    task.network_mode = *mode;
    static const std::set<std::string_view> kModes = {"", "bridge", "awsvpc", "host", "none"};
    if (!kModes.contains(*mode)) {
      add("networkMode", "must be bridge, awsvpc, host or none, not " + quote(*mode));
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
    task.pid_mode = *mode;
    if (*mode != "task" && *mode != "host")
      add("pidMode", "must be task or host, not " + quote(*mode));
  }
  if (auto mode = string_field(doc, "ipcMode", "")) {
    task.ipc_mode = *mode;
    if (*mode != "task" && *mode != "host" && *mode != "none") {
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
        add(member(docker_at, "scope"),
            "not supported by berth: shared volumes outlive the task, and berth only has "
            "task-scoped volumes");
      } else if (*scope != "task") {
        add(member(docker_at, "scope"), "must be task or shared, not " + quote(*scope));
      }
    }
    if (auto driver = string_field(*docker, "driver", docker_at); driver && *driver != "local") {
      add(member(docker_at, "driver"), "not supported by berth: volume driver " + quote(*driver) +
                                           " (berth has no Docker volume plugins; only local)");
    }
    (void)bool_field(*docker, "autoprovision", docker_at);
    (void)string_map(*docker, "labels", docker_at);
  }
  task.volumes.push_back(std::move(volume));
}

void Parser::parse_container(const json& c, const std::string& path, size_t index,
                             TaskDefinition& task) {
  check_fields(c, "containerDefinitions[]", path);
  ContainerDefinition out;
  Origins origins;
  origins.index = index;
  auto at = [&](std::string_view key) { return member(path, key); };

  if (require(c, "name", path)) {
    if (auto name = string_field(c, "name", path)) {
      out.name = *name;
      if (!valid_name(out.name)) {
        add(at("name"),
            "must be 1-255 letters, digits, hyphens or underscores, not " + quote(out.name));
      }
    }
  }
  if (require(c, "image", path)) {
    if (auto image = string_field(c, "image", path)) {
      out.image = *image;
      if (image->empty()) {
        add(at("image"), "must not be empty");
      } else if (std::ranges::any_of(*image, [](char ch) {
                   return std::isspace(static_cast<unsigned char>(ch)) != 0 ||
                          std::iscntrl(static_cast<unsigned char>(ch)) != 0;
                 })) {
        add(at("image"), "must be an image reference, not " + quote(*image));
      } else if (windows_image(*image)) {
        add(at("image"), "not supported by berth: " + quote(*image) +
                             " is a Windows image; berth runs Linux containers");
      }
    }
  }
  out.essential = bool_field(c, "essential", path).value_or(true);
  out.entry_point = strings_field(c, "entryPoint", path);
  out.command = strings_field(c, "command", path);
  parse_environment(c, path, out);
  if (auto dir = string_field(c, "workingDirectory", path)) {
    if (!dir->starts_with('/')) {
      add(at("workingDirectory"), "must be an absolute path, not " + quote(*dir));
    }
    out.working_directory = *dir;
  }
  out.user = string_field(c, "user", path);
  out.hostname = string_field(c, "hostname", path);
  out.readonly_root_filesystem = bool_field(c, "readonlyRootFilesystem", path).value_or(false);
  out.privileged = bool_field(c, "privileged", path).value_or(false);
  if (out.privileged && !policy_.allow_privileged) {
    add(at("privileged"), "this node does not allow privileged containers (allow_privileged)");
  }
  out.interactive = bool_field(c, "interactive", path).value_or(false);
  out.pseudo_terminal = bool_field(c, "pseudoTerminal", path).value_or(false);

  if (auto cpu = int_field(c, "cpu", path, {0, 196608, " CPU units"})) {
    out.cpu = static_cast<uint32_t>(*cpu);
  }
  const Range memory_range{6, std::numeric_limits<int64_t>::max(), " MiB"};
  if (auto memory = int_field(c, "memory", path, memory_range)) {
    out.memory_mib = static_cast<uint64_t>(*memory);
  }
  if (auto reservation = int_field(c, "memoryReservation", path, memory_range)) {
    out.memory_reservation_mib = static_cast<uint64_t>(*reservation);
    if (out.memory_mib && *out.memory_reservation_mib > *out.memory_mib) {
      add(at("memoryReservation"), "must not exceed memory (" + std::to_string(*out.memory_mib) +
                                       " MiB), not " + std::to_string(*reservation));
    }
  }
  parse_ports(c, path, out, origins);
  parse_dependencies(c, path, out, origins);
  if (auto links = strings_field(c, "links", path)) {
    out.links = *links;
    for (size_t i = 0; i < links->size(); ++i) origins.links.push_back(i);
  }
  if (auto timeout = int_field(c, "startTimeout", path,
                               {0, std::numeric_limits<int32_t>::max(), " seconds"})) {
    out.start_timeout_seconds = static_cast<uint32_t>(*timeout);
  }
  if (auto timeout = int_field(c, "stopTimeout", path, {0, 120, " seconds"})) {
    out.stop_timeout_seconds = static_cast<uint32_t>(*timeout);
  }
  if (const json* check = object_field(c, "healthCheck", path)) {
    parse_health_check(*check, at("healthCheck"), out);
  }
  if (const json* parameters = object_field(c, "linuxParameters", path)) {
    LinuxParameters linux_parameters;
    parse_linux_parameters(*parameters, at("linuxParameters"), linux_parameters);
    out.linux_parameters = std::move(linux_parameters);
  }
  parse_ulimits(c, path, out);
  out.docker_labels = string_map(c, "dockerLabels", path);
  each_object(c, "extraHosts", path, [&](const json& host, const std::string& host_at, size_t) {
    check_fields(host, "containerDefinitions[].extraHosts[]", host_at);
    ExtraHost entry;
    if (require(host, "hostname", host_at)) {
      entry.hostname = string_field(host, "hostname", host_at).value_or("");
    }
    if (require(host, "ipAddress", host_at)) {
      if (auto ip = string_field(host, "ipAddress", host_at)) {
        entry.ip_address = *ip;
        if (!ip_address(*ip)) {
          add(member(host_at, "ipAddress"), "must be an IP address, not " + quote(*ip));
        }
      }
    }
    out.extra_hosts.push_back(std::move(entry));
  });
  if (auto servers = strings_field(c, "dnsServers", path)) {
    for (size_t i = 0; i < servers->size(); ++i) {
      if (!ip_address((*servers)[i])) {
        add(element(at("dnsServers"), i), "must be an IP address, not " + quote((*servers)[i]));
      }
    }
    out.dns_servers = *servers;
  }
  out.dns_search_domains =
      strings_field(c, "dnsSearchDomains", path).value_or(std::vector<std::string>{});
  parse_mounts(c, path, out, origins);
  if (const json* restart = object_field(c, "restartPolicy", path)) {
    parse_restart_policy(*restart, at("restartPolicy"), out);
  }
  parse_log_configuration(c, path);
  if (const json* credentials = object_field(c, "repositoryCredentials", path)) {
    std::string credentials_at = at("repositoryCredentials");
    check_fields(*credentials, "containerDefinitions[].repositoryCredentials", credentials_at);
    if (require(*credentials, "credentialsParameter", credentials_at)) {
      (void)string_field(*credentials, "credentialsParameter", credentials_at);
    }
  }
  if (auto consistency = string_field(c, "versionConsistency", path);
      consistency && *consistency != "enabled" && *consistency != "disabled") {
    add(at("versionConsistency"), "must be enabled or disabled, not " + quote(*consistency));
  }
  task.containers.push_back(std::move(out));
  origins_.push_back(std::move(origins));
}

void Parser::parse_environment(const json& c, const std::string& path, ContainerDefinition& out) {
  each_object(c, "environment", path, [&](const json& variable, const std::string& at, size_t) {
    check_fields(variable, "containerDefinitions[].environment[]", at);
    if (!require(variable, "name", at)) return;
    auto name = string_field(variable, "name", at);
    auto value = string_field(variable, "value", at);
    if (!name) return;
    if (name->empty() || name->find('=') != std::string::npos) {
      add(member(at, "name"), "must be a variable name without \"=\", not " + quote(*name));
      return;
    }
    out.environment.push_back({*name, value.value_or("")});
  });
  each_object(c, "environmentFiles", path, [&](const json& file, const std::string& at, size_t) {
    check_fields(file, "containerDefinitions[].environmentFiles[]", at);
    bool has_type = require(file, "type", at);
    bool has_value = require(file, "value", at);
    if (!has_type || !has_value) return;
    auto type = string_field(file, "type", at);
    auto value = string_field(file, "value", at);
    if (type && *type != "s3" && *type != "file") {
      add(member(at, "type"), "must be s3 or file, not " + quote(*type));
    }
    if (!type || !value) return;
    std::string value_at = member(at, "value");
    if (value->starts_with("arn:") || value->starts_with("s3://")) {
      add(value_at, "not supported by berth: " + quote(*value) +
                        " is in Amazon S3, which berth does not read; give an absolute path on "
                        "the node (/path or file:///path)");
      return;
    }
    std::string local = *value;
    if (local.starts_with("file://")) local.erase(0, std::string_view("file://").size());
    if (!local.starts_with('/')) {
      add(value_at,
          "must be an absolute path on the node (/path or file:///path), not " + quote(*value));
      return;
    }
    if (auto allowed = host_path(local, value_at)) {
      out.environment_files.push_back({*type, *allowed});
    }
  });
}

void Parser::parse_ports(const json& c, const std::string& path, ContainerDefinition& out,
                         Origins& origins) {
  each_object(c, "portMappings", path, [&](const json& m, const std::string& at, size_t i) {
    check_fields(m, "containerDefinitions[].portMappings[]", at);
    if (field(m, "containerPortRange") != nullptr && field(m, "containerPort") == nullptr) {
      return;  // refused above
    }
    PortMapping mapping;
    bool ok = require(m, "containerPort", at);
    if (auto port = int_field(m, "containerPort", at, {1, 65535, ""})) {
      mapping.container_port = static_cast<uint32_t>(*port);
    } else {
      ok = false;
    }
    if (field(m, "hostPort") != nullptr) {
      if (auto port = int_field(m, "hostPort", at, {0, 65535, ""})) {
        mapping.host_port = static_cast<uint32_t>(*port);
      } else {
        ok = false;
      }
    }
    if (auto protocol = string_field(m, "protocol", at)) {
      mapping.protocol = *protocol;
      if (*protocol != "tcp" && *protocol != "udp") {
        add(member(at, "protocol"), "must be tcp or udp, not " + quote(*protocol));
      }
    }
    mapping.name = string_field(m, "name", at).value_or("");
    if (auto app = string_field(m, "appProtocol", at);
        app && *app != "http" && *app != "http2" && *app != "grpc") {
      add(member(at, "appProtocol"), "must be http, http2 or grpc, not " + quote(*app));
    }
    if (!ok) return;
    out.port_mappings.push_back(std::move(mapping));
    origins.port_mappings.push_back(i);
  });
}

void Parser::parse_dependencies(const json& c, const std::string& path, ContainerDefinition& out,
                                Origins& origins) {
  each_object(c, "dependsOn", path, [&](const json& d, const std::string& at, size_t i) {
    check_fields(d, "containerDefinitions[].dependsOn[]", at);
    bool has_name = require(d, "containerName", at);
    bool has_condition = require(d, "condition", at);
    if (!has_name || !has_condition) return;
    auto name = string_field(d, "containerName", at);
    auto condition = string_field(d, "condition", at);
    if (!name || !condition) return;
    ContainerDependency dependency;
    dependency.container_name = *name;
    if (*condition == "START") {
      dependency.condition = DependencyCondition::kStart;
    } else if (*condition == "COMPLETE") {
      dependency.condition = DependencyCondition::kComplete;
    } else if (*condition == "SUCCESS") {
      dependency.condition = DependencyCondition::kSuccess;
    } else if (*condition == "HEALTHY") {
      dependency.condition = DependencyCondition::kHealthy;
    } else {
      add(member(at, "condition"),
          "must be START, COMPLETE, SUCCESS or HEALTHY, not " + quote(*condition));
      return;
    }
    out.depends_on.push_back(std::move(dependency));
    origins.depends_on.push_back(i);
  });
}

void Parser::parse_mounts(const json& c, const std::string& path, ContainerDefinition& out,
                          Origins& origins) {
  each_object(c, "mountPoints", path, [&](const json& m, const std::string& at, size_t i) {
    check_fields(m, "containerDefinitions[].mountPoints[]", at);
    MountPoint mount;
    bool has_volume = require(m, "sourceVolume", at);
    bool has_path = require(m, "containerPath", at);
    mount.source_volume = string_field(m, "sourceVolume", at).value_or("");
    mount.container_path = string_field(m, "containerPath", at).value_or("");
    mount.read_only = bool_field(m, "readOnly", at).value_or(false);
    if (has_path && field(m, "containerPath")->is_string() &&
        !mount.container_path.starts_with('/')) {
      add(member(at, "containerPath"),
          "must be an absolute path, not " + quote(mount.container_path));
    }
    if (!has_volume || mount.source_volume.empty()) return;
    out.mount_points.push_back(std::move(mount));
    origins.mount_points.push_back(i);
  });
  each_object(c, "volumesFrom", path, [&](const json& v, const std::string& at, size_t i) {
    check_fields(v, "containerDefinitions[].volumesFrom[]", at);
    VolumeFrom from;
    bool has_source = require(v, "sourceContainer", at);
    from.source_container = string_field(v, "sourceContainer", at).value_or("");
    from.read_only = bool_field(v, "readOnly", at).value_or(false);
    if (!has_source || from.source_container.empty()) return;
    out.volumes_from.push_back(std::move(from));
    origins.volumes_from.push_back(i);
  });
}

void Parser::parse_health_check(const json& h, const std::string& path, ContainerDefinition& out) {
  check_fields(h, "containerDefinitions[].healthCheck", path);
  HealthCheck check;
  if (require(h, "command", path)) {
    if (auto command = strings_field(h, "command", path)) {
      check.command = *command;
      std::string at = member(path, "command");
      if (command->empty() || ((*command)[0] != "CMD" && (*command)[0] != "CMD-SHELL")) {
        add(command->empty() ? at : element(at, 0),
            "must start with CMD or CMD-SHELL" +
                (command->empty() ? std::string() : ", not " + quote((*command)[0])));
      } else if (command->size() < 2 || (*command)[1].empty()) {
        add(at, "names no command after " + (*command)[0]);
      }
    }
  }
  check.interval_seconds =
      static_cast<uint32_t>(int_field(h, "interval", path, {5, 300, " seconds"}).value_or(30));
  check.timeout_seconds =
      static_cast<uint32_t>(int_field(h, "timeout", path, {2, 60, " seconds"}).value_or(5));
  check.retries = static_cast<uint32_t>(int_field(h, "retries", path, {1, 10, ""}).value_or(3));
  check.start_period_seconds =
      static_cast<uint32_t>(int_field(h, "startPeriod", path, {0, 300, " seconds"}).value_or(0));
  out.health_check = std::move(check);
}

void Parser::parse_restart_policy(const json& r, const std::string& path,
                                  ContainerDefinition& out) {
  check_fields(r, "containerDefinitions[].restartPolicy", path);
  RestartPolicy policy;
  if (require(r, "enabled", path)) policy.enabled = bool_field(r, "enabled", path).value_or(false);
  if (const json* codes = field(r, "ignoredExitCodes")) {
    std::string at = member(path, "ignoredExitCodes");
    if (!codes->is_array()) {
      add(at, "must be an array of exit codes, not " + describe(*codes));
    } else if (codes->size() > 50) {
      add(at, "must list at most 50 exit codes, not " + std::to_string(codes->size()));
    } else {
      for (size_t i = 0; i < codes->size(); ++i) {
        auto code = whole_number((*codes)[i]);
        if (!code || *code < std::numeric_limits<int32_t>::min() ||
            *code > std::numeric_limits<int32_t>::max()) {
          add(element(at, i), "must be an exit code, not " + describe((*codes)[i]));
          continue;
        }
        policy.ignored_exit_codes.push_back(static_cast<int32_t>(*code));
      }
    }
  }
  policy.restart_attempt_period_seconds = static_cast<uint32_t>(
      int_field(r, "restartAttemptPeriod", path, {60, 1800, " seconds"}).value_or(300));
  out.restart_policy = std::move(policy);
}

void Parser::parse_linux_parameters(const json& lp, const std::string& path, LinuxParameters& out) {
  const std::string schema = "containerDefinitions[].linuxParameters";
  check_fields(lp, schema, path);
  if (const json* capabilities = object_field(lp, "capabilities", path)) {
    std::string caps_at = member(path, "capabilities");
    check_fields(*capabilities, schema + ".capabilities", caps_at);
    for (std::string_view which : {"add", "drop"}) {
      auto names = strings_field(*capabilities, which, caps_at);
      if (!names) continue;
      bool add_list = which == "add";
      for (size_t i = 0; i < names->size(); ++i) {
        const std::string& name = (*names)[i];
        std::string at = element(member(caps_at, which), i);
        if (name == "ALL") {
          if (add_list && !policy_.allow_privileged) {
            add(at,
                "adding ALL capabilities amounts to a privileged container, which this node "
                "does not allow (allow_privileged)");
            continue;
          }
        } else if (name.starts_with("CAP_") && kCapabilities.contains(name.substr(4))) {
          add(at, "must be written without the CAP_ prefix: " + quote(name.substr(4)));
          continue;
        } else if (!kCapabilities.contains(name)) {
          add(at, quote(name) + " is not a Linux capability");
          continue;
        }
        (add_list ? out.capabilities_add : out.capabilities_drop).push_back(name);
      }
    }
  }
  each_object(lp, "devices", path, [&](const json& d, const std::string& at, size_t) {
    check_fields(d, schema + ".devices[]", at);
    Device device;
    if (require(d, "hostPath", at)) {
      if (auto host = string_field(d, "hostPath", at)) {
        if (auto allowed = host_path(*host, member(at, "hostPath"))) device.host_path = *allowed;
      }
    }
    if (auto container = string_field(d, "containerPath", at)) {
      if (!container->starts_with('/')) {
        add(member(at, "containerPath"), "must be an absolute path, not " + quote(*container));
      }
      device.container_path = *container;
    }
    if (auto permissions = strings_field(d, "permissions", at)) {
      for (size_t i = 0; i < permissions->size(); ++i) {
        const std::string& permission = (*permissions)[i];
        if (permission != "read" && permission != "write" && permission != "mknod") {
          add(element(member(at, "permissions"), i),
              "must be read, write or mknod, not " + quote(permission));
        }
      }
      device.permissions = *permissions;
    }
    out.devices.push_back(std::move(device));
  });
  out.init_process_enabled = bool_field(lp, "initProcessEnabled", path).value_or(false);
  if (auto size = int_field(lp, "sharedMemorySize", path,
                            {1, std::numeric_limits<int64_t>::max(), " MiB"})) {
    out.shared_memory_size_mib = static_cast<uint64_t>(*size);
  }
  each_object(lp, "tmpfs", path, [&](const json& t, const std::string& at, size_t) {
    check_fields(t, schema + ".tmpfs[]", at);
    Tmpfs tmpfs;
    if (require(t, "containerPath", at)) {
      if (auto container = string_field(t, "containerPath", at)) {
        if (!container->starts_with('/')) {
          add(member(at, "containerPath"), "must be an absolute path, not " + quote(*container));
        }
        tmpfs.container_path = *container;
      }
    }
    if (require(t, "size", at)) {
      tmpfs.size_mib = static_cast<uint64_t>(
          int_field(t, "size", at, {1, std::numeric_limits<int64_t>::max(), " MiB"}).value_or(0));
    }
    if (auto options = strings_field(t, "mountOptions", at)) {
      for (size_t i = 0; i < options->size(); ++i) {
        const std::string& option = (*options)[i];
        if (!kTmpfsOptions.contains(std::string_view(option).substr(0, option.find('=')))) {
          add(element(member(at, "mountOptions"), i),
              quote(option) + " is not a tmpfs mount option ECS accepts");
        }
      }
      tmpfs.mount_options = *options;
    }
    out.tmpfs.push_back(std::move(tmpfs));
  });
  if (auto swap =
          int_field(lp, "maxSwap", path, {0, std::numeric_limits<int64_t>::max(), " MiB"})) {
    out.max_swap_mib = *swap;
  }
  if (auto swappiness = int_field(lp, "swappiness", path, {0, 100, ""})) {
    out.swappiness = static_cast<int32_t>(*swappiness);
  }
}

void Parser::parse_ulimits(const json& c, const std::string& path, ContainerDefinition& out) {
  std::map<std::string, size_t> seen;
  each_object(c, "ulimits", path, [&](const json& u, const std::string& at, size_t i) {
    check_fields(u, "containerDefinitions[].ulimits[]", at);
    Ulimit limit;
    bool ok = require(u, "name", at);
    ok = require(u, "softLimit", at) && ok;
    ok = require(u, "hardLimit", at) && ok;
    if (!ok) return;
    auto name = string_field(u, "name", at);
    auto soft = int_field(u, "softLimit", at, {0, std::numeric_limits<int64_t>::max(), ""});
    auto hard = int_field(u, "hardLimit", at, {0, std::numeric_limits<int64_t>::max(), ""});
    if (!name || !soft || !hard) return;
    if (!kUlimits.contains(*name)) {
      add(member(at, "name"), quote(*name) +
                                  " is not a ulimit ECS knows (core, cpu, data, "
                                  "fsize, locks, memlock, msgqueue, nice, nofile, "
                                  "nproc, rss, rtprio, rttime, sigpending, stack)");
      return;
    }
    if (auto [previous, fresh] = seen.emplace(*name, i); !fresh) {
      add(member(at, "name"), quote(*name) + " is already set by " +
                                  element(member(path, "ulimits"), previous->second));
      return;
    }
    if (*soft > *hard) {
      add(member(at, "softLimit"), "must not exceed hardLimit (" + std::to_string(*hard) +
                                       "), not " + std::to_string(*soft));
      return;
    }
    limit.name = *name;
    limit.soft_limit = *soft;
    limit.hard_limit = *hard;
    out.ulimits.push_back(std::move(limit));
  });
}

void Parser::parse_log_configuration(const json& c, const std::string& path) {
  const json* log = object_field(c, "logConfiguration", path);
  if (log == nullptr) return;
  std::string at = member(path, "logConfiguration");
  check_fields(*log, "containerDefinitions[].logConfiguration", at);
  if (require(*log, "logDriver", at)) {
    if (auto driver = string_field(*log, "logDriver", at);
        driver && !kLogDrivers.contains(*driver)) {
      add(member(at, "logDriver"),
          "must be awslogs, fluentd, gelf, json-file, journald, logentries, splunk, syslog or "
          "awsfirelens, not " +
              quote(*driver));
    }
  }
  (void)string_map(*log, "options", at);
  each_object(*log, "secretOptions", at, [&](const json& s, const std::string& secret_at, size_t) {
    check_fields(s, "containerDefinitions[].logConfiguration.secretOptions[]", secret_at);
    if (require(s, "name", secret_at)) (void)string_field(s, "name", secret_at);
    if (require(s, "valueFrom", secret_at)) (void)string_field(s, "valueFrom", secret_at);
  });
}

// --- Cross-field checks -----------------------------------------------------

void Parser::check_containers(const TaskDefinition& task) {
  std::map<std::string, size_t> by_name;  // name -> model index
  for (size_t i = 0; i < task.containers.size(); ++i) {
    const auto& name = task.containers[i].name;
    if (name.empty()) continue;
    auto [first, fresh] = by_name.emplace(name, i);
    if (!fresh) {
      add(member(container_path(i), "name"),
          quote(name) + " is also the name of " + container_path(first->second));
    }
  }
  if (!task.containers.empty() &&
      std::ranges::none_of(task.containers, [](const auto& c) { return c.essential; })) {
    add("containerDefinitions", "at least one container must be essential");
  }

  std::map<std::string, size_t> volumes;  // name -> model index
  for (size_t i = 0; i < task.volumes.size(); ++i) {
    auto [first, fresh] = volumes.emplace(task.volumes[i].name, i);
    if (!fresh) {
      add(member(element("volumes", volume_origins_[i]), "name"),
          quote(task.volumes[i].name) + " is also the name of " +
              element("volumes", volume_origins_[first->second]));
    }
  }

  const std::string mode = effective_network_mode(task, policy_);
  const bool bridge = mode == "bridge";
  uint64_t cpu_total = 0;
  for (size_t i = 0; i < task.containers.size(); ++i) {
    const ContainerDefinition& c = task.containers[i];
    const Origins& origins = origins_[i];
    const std::string path = container_path(i);
    for (size_t m = 0; m < c.mount_points.size(); ++m) {
      const auto& volume = c.mount_points[m].source_volume;
      if (!volumes.contains(volume)) {
        add(member(element(member(path, "mountPoints"), origins.mount_points[m]), "sourceVolume"),
            "no volume named " + quote(volume));
      }
    }
    for (size_t v = 0; v < c.volumes_from.size(); ++v) {
      const auto& source = c.volumes_from[v].source_container;
      std::string at =
          member(element(member(path, "volumesFrom"), origins.volumes_from[v]), "sourceContainer");
      if (source == c.name) {
        add(at, "a container cannot take volumes from itself");
      } else if (!by_name.contains(source)) {
        add(at, "no container named " + quote(source));
      }
    }
    if (c.hostname && mode == "awsvpc") {
      add(member(path, "hostname"),
          "not supported in awsvpc network mode: the task's hostname comes from its address");
    }
    if (!c.links.empty() && !bridge) {
      add(member(path, "links"),
          "not supported in " + mode + " network mode: links need bridge mode");
    } else {
      for (size_t l = 0; l < c.links.size(); ++l) {
        std::string target = c.links[l].substr(0, c.links[l].find(':'));
        std::string at = element(member(path, "links"), origins.links[l]);
        if (target == c.name) {
          add(at, "a container cannot link to itself");
        } else if (!by_name.contains(target)) {
          add(at, "no container named " + quote(target));
        }
      }
    }
    cpu_total += c.cpu.value_or(0);
    if (task.memory_mib && c.memory_mib && *c.memory_mib > *task.memory_mib) {
      add(member(path, "memory"), std::to_string(*c.memory_mib) + " MiB is more than the task's " +
                                      std::to_string(*task.memory_mib) + " MiB");
    }
    if (task.memory_mib && c.memory_reservation_mib &&
        *c.memory_reservation_mib > *task.memory_mib) {
      add(member(path, "memoryReservation"), std::to_string(*c.memory_reservation_mib) +
                                                 " MiB is more than the task's " +
                                                 std::to_string(*task.memory_mib) + " MiB");
    }
    if (c.linux_parameters && c.linux_parameters->max_swap_mib && !c.memory_mib &&
        !task.memory_mib) {
      // The kernel limits memory and swap together: there must be a memory limit.
      add(member(member(path, "linuxParameters"), "maxSwap"),
          "needs a memory limit: the container's memory or the task's");
    }
  }
  if (task.cpu && cpu_total > *task.cpu) {
    add("containerDefinitions", "the containers' cpu adds up to " + std::to_string(cpu_total) +
                                    " units, more than the task's " + std::to_string(*task.cpu));
  }
  check_dependencies(task, by_name);
  check_ports(task);
}

void Parser::check_dependencies(const TaskDefinition& task,
                                const std::map<std::string, size_t>& by_name) {
  for (size_t i = 0; i < task.containers.size(); ++i) {
    const ContainerDefinition& c = task.containers[i];
    for (size_t d = 0; d < c.depends_on.size(); ++d) {
      const ContainerDependency& dependency = c.depends_on[d];
      std::string at = element(member(container_path(i), "dependsOn"), origins_[i].depends_on[d]);
      auto target = by_name.find(dependency.container_name);
      if (!c.name.empty() && dependency.container_name == c.name) {
        add(member(at, "containerName"), "a container cannot depend on itself");
        continue;
      }
      if (target == by_name.end()) {
        add(member(at, "containerName"), "no container named " + quote(dependency.container_name));
        continue;
      }
      const ContainerDefinition& dependee = task.containers[target->second];
      if (dependency.condition == DependencyCondition::kHealthy && !dependee.health_check) {
        add(member(at, "condition"),
            "HEALTHY needs a healthCheck on container " + quote(dependee.name));
      }
      if ((dependency.condition == DependencyCondition::kComplete ||
           dependency.condition == DependencyCondition::kSuccess) &&
          dependee.essential) {
        add(member(at, "condition"), std::string(condition_name(dependency.condition)) +
                                         " needs container " + quote(dependee.name) +
                                         " to be non-essential: an essential container that "
                                         "exits stops the task");
      }
    }
  }
  find_cycles(task, by_name);
}

void Parser::find_cycles(const TaskDefinition& task, const std::map<std::string, size_t>& by_name) {
  enum class Mark { kNew, kOnPath, kDone };
  std::vector<Mark> marks(task.containers.size(), Mark::kNew);
  // Depth-first in definition order, with an explicit stack of (container,
  // next dependency to follow); an edge back into the current path closes a
  // cycle, reported at that edge.
  std::vector<std::pair<size_t, size_t>> path;
  for (size_t root = 0; root < task.containers.size(); ++root) {
    if (marks[root] != Mark::kNew) continue;
    marks[root] = Mark::kOnPath;
    path.emplace_back(root, 0);
    while (!path.empty()) {
      const size_t i = path.back().first;
      const auto& dependencies = task.containers[i].depends_on;
      if (path.back().second == dependencies.size()) {
        marks[i] = Mark::kDone;
        path.pop_back();
        continue;
      }
      const size_t d = path.back().second++;
      auto target = by_name.find(dependencies[d].container_name);
      if (target == by_name.end() || target->second == i) continue;
      const size_t next = target->second;
      if (marks[next] == Mark::kOnPath) {
        std::vector<std::string> names;
        auto start = std::ranges::find(path, next, &std::pair<size_t, size_t>::first);
        for (auto it = start; it != path.end(); ++it)
          names.push_back(task.containers[it->first].name);
        names.push_back(task.containers[next].name);
        add(member(element(member(container_path(i), "dependsOn"), origins_[i].depends_on[d]),
                   "containerName"),
            "dependency cycle: " + join(names, " -> "));
      } else if (marks[next] == Mark::kNew) {
        marks[next] = Mark::kOnPath;
        path.emplace_back(next, 0);
      }
    }
  }
}

void Parser::check_ports(const TaskDefinition& task) {
  const std::string mode = effective_network_mode(task, policy_);
  const bool same_port = mode == "awsvpc" || mode == "host";
  std::map<std::pair<uint32_t, std::string>, std::string> taken;  // port/protocol -> path
  std::map<std::string, std::string> names;                       // port name -> path
  for (size_t i = 0; i < task.containers.size(); ++i) {
    const ContainerDefinition& c = task.containers[i];
    if (!c.port_mappings.empty() && mode == "none") {
      add(member(container_path(i), "portMappings"),
          "a task in none network mode has no network to map ports from");
      continue;
    }
    for (size_t m = 0; m < c.port_mappings.size(); ++m) {
      const PortMapping& mapping = c.port_mappings[m];
      std::string at =
          element(member(container_path(i), "portMappings"), origins_[i].port_mappings[m]);
      if (same_port && mapping.host_port.value_or(0) != 0 &&
          *mapping.host_port != mapping.container_port) {
        add(member(at, "hostPort"), "must equal containerPort (" +
                                        std::to_string(mapping.container_port) + ") in " + mode +
                                        " network mode, not " + std::to_string(*mapping.host_port));
        continue;
      }
      uint32_t host_port = same_port ? mapping.container_port : mapping.host_port.value_or(0);
      if (host_port != 0) {
        auto [previous, fresh] = taken.emplace(std::pair{host_port, mapping.protocol}, at);
        if (!fresh) {
          add(member(at, mapping.host_port.value_or(0) != 0 ? "hostPort" : "containerPort"),
              "port " + std::to_string(host_port) + "/" + mapping.protocol +
                  " is already mapped by " + previous->second);
        }
      }
      if (!mapping.name.empty()) {
        auto [previous, fresh] = names.emplace(mapping.name, at);
        if (!fresh) {
          add(member(at, "name"), quote(mapping.name) + " is also the name of " + previous->second);
        }
      }
    }
  }
}

}  // namespace taskdef

std::string_view condition_name(DependencyCondition condition) {
  switch (condition) {
    case DependencyCondition::kStart:
      return "START";
    case DependencyCondition::kComplete:
      return "COMPLETE";
    case DependencyCondition::kSuccess:
      return "SUCCESS";
    case DependencyCondition::kHealthy:
      return "HEALTHY";
  }
  return "UNKNOWN";
}

std::string_view node_cpu_architecture() {
#if defined(__x86_64__)
  return "X86_64";
#elif defined(__aarch64__)
  return "ARM64";
#else
  return "UNSUPPORTED";
#endif
}

std::string effective_network_mode(const TaskDefinition& definition,
                                   const ValidationPolicy& policy) {
  if (!definition.network_mode.empty()) return definition.network_mode;
  return policy.default_network_mode.empty() ? "bridge" : policy.default_network_mode;
}

ParseOutcome parse_task_definition(std::string_view text, const ValidationPolicy& policy) {
  ParseOutcome outcome;
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

std::vector<size_t> start_order(const TaskDefinition& definition) {
  const auto& containers = definition.containers;
  std::map<std::string_view, size_t> by_name;
  for (size_t i = 0; i < containers.size(); ++i) by_name.emplace(containers[i].name, i);
  // Kahn's algorithm, always taking the first ready container in definition
  // order: definitions without dependsOn keep their order.
  std::vector<size_t> waiting_on(containers.size(), 0);
  std::vector<std::vector<size_t>> dependents(containers.size());
  for (size_t i = 0; i < containers.size(); ++i) {
    for (const auto& dependency : containers[i].depends_on) {
      auto target = by_name.find(dependency.container_name);
      if (target == by_name.end() || target->second == i) continue;
      dependents[target->second].push_back(i);
      ++waiting_on[i];
    }
  }
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t i = 0; i < containers.size(); ++i) {
    if (waiting_on[i] == 0) ready.push(i);
  }
  std::vector<size_t> order;
  std::vector<bool> placed(containers.size(), false);
  while (!ready.empty()) {
    size_t next = ready.top();
    ready.pop();
    placed[next] = true;
    order.push_back(next);
    for (size_t dependent : dependents[next]) {
      if (--waiting_on[dependent] == 0) ready.push(dependent);
    }
  }
  // A cycle (validation refuses those): the rest in definition order.
  for (size_t i = 0; i < containers.size(); ++i) {
    if (!placed[i]) order.push_back(i);
  }
  return order;
}

}  // namespace berth::agent
