#include "agent/config/command_line.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

namespace berth::agent {

std::optional<int> parse_command_line(int argc, char** argv, AgentConfig& config) {
  CLI::App app{"berthd: the berth node agent"};
  std::string config_file;
  app.add_option("--config", config_file, "TOML configuration file (flags win)");
  auto* address =
      app.add_option("--containerd-address", config.containerd_address, "containerd's gRPC socket");
  auto* ns = app.add_option("--namespace", config.ns, "containerd namespace for berth's work");
  auto* root = app.add_option("--root", config.root, "persistent state directory");
  auto* state = app.add_option("--state", config.state, "runtime state directory");
  auto* socket = app.add_option("--socket", config.socket, "API socket (mode 0600)");
  auto* insecure = app.add_option("--insecure-registry", config.insecure_registries,
                                  "HOST:PORT reachable over plain HTTP (repeatable)")
                       ->allow_extra_args(false);
  auto* mirrors =
      app.add_option("--registry-mirror", config.registry_mirrors,
                     "REGISTRY=ENDPOINT, e.g. docker.io=http://127.0.0.1:5000 (repeatable)")
          ->allow_extra_args(false);
  auto* auth = app.add_option("--registry-auth", config.credentials_file,
                              "docker config.json-style file with registry credentials");
  auto* logger = app.add_option("--logger-path", config.logger_path, "berth-logger binary");
  auto* level = app.add_option("--log-level", config.log_level, "trace|debug|info|warn|error");
  auto* privileged = app.add_flag("--allow-privileged", config.allow_privileged,
                                  "let task definitions ask for privileged containers");
  auto* host_paths = app.add_option("--allowed-host-path", config.allowed_host_paths,
                                    "host path that task volumes may bind (repeatable)")
                         ->allow_extra_args(false);
  auto* seccomp = app.add_option("--seccomp-profile", config.seccomp_profile,
                                 "default seccomp profile in Docker's format (\"\": none)");
  auto* retention = app.add_option("--task-retention", config.task_retention_seconds,
                                   "seconds a stopped task keeps its status and logs");
  auto* manifest_dir =
      app.add_option("--manifest-dir", config.manifest_dir,
                     "directory of static task definitions (*.json), run and kept running");
  auto* manifest_check = app.add_option("--manifest-check-interval", config.manifest_check_seconds,
                                        "seconds between checks of --manifest-dir");
  auto* gc_interval = app.add_option("--image-gc-interval", config.image_gc_interval_seconds,
                                     "seconds between image GC runs (0: no image GC)");
  auto* gc_min_age = app.add_option("--image-gc-min-age", config.image_gc_min_age_seconds,
                                    "seconds an image must have been unused before GC removes it");
  auto* reserved_cpu = app.add_option("--reserved-cpu-units", config.reserved_cpu_units,
                                      "CPU units (1024 per CPU) kept from tasks for the system");
  auto* reserved_memory = app.add_option("--reserved-memory-mib", config.reserved_memory_mib,
                                         "MiB of memory kept from tasks for the system and berthd");
  auto* pids_limit = app.add_option("--task-pids-limit", config.task_pids_limit,
                                    "pids.max of each task cgroup (0: no limit)");
  auto* network_mode = app.add_option("--default-network-mode", config.default_network_mode,
                                      "networkMode of a task definition that names none");
  auto* cni_conf = app.add_option("--cni-conf-dir", config.cni_conf_dir,
                                  "directory of CNI network lists (*.conflist)");
  auto* cni_bin = app.add_option("--cni-plugin-dir", config.cni_plugin_dirs,
                                 "directory of CNI plugins (repeatable)")
                      ->allow_extra_args(false);
  auto* awsvpc_net = app.add_option("--awsvpc-network", config.awsvpc_network,
                                    "network list for awsvpc tasks (\"\": berth's bridge)");
  auto* bridge_net = app.add_option("--bridge-network", config.bridge_network,
                                    "network list for bridge tasks (\"\": berth's bridge)");
  auto* bridge_name =
      app.add_option("--bridge-name", config.bridge_name, "berth's own bridge interface");
  auto* bridge_subnet =
      app.add_option("--bridge-subnet", config.bridge_subnet, "berth's own bridge subnet");
  auto* port_range = app.add_option("--host-port-range", config.host_port_range,
                                    "LOW-HIGH, where a hostPort of 0 is taken from");
  auto* eni = app.add_option("--eni", config.eni_pool,
                             "NAME=CIDR[,CIDR][@GATEWAY]: a host interface for awsvpc tasks, one "
                             "each (repeatable)")
                  ->allow_extra_args(false);
  auto* etcd_endpoints = app.add_option("--etcd-endpoints", config.etcd_endpoints,
                                        "etcd to register with: URL[,URL...] (none: no fleet)")
                             ->delimiter(',')
                             ->allow_extra_args(false);
  auto* cluster = app.add_option("--cluster", config.cluster, "the fleet's name in etcd");
  auto* node_name =
      app.add_option("--node-name", config.node_name, "this node's name (default: the host name)");
  auto* etcd_ca =
      app.add_option("--etcd-cacert", config.etcd_ca_file, "CA that signed etcd's certificate");
  auto* etcd_cert =
      app.add_option("--etcd-cert", config.etcd_cert_file, "client certificate for etcd");
  auto* etcd_key = app.add_option("--etcd-key", config.etcd_key_file, "its key");
  auto* etcd_user = app.add_option("--etcd-user", config.etcd_user, "USER:PASSWORD for etcd");
  auto* join_token = app.add_option("--join-token", config.join_token,
                                    "join the fleet with a token from `berthctl cluster token "
                                    "create` (used once; the identity is kept)");
  auto* attributes = app.add_option("--node-attribute", config.node_attributes,
                                    "KEY=VALUE shown in the node record (repeatable)")
                         ->allow_extra_args(false);
  auto* metrics_address = app.add_option("--metrics-address", config.metrics_address,
                                         "HOST:PORT of Prometheus /metrics (\"\": off)");
  auto* introspection_address =
      app.add_option("--introspection-address", config.introspection_address,
                     "HOST:PORT of the ECS agent's introspection API (\"\": off)");
  auto* task_metadata = app.add_flag(
      "--task-metadata-endpoint,!--no-task-metadata-endpoint", config.task_metadata_endpoint,
      "serve the ECS task metadata endpoint v4 inside tasks (default: on)");
  auto* exec_policy =
      app.add_option("--exec-policy", config.exec_policy,
                     "who may open exec and debug sessions: allow, opt-in (tasks with "
                     "enableExecuteCommand) or deny");
  auto* shutdown_grace =
      app.add_option("--shutdown-grace", config.shutdown_grace_seconds,
                     "seconds to stop every task in when the node shuts down, under systemd "
                     "(a logind delay lock; 0: none)");
  auto* cgroup_driver =
      app.add_option("--cgroup-driver", config.cgroup_driver,
                     "how task cgroups are made: systemd (transient slices) or cgroupfs "
                     "(default: systemd when it is the init system)");
  CLI11_PARSE(app, argc, argv);

  if (!config_file.empty()) {
    // The file sets the base; flags given on the command line win.
    AgentConfig from_file;
    if (auto applied = apply_toml_file(config_file, from_file); !applied) {
      spdlog::critical("{}", applied.error().message());
      return 2;
    }
    auto take = [](CLI::Option* opt, auto& flag_value, const auto& file_value) {
      if (opt->count() == 0) flag_value = file_value;
    };
    take(address, config.containerd_address, from_file.containerd_address);
    take(ns, config.ns, from_file.ns);
    take(root, config.root, from_file.root);
    take(state, config.state, from_file.state);
    take(socket, config.socket, from_file.socket);
    take(insecure, config.insecure_registries, from_file.insecure_registries);
    take(mirrors, config.registry_mirrors, from_file.registry_mirrors);
    take(auth, config.credentials_file, from_file.credentials_file);
    take(logger, config.logger_path, from_file.logger_path);
    take(level, config.log_level, from_file.log_level);
    take(privileged, config.allow_privileged, from_file.allow_privileged);
    take(host_paths, config.allowed_host_paths, from_file.allowed_host_paths);
    take(seccomp, config.seccomp_profile, from_file.seccomp_profile);
    take(retention, config.task_retention_seconds, from_file.task_retention_seconds);
    take(manifest_dir, config.manifest_dir, from_file.manifest_dir);
    take(manifest_check, config.manifest_check_seconds, from_file.manifest_check_seconds);
    take(gc_interval, config.image_gc_interval_seconds, from_file.image_gc_interval_seconds);
    take(gc_min_age, config.image_gc_min_age_seconds, from_file.image_gc_min_age_seconds);
    take(reserved_cpu, config.reserved_cpu_units, from_file.reserved_cpu_units);
    take(reserved_memory, config.reserved_memory_mib, from_file.reserved_memory_mib);
    take(pids_limit, config.task_pids_limit, from_file.task_pids_limit);
    take(network_mode, config.default_network_mode, from_file.default_network_mode);
    take(cni_conf, config.cni_conf_dir, from_file.cni_conf_dir);
    take(cni_bin, config.cni_plugin_dirs, from_file.cni_plugin_dirs);
    take(awsvpc_net, config.awsvpc_network, from_file.awsvpc_network);
    take(bridge_net, config.bridge_network, from_file.bridge_network);
    take(bridge_name, config.bridge_name, from_file.bridge_name);
    take(bridge_subnet, config.bridge_subnet, from_file.bridge_subnet);
    take(port_range, config.host_port_range, from_file.host_port_range);
    take(eni, config.eni_pool, from_file.eni_pool);
    take(etcd_endpoints, config.etcd_endpoints, from_file.etcd_endpoints);
    take(cluster, config.cluster, from_file.cluster);
    take(node_name, config.node_name, from_file.node_name);
    take(etcd_ca, config.etcd_ca_file, from_file.etcd_ca_file);
    take(etcd_cert, config.etcd_cert_file, from_file.etcd_cert_file);
    take(etcd_key, config.etcd_key_file, from_file.etcd_key_file);
    take(etcd_user, config.etcd_user, from_file.etcd_user);
    take(join_token, config.join_token, from_file.join_token);
    take(attributes, config.node_attributes, from_file.node_attributes);
    take(metrics_address, config.metrics_address, from_file.metrics_address);
    take(introspection_address, config.introspection_address, from_file.introspection_address);
    take(task_metadata, config.task_metadata_endpoint, from_file.task_metadata_endpoint);
    take(exec_policy, config.exec_policy, from_file.exec_policy);
    take(shutdown_grace, config.shutdown_grace_seconds, from_file.shutdown_grace_seconds);
    take(cgroup_driver, config.cgroup_driver, from_file.cgroup_driver);
  }
  return std::nullopt;
}

}  // namespace berth::agent
