// Parsing a container definition (containerDefinitions[]), all but its
// linuxParameters (linux_parameters.cpp).
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/taskdef/parser.h"
#include "agent/taskdef/reader.h"
#include "agent/taskdef/taskdef.h"
#include "common/strings.h"

namespace berth::agent::taskdef {

namespace {

const std::set<std::string_view> kUlimits = {
    "core",   "cpu",   "data", "fsize",  "locks",  "memlock",    "msgqueue", "nice",
    "nofile", "nproc", "rss",  "rtprio", "rttime", "sigpending", "stack"};

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

}  // namespace

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
  out.disable_networking = bool_field(c, "disableNetworking", path).value_or(false);
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
  parse_system_controls(c, path, out);
  parse_security_options(c, path, out);
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
  parse_log_configuration(c, path, out);
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

void Parser::parse_log_configuration(const json& c, const std::string& path,
                                     ContainerDefinition& out) {
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
    } else if (driver) {
      out.log_driver = *driver;
    }
  }
  out.log_options = string_map(*log, "options", at);
  if (out.log_driver == "journald") {
    // Docker's journald driver: `tag` names the lines (CONTAINER_TAG and
    // SYSLOG_IDENTIFIER); labels and env need Docker's own metadata.
    for (const auto& [key, value] : out.log_options) {
      if (key != "tag") {
        add(member(member(at, "options"), key),
            "the journald driver takes only the option tag, not " + quote(key));
      }
    }
    if (!policy_.journal_available) {
      add(member(at, "logDriver"),
          "journald: this node has no journal to write to (no /run/systemd/journal/socket)");
    }
  }
  each_object(*log, "secretOptions", at, [&](const json& s, const std::string& secret_at, size_t) {
    check_fields(s, "containerDefinitions[].logConfiguration.secretOptions[]", secret_at);
    if (require(s, "name", secret_at)) (void)string_field(s, "name", secret_at);
    if (require(s, "valueFrom", secret_at)) (void)string_field(s, "valueFrom", secret_at);
  });
}

}  // namespace berth::agent::taskdef
