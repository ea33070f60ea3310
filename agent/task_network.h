// Task networking: the namespaces berth makes for awsvpc tasks and for the
// containers of bridge tasks, what goes into them (a CNI network list, or a
// host interface moved in ENI-style), the host ports they publish, and the
// files that name them (/etc/hosts, /etc/resolv.conf, the hostname).
//
// Every attachment is known by one id (the task id for awsvpc, the
// containerd id for a bridge container), and everything it holds on the
// host is found again from that id alone:
//   <state>/netns/<id>                     the pinned namespace
//   <root>/cni/cache/<network>-<id>-eth0   the CNI cache entry (written before ADD)
//   <root>/cni/networks/<network>/<ip>     host-local's allocation (berth's own networks)
//   <root>/network/eni/<id>.json           a borrowed host interface, written before it moves
// so teardown needs no checkpoint, and a berthd killed at any moment tears
// down at its next start whatever no task owns.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/task_state.h"
#include "cni/cni.h"
#include "common/error.h"

namespace berth::agent {

// A host interface given to an awsvpc task as its eth0, with what to
// configure on it there (ECS's ENI, on any Linux host).
struct EniSpec {
  std::string name;                    // on the host
  std::vector<std::string> addresses;  // CIDR, IPv4 and/or IPv6
  std::string gateway;                 // "" for none
  uint32_t mtu = 0;                    // 0: leave as is
};

// "eth5=10.0.0.5/24,fd00::5/64@10.0.0.1" (addresses and gateway optional)
// -> EniSpec. Errors name the part that is wrong.
Result<EniSpec> parse_eni_spec(std::string_view text);

struct NetworkConfig {
  std::string root_dir;   // persistent state
  std::string state_dir;  // runtime state (a tmpfs)
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
  std::string id;                  // task id (awsvpc) or containerd id (bridge)
  std::string mode;                // "awsvpc" or "bridge"
  std::vector<PortBinding> ports;  // host_port 0: chosen from the range
  std::optional<EniSpec> eni;      // awsvpc only
};

class NetworkManager {
 public:
  explicit NetworkManager(NetworkConfig config);

  // Makes the namespace and its interface. On failure nothing is left (the
  // error carries the CNI plugin's own message).
  Result<NetworkRecord> setup(const NetworkRequest& request);
  // Tears down everything `id` holds: a borrowed interface goes back to the
  // host under its own name, CNI DEL runs (also when the namespace is
  // gone), the namespace is unpinned, the host ports are released.
  // Idempotent.
  Status teardown(const std::string& id);
  // The ids that hold anything on the host.
  std::set<std::string> ids_with_host_state() const;
  // Marks ports as published by `id` (a restarted berthd, for its adopted
  // tasks).
  void reserve_ports(const std::string& id, const std::vector<PortBinding>& ports);

  std::string netns_path(const std::string& id) const;
  const NetworkConfig& config() const { return config_; }

 private:
  Result<cni::NetworkList> network_list(const std::string& mode) const;
  cni::NetworkList default_network_list() const;
  Result<std::vector<PortBinding>> take_ports(const std::string& id,
                                              const std::vector<PortBinding>& wanted);
  void release_ports(const std::string& id);
  Status setup_eni(const std::string& id, const std::string& netns, const EniSpec& eni,
                   NetworkRecord& record);
  Status teardown_eni(const std::string& id, const std::string& netns);
  std::string eni_record_path(const std::string& id) const;

  NetworkConfig config_;
  cni::Cni cni_;
  std::mutex ports_mu_;
  std::map<std::string, std::vector<PortBinding>> ports_;  // by id
  uint32_t next_port_ = 0;
};

// The files a container's network is described by. Pure.
//
// "ip-10-213-0-5" for 10.213.0.5 (EC2's private DNS name); "" for none.
std::string hostname_for_address(const std::string& address);

struct HostsEntry {
  std::string address;
  std::vector<std::string> names;
};
// localhost lines, then each entry.
std::string render_hosts(const std::vector<HostsEntry>& entries);

// The node's resolv.conf as a container outside the host's namespace can
// use it: nameservers on loopback (a local stub resolver) dropped; with
// `servers` or `search` given, those replace the node's.
std::string render_resolv_conf(std::string_view node_resolv_conf,
                               const std::vector<std::string>& servers,
                               const std::vector<std::string>& search);

}  // namespace berth::agent
