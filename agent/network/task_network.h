// Task networking: the namespaces berth makes for awsvpc tasks and for the
// containers of bridge tasks, and what goes into them (a CNI network list,
// or a host interface moved in ENI-style).
//
// Every attachment is known by one id (the task id for awsvpc, the
// containerd id for a bridge container), and everything it holds on the
// host is found again from that id alone (agent/state/paths.h):
//   <state>/netns/<id>                     the pinned namespace
//   <root>/cni/cache/<network>-<id>-eth0   the CNI cache entry (written before ADD)
//   <root>/cni/networks/<network>/<ip>     host-local's allocation (berth's own network)
//   <root>/network/eni/<id>.json           a borrowed host interface, written before it moves
// so teardown needs no record, and a berthd killed at any moment tears
// down at its next start whatever no task owns.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/network/attachment.h"
#include "agent/network/eni.h"
#include "agent/network/ports.h"
#include "agent/taskdef/taskdef.h"
#include "cni/cni.h"
#include "common/error.h"
#include "common/failpoint.h"

namespace berth::agent {

struct NetworkConfig {
  // Where the host state lives (agent/state/paths.h).
  std::string netns_dir;
  std::string cni_cache_dir;
  std::string cni_networks_dir;
  std::string eni_dir;
  std::string conf_dir = "/etc/cni/net.d";
  std::vector<std::string> plugin_dirs = {"/usr/lib/cni"};
  // Network lists from conf_dir for each mode; "" for berth's own network
  // (a bridge with host-local IPAM, made on first use).
  std::string awsvpc_network;
  std::string bridge_network;
  // berth's own network.
  std::string bridge_name = "berth0";
  std::string subnet = "10.213.0.0/16";
  // Where a hostPort of 0 is taken from (ECS: the ephemeral range).
  uint32_t host_port_min = 49153;
  uint32_t host_port_max = 65535;
  std::chrono::milliseconds cni_timeout{60000};
  // Host interfaces awsvpc tasks take, one each, when the task names none.
  std::vector<EniSpec> eni_pool;
};

struct NetworkRequest {
  std::string id;                           // task id (awsvpc) or containerd id (bridge)
  NetworkMode mode = NetworkMode::kAwsvpc;  // awsvpc or bridge
  std::vector<PortBinding> ports;           // host_port 0: chosen from the range
  std::optional<EniSpec> eni;               // awsvpc only
};

class NetworkManager {
 public:
  NetworkManager(NetworkConfig config, const Failpoints* failpoints = nullptr);

  // Makes the namespace and its interface. On failure nothing is left (the
  // error carries the CNI plugin's own message).
  Result<NetworkAttachment> setup(const NetworkRequest& request);
  // Tears down everything `id` holds: a borrowed interface goes back to the
  // host under its own name, CNI DEL runs (also when the namespace is
  // gone), the namespace is unpinned, the host ports are released.
  // Idempotent.
  Status teardown(const std::string& id);
  // The ids that hold anything on the host.
  std::set<std::string> ids_with_host_state() const;
  // Whether `id`'s namespace is still pinned.
  bool pinned(const std::string& id) const;
  // Marks ports as published by `id` (a restarted berthd, for its adopted
  // tasks).
  void reserve_ports(const std::string& id, const std::vector<PortBinding>& ports);

  std::string netns_path(const std::string& id) const;
  const NetworkConfig& config() const { return config_; }

 private:
  // The CNI list a task's network is made with; berth's own (no list
  // configured for the mode) has the portmap plugin only when the task
  // publishes ports: without, portmap does nothing but cost an exec at ADD
  // and a scan of its iptables chains at DEL. A DEL runs with the list its
  // ADD used (the CNI cache), whatever this says now.
  Result<cni::NetworkList> network_list(NetworkMode mode, bool publishes_ports) const;
  cni::NetworkList default_network_list(bool publishes_ports = true) const;
  Status setup_eni(const std::string& id, const std::string& netns, const EniSpec& eni,
                   NetworkAttachment& attachment);
  Status teardown_eni(const std::string& id, const std::string& netns);
  std::string eni_record_path(const std::string& id) const;

  NetworkConfig config_;
  const Failpoints* failpoints_;
  cni::Cni cni_;
  HostPorts ports_;
};

}  // namespace berth::agent
