// berthd's configuration: defaults, then a TOML file (--config), then flags.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/network/task_network.h"
#include "common/error.h"
#include "runtime/registry.h"

namespace berth::agent {

struct AgentConfig {
  std::string containerd_address = "/run/containerd/containerd.sock";
  std::string ns = "berth";
  std::string root = "/var/lib/berth";  // persistent: logs, checkpoints
  std::string state = "/run/berth";     // runtime: scratch mounts
  std::string socket = "/run/berth/berth.sock";
  std::vector<std::string> insecure_registries;  // host:port
  std::vector<std::string> registry_mirrors;     // REGISTRY=ENDPOINT
  std::string credentials_file;  // docker config.json; "" = <root>/registry-auth.json
  std::string logger_path;       // "" = berth-logger beside berthd
  std::string log_level = "info";
  // Task definitions: `privileged: true` is refused unless allowed, and host
  // volumes must lie under one of these paths.
  bool allow_privileged = false;
  std::vector<std::string> allowed_host_paths;
  // Every container's seccomp filter but a privileged one's, as Docker's
  // default: a profile in Docker's format (Debian's containers-common); ""
  // = none.
  std::string seccomp_profile = "/usr/share/containers/seccomp.json";
  // How long a stopped task keeps its record and logs (ECS: 3 hours).
  int64_t task_retention_seconds = int64_t{3} * 3600;
  // Static tasks: every *.json task definition in this directory runs and
  // is kept running (like the kubelet's static pods); "" = none. Checked
  // every manifest_check_seconds.
  std::string manifest_dir;
  int64_t manifest_check_seconds = 20;
  // Image GC: every image_gc_interval_seconds (0: never), images that no
  // task or container uses and that were not used for
  // image_gc_min_age_seconds are removed (ECS: 3 h and 1 h).
  int64_t image_gc_interval_seconds = int64_t{3} * 3600;
  int64_t image_gc_min_age_seconds = 3600;
  // Resources: what the node keeps for the system and berthd (ECS:
  // ECS_RESERVED_MEMORY; the kubelet: system-reserved); tasks share the
  // rest. task_pids_limit is each task cgroup's pids.max (0: none).
  int64_t reserved_cpu_units = 0;
  int64_t reserved_memory_mib = 256;
  int64_t task_pids_limit = 0;
  // Task networking (agent/network/task_network.h).
  std::string default_network_mode = "bridge";  // of a definition that names none
  std::string cni_conf_dir = "/etc/cni/net.d";
  std::vector<std::string> cni_plugin_dirs = {"/usr/lib/cni"};
  std::string awsvpc_network;  // a list in cni_conf_dir; "" = berth's own bridge
  std::string bridge_network;  // likewise for bridge mode
  std::string bridge_name = "berth0";
  std::string bridge_subnet = "10.213.0.0/16";
  std::string host_port_range = "49153-65535";  // where hostPort 0 is taken from
  std::vector<std::string> eni_pool;            // "eth5=10.0.0.5/24@10.0.0.1", one per awsvpc task
  // The fleet (controlplane/, docs/control-plane.md): with etcd endpoints
  // the node registers in `cluster` as `node_name` (default: the host's
  // name) and runs the tasks etcd holds for it. TLS: a CA to verify etcd,
  // a client certificate and key; etcd_user is USER:PASSWORD.
  std::vector<std::string> etcd_endpoints;
  std::string cluster = "default";
  std::string node_name;
  std::string etcd_ca_file;
  std::string etcd_cert_file;
  std::string etcd_key_file;
  std::string etcd_user;
  // An Anywhere node's single-use token (controlplane/join.h); the identity
  // it gives is kept in <root>/etcd-identity.json.
  std::string join_token;
  std::vector<std::string> node_attributes;  // KEY=VALUE, in the node record

  // Prometheus /metrics and the ECS agent's introspection API, HOST:PORT
  // ("": off); and the ECS task metadata endpoint v4 inside tasks.
  std::string metrics_address = "127.0.0.1:51680";
  std::string introspection_address = "127.0.0.1:51678";
  bool task_metadata_endpoint = true;
  // Who may open exec and debug sessions into tasks (docs/exec.md): allow
  // (every task), opt-in (tasks with enableExecuteCommand: true) or deny.
  std::string exec_policy = "allow";
  // Graceful node shutdown (docs/systemd.md): under systemd, berthd holds a
  // logind delay lock and, when the node shuts down, stops every task within
  // this many seconds before letting the shutdown go on; 0 takes no lock.
  int64_t shutdown_grace_seconds = 30;
  // How task cgroups are made (docs/systemd.md): "systemd" (transient
  // slices over sd-bus, runc's systemd cgroup mode), "cgroupfs" (written
  // directly), or "" for systemd when it is the host's init system.
  std::string cgroup_driver;

  std::string log_dir() const { return root + "/logs"; }
  std::string effective_credentials_file() const {
    return credentials_file.empty() ? root + "/registry-auth.json" : credentials_file;
  }
  // The network settings as the engine wants them (validated).
  Result<NetworkConfig> network_config() const;
  // Mirrors and insecure registries as the image service wants them.
  Result<runtime::RegistryConfig> registry_config() const;
};

// Applies the settings of a TOML document to `config`. Unknown keys and
// values of the wrong type are errors that name the key.
Status apply_toml(std::string_view toml_text, std::string_view source_name, AgentConfig& config);
Status apply_toml_file(const std::string& path, AgentConfig& config);

// Checks values that every entry point must agree on (absolute paths,
// a known log level, well-formed mirrors).
Status validate(const AgentConfig& config);

}  // namespace berth::agent
