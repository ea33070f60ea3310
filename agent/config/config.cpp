#include "agent/config/config.h"

#include <toml++/toml.h>

#include <fstream>
#include <sstream>

#include "agent/state/paths.h"
#include "agent/taskdef/taskdef.h"
#include "common/http/server.h"
#include "controlplane/records.h"

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

// A whole number, 0 or more; `unit` names what it counts in the error.
Status read_whole(const toml::node& node, std::string_view key, int64_t& out,
                  std::string_view unit = "") {
  auto value = node.value<int64_t>();
  if (!value || *value < 0) {
    return fail(ErrorCode::kInvalidArgument, std::string(key) + ": must be a whole number" +
                                                 (unit.empty() ? "" : " of " + std::string(unit)) +
                                                 ", 0 or more");
  }
  out = *value;
  return {};
}

Status read_seconds(const toml::node& node, std::string_view key, int64_t& out) {
  return read_whole(node, key, out, "seconds");
}

bool is_absolute(const std::string& path) { return !path.empty() && path.front() == '/'; }

Status validate_fleet(const AgentConfig& config) {
  BERTH_TRY_CTX(controlplane::check_name("name", config.cluster), "cluster");
  if (!config.node_name.empty()) {
    BERTH_TRY_CTX(controlplane::check_name("name", config.node_name), "node-name");
  }
  for (const auto& [name, path] : {std::pair{"etcd-cacert", config.etcd_ca_file},
                                   {"etcd-cert", config.etcd_cert_file},
                                   {"etcd-key", config.etcd_key_file}}) {
    if (!path.empty() && !is_absolute(path)) {
      return fail(ErrorCode::kInvalidArgument,
                  std::string(name) + ": '" + path + "' is not an absolute path");
    }
  }
  if (!config.etcd_user.empty() && config.etcd_user.find(':') == std::string::npos) {
    return fail(ErrorCode::kInvalidArgument, "etcd-user: expected USER:PASSWORD");
  }
  for (const auto& attribute : config.node_attributes) {
    auto eq = attribute.find('=');
    if (eq == 0 || eq == std::string::npos) {
      return fail(ErrorCode::kInvalidArgument,
                  "node-attribute: '" + attribute + "' is not KEY=VALUE");
    }
  }
  return {};
}

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
    else if (key == "seccomp_profile")
      status = read_string(node, ctx, config.seccomp_profile);
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
    else if (key == "reserved_cpu_units")
      status = read_whole(node, ctx, config.reserved_cpu_units);
    else if (key == "reserved_memory_mib")
      status = read_whole(node, ctx, config.reserved_memory_mib);
    else if (key == "task_pids_limit")
      status = read_whole(node, ctx, config.task_pids_limit);
    else if (key == "default_network_mode")
      status = read_string(node, ctx, config.default_network_mode);
    else if (key == "cni_conf_dir")
      status = read_string(node, ctx, config.cni_conf_dir);
    else if (key == "cni_plugin_dirs")
      status = read_string_array(node, ctx, config.cni_plugin_dirs);
    else if (key == "awsvpc_network")
      status = read_string(node, ctx, config.awsvpc_network);
    else if (key == "bridge_network")
      status = read_string(node, ctx, config.bridge_network);
    else if (key == "bridge_name")
      status = read_string(node, ctx, config.bridge_name);
    else if (key == "bridge_subnet")
      status = read_string(node, ctx, config.bridge_subnet);
    else if (key == "host_port_range")
      status = read_string(node, ctx, config.host_port_range);
    else if (key == "eni_pool")
      status = read_string_array(node, ctx, config.eni_pool);
    else if (key == "metrics_address")
      status = read_string(node, ctx, config.metrics_address);
    else if (key == "introspection_address")
      status = read_string(node, ctx, config.introspection_address);
    else if (key == "task_metadata_endpoint")
      status = read_bool(node, ctx, config.task_metadata_endpoint);
    else if (key == "exec_policy")
      status = read_string(node, ctx, config.exec_policy);
    else if (key == "shutdown_grace_seconds")
      status = read_seconds(node, ctx, config.shutdown_grace_seconds);
    else if (key == "cgroup_driver")
      status = read_string(node, ctx, config.cgroup_driver);
    else if (key == "etcd_endpoints")
      status = read_string_array(node, ctx, config.etcd_endpoints);
    else if (key == "cluster")
      status = read_string(node, ctx, config.cluster);
    else if (key == "node_name")
      status = read_string(node, ctx, config.node_name);
    else if (key == "etcd_ca_file")
      status = read_string(node, ctx, config.etcd_ca_file);
    else if (key == "etcd_cert_file")
      status = read_string(node, ctx, config.etcd_cert_file);
    else if (key == "etcd_key_file")
      status = read_string(node, ctx, config.etcd_key_file);
    else if (key == "etcd_user")
      status = read_string(node, ctx, config.etcd_user);
    else if (key == "join_token")
      status = read_string(node, ctx, config.join_token);
    else if (key == "node_attributes")
      status = read_string_array(node, ctx, config.node_attributes);
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

