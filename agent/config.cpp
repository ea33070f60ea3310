#include "agent/config.h"

#include <toml++/toml.h>

#include <fstream>
#include <sstream>

namespace berth::agent {

namespace {

Status read_string(const toml::node& node, std::string_view key, std::string& out) {
  auto value = node.value<std::string>();
  if (!value) return fail(ErrorCode::kInvalidArgument, std::string(key) + ": must be a string");
  out = *value;
  return {};
}

Status read_string_array(const toml::node& node, std::string_view key,
                         std::vector<std::string>& out) {
  const auto* array = node.as_array();
  if (!array)
    return fail(ErrorCode::kInvalidArgument, std::string(key) + ": must be an array of strings");
  out.clear();
  for (const auto& item : *array) {
    auto value = item.value<std::string>();
    if (!value)
      return fail(ErrorCode::kInvalidArgument, std::string(key) + ": must be an array of strings");
    out.push_back(*value);
  }
  return {};
}

Status read_bool(const toml::node& node, std::string_view key, bool& out) {
  auto value = node.value<bool>();
  if (!value)
    return fail(ErrorCode::kInvalidArgument, std::string(key) + ": must be true or false");
  out = *value;
  return {};
}

Status read_seconds(const toml::node& node, std::string_view key, int64_t& out) {
  auto value = node.value<int64_t>();
  if (!value || *value < 0) {
    return fail(ErrorCode::kInvalidArgument,
                std::string(key) + ": must be a whole number of seconds, 0 or more");
  }
  out = *value;
  return {};
}

bool is_absolute(const std::string& path) { return !path.empty() && path.front() == '/'; }

}  // namespace

Status apply_toml(std::string_view toml_text, std::string_view source_name, AgentConfig& config) {
  // Debian's toml++ is built with exceptions: convert at the boundary.
  toml::table table;
  try {
    table = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& err) {
    std::ostringstream where;
    where << err.source().begin;
    return fail(ErrorCode::kInvalidArgument, std::string(source_name) + ":" + where.str() + ": " +
                                                 std::string(err.description()));
  }
  for (const auto& [raw_key, node] : table) {
    std::string key(raw_key.str());
    std::string ctx = std::string(source_name) + ": " + key;
    Status status;
    if (key == "containerd_address")
      status = read_string(node, ctx, config.containerd_address);
    else if (key == "namespace")
      status = read_string(node, ctx, config.ns);
    else if (key == "root")
      status = read_string(node, ctx, config.root);
    else if (key == "state")
      status = read_string(node, ctx, config.state);
    else if (key == "socket")
      status = read_string(node, ctx, config.socket);
    else if (key == "log_level")
      status = read_string(node, ctx, config.log_level);
    else if (key == "logger_path")
      status = read_string(node, ctx, config.logger_path);
    else if (key == "credentials_file")
      status = read_string(node, ctx, config.credentials_file);
    else if (key == "allow_privileged")
      status = read_bool(node, ctx, config.allow_privileged);
    else if (key == "allowed_host_paths")
      status = read_string_array(node, ctx, config.allowed_host_paths);
    else if (key == "task_retention_seconds")
      status = read_seconds(node, ctx, config.task_retention_seconds);
    else if (key == "manifest_dir")
      status = read_string(node, ctx, config.manifest_dir);
    else if (key == "manifest_check_seconds")
      status = read_seconds(node, ctx, config.manifest_check_seconds);
    else if (key == "image_gc_interval_seconds")
      status = read_seconds(node, ctx, config.image_gc_interval_seconds);
    else if (key == "image_gc_min_age_seconds")
      status = read_seconds(node, ctx, config.image_gc_min_age_seconds);
    else if (key == "insecure_registries")
      status = read_string_array(node, ctx, config.insecure_registries);
    else if (key == "registry_mirrors") {
      // Either ["docker.io=http://..."] or a table {"docker.io" = ["http://..."]}.
      if (const auto* mirrors = node.as_table()) {
        config.registry_mirrors.clear();
        for (const auto& [registry, endpoints] : *mirrors) {
          std::vector<std::string> list;
          if (auto single = endpoints.value<std::string>())
            list.push_back(*single);
          else
            status = read_string_array(endpoints, ctx + "." + std::string(registry.str()), list);
          if (!status) break;
          for (const auto& endpoint : list) {
            config.registry_mirrors.push_back(std::string(registry.str()) + "=" + endpoint);
          }
        }
      } else {
        status = read_string_array(node, ctx, config.registry_mirrors);
      }
    } else {
      return fail(ErrorCode::kInvalidArgument, ctx + ": unknown setting");
    }
    if (!status) return status;
  }
  return {};
}

Status apply_toml_file(const std::string& path, AgentConfig& config) {
  std::ifstream in(path);
  if (!in) return fail_errno("read config file '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  return apply_toml(text.str(), path, config);
}

Result<runtime::RegistryConfig> AgentConfig::registry_config() const {
  runtime::RegistryConfig registry;
  registry.insecure_registries = insecure_registries;
  registry.credentials_file = effective_credentials_file();
  for (const auto& flag : registry_mirrors) {
    auto [domain, endpoint] = BERTH_TRY(runtime::parse_mirror_flag(flag));
    registry.mirrors[domain].push_back(endpoint);
  }
  return registry;
}

Status validate(const AgentConfig& config) {
  for (const auto& [name, path] : {std::pair{"containerd-address", config.containerd_address},
                                   {"root", config.root},
                                   {"state", config.state},
                                   {"socket", config.socket}}) {
    if (!is_absolute(path)) {
      return fail(ErrorCode::kInvalidArgument,
                  std::string(name) + ": '" + path + "' is not an absolute path");
    }
  }
  if (!config.logger_path.empty() && !is_absolute(config.logger_path)) {
    return fail(ErrorCode::kInvalidArgument,
                "logger-path: '" + config.logger_path + "' is not an absolute path");
  }
  static const std::vector<std::string> kLevels = {"trace", "debug",    "info", "warn",
                                                   "error", "critical", "off"};
  if (std::find(kLevels.begin(), kLevels.end(), config.log_level) == kLevels.end()) {
    return fail(ErrorCode::kInvalidArgument, "log-level: '" + config.log_level +
                                                 "' is not one of trace, debug, info, warn, error");
  }
  if (config.ns.empty()) return fail(ErrorCode::kInvalidArgument, "namespace: must not be empty");
  for (const auto& path : config.allowed_host_paths) {
    if (!is_absolute(path)) {
      return fail(ErrorCode::kInvalidArgument,
                  "allowed-host-path: '" + path + "' is not an absolute path");
    }
  }
  if (config.task_retention_seconds < 0) {
    return fail(ErrorCode::kInvalidArgument, "task-retention: must be 0 or more seconds");
  }
  if (!config.manifest_dir.empty() && !is_absolute(config.manifest_dir)) {
    return fail(ErrorCode::kInvalidArgument,
                "manifest-dir: '" + config.manifest_dir + "' is not an absolute path");
  }
  if (config.manifest_check_seconds < 1) {
    return fail(ErrorCode::kInvalidArgument, "manifest-check-interval: must be 1 or more seconds");
  }
  if (config.image_gc_interval_seconds < 0) {
    return fail(ErrorCode::kInvalidArgument, "image-gc-interval: must be 0 (off) or more seconds");
  }
  if (config.image_gc_min_age_seconds < 0) {
    return fail(ErrorCode::kInvalidArgument, "image-gc-min-age: must be 0 or more seconds");
  }
  for (const auto& insecure : config.insecure_registries) {
    if (insecure.empty() || insecure.find('/') != std::string::npos) {
      return fail(ErrorCode::kInvalidArgument,
                  "insecure-registry: '" + insecure + "' is not host[:port]");
    }
  }
  auto registry = config.registry_config();
  if (!registry) return fail(registry.error());
  for (const auto& [domain, endpoints] : registry->mirrors) {
    BERTH_TRY(runtime::registry_endpoints(*registry, domain));
  }
  return {};
}

}  // namespace berth::agent