Result<NetworkConfig> AgentConfig::network_config() const {
  NetworkConfig network;
  Paths paths(root, state);
  network.netns_dir = paths.netns_dir();
  network.cni_cache_dir = paths.cni_cache_dir();
  network.cni_networks_dir = paths.cni_networks_dir();
  network.eni_dir = paths.eni_dir();
  if (!is_absolute(cni_conf_dir)) {
    return fail(ErrorCode::kInvalidArgument,
                "cni-conf-dir: '" + cni_conf_dir + "' is not an absolute path");
  }
  network.conf_dir = cni_conf_dir;
  for (const auto& dir : cni_plugin_dirs) {
    if (!is_absolute(dir)) {
      return fail(ErrorCode::kInvalidArgument,
                  "cni-plugin-dir: '" + dir + "' is not an absolute path");
    }
  }
  if (cni_plugin_dirs.empty()) {
    return fail(ErrorCode::kInvalidArgument, "cni-plugin-dir: at least one is needed");
  }
  network.plugin_dirs = cni_plugin_dirs;
  network.awsvpc_network = awsvpc_network;
  network.bridge_network = bridge_network;
  if (bridge_name.empty() || bridge_name.size() > 15 ||
      bridge_name.find_first_of("/ :") != std::string::npos) {
    return fail(ErrorCode::kInvalidArgument,
                "bridge-name: '" + bridge_name + "' is not an interface name (1..15 characters)");
  }
  network.bridge_name = bridge_name;
  auto subnet = parse_eni_spec("x=" + bridge_subnet);  // the same CIDR rules
  if (!subnet || bridge_subnet.find(':') != std::string::npos) {
    return fail(ErrorCode::kInvalidArgument,
                "bridge-subnet: '" + bridge_subnet + "' is not an IPv4 CIDR (10.213.0.0/16)");
  }
  network.subnet = bridge_subnet;
  unsigned low = 0;
  unsigned high = 0;
  char dash = 0;
  std::istringstream range(host_port_range);
  if (!(range >> low >> dash >> high) || dash != '-' || !range.eof() || low < 1 || high > 65535 ||
      low > high) {
    return fail(ErrorCode::kInvalidArgument,
                "host-port-range: '" + host_port_range + "' is not LOW-HIGH within 1-65535");
  }
  network.host_port_min = low;
  network.host_port_max = high;
  for (const auto& text : eni_pool) {
    auto eni = parse_eni_spec(text);
    if (!eni) return fail(eni.error().with_context("eni"));
    network.eni_pool.push_back(*eni);
  }
  return network;
}

Status validate(const AgentConfig& config) {
  if (config.exec_policy != "allow" && config.exec_policy != "opt-in" &&
      config.exec_policy != "deny") {
    return fail(ErrorCode::kInvalidArgument,
                "exec-policy: '" + config.exec_policy + "' is not one of allow, opt-in, deny");
  }
  if (!parse_network_mode(config.default_network_mode)) {
    return fail(ErrorCode::kInvalidArgument, "default-network-mode: '" +
                                                 config.default_network_mode +
                                                 "' is not one of bridge, awsvpc, host, none");
  }
  BERTH_TRY(config.network_config());
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
  if (!config.seccomp_profile.empty() && !is_absolute(config.seccomp_profile)) {
    return fail(ErrorCode::kInvalidArgument,
                "seccomp-profile: '" + config.seccomp_profile + "' is not an absolute path");
  }
  static const std::vector<std::string> kLevels = {"trace", "debug",    "info", "warn",
                                                   "error", "critical", "off"};
  if (std::find(kLevels.begin(), kLevels.end(), config.log_level) == kLevels.end()) {
    return fail(ErrorCode::kInvalidArgument, "log-level: '" + config.log_level +
                                                 "' is not one of trace, debug, info, warn, error");
  }
  if (config.ns.empty()) return fail(ErrorCode::kInvalidArgument, "namespace: must not be empty");
  for (const auto& [name, value] :
       {std::pair{"metrics-address", config.metrics_address},
        std::pair{"introspection-address", config.introspection_address}}) {
    if (!value.empty()) BERTH_TRY_CTX(http::parse_address(value), name);
  }
  if (!config.metrics_address.empty() && config.metrics_address == config.introspection_address &&
      !config.metrics_address.ends_with(":0")) {
    return fail(
        ErrorCode::kInvalidArgument,
        "metrics-address and introspection-address: both are '" + config.metrics_address + "'");
  }
  for (const auto& path : config.allowed_host_paths) {
    if (!is_absolute(path)) {
      return fail(ErrorCode::kInvalidArgument,
                  "allowed-host-path: '" + path + "' is not an absolute path");
    }
  }
  if (!config.cgroup_driver.empty() && config.cgroup_driver != "systemd" &&
      config.cgroup_driver != "cgroupfs") {
    return fail(ErrorCode::kInvalidArgument,
                "cgroup-driver: '" + config.cgroup_driver + "' is not one of systemd, cgroupfs");
  }
  if (config.shutdown_grace_seconds < 0) {
    return fail(ErrorCode::kInvalidArgument, "shutdown-grace: must be 0 or more seconds");
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
  for (const auto& [name, value] : {std::pair{"reserved-cpu-units", config.reserved_cpu_units},
                                    {"reserved-memory-mib", config.reserved_memory_mib},
                                    {"task-pids-limit", config.task_pids_limit}}) {
    if (value < 0) {
      return fail(ErrorCode::kInvalidArgument, std::string(name) + ": must be 0 or more");
    }
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
  BERTH_TRY(validate_fleet(config));
  auto registry = config.registry_config();
  if (!registry) return fail(registry.error());
  for (const auto& [domain, endpoints] : registry->mirrors) {
    BERTH_TRY(runtime::registry_endpoints(*registry, domain));
  }
  return {};
}

}  // namespace berth::agent
