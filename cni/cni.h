// CNI plugin invocation, spec 1.0.0 (results of 0.4.0 and 0.3.x read too):
// network configuration lists, ADD / CHECK / DEL / VERSION, chaining with
// prevResult, runtimeConfig capabilities, CNI_ARGS, a result cache on disk
// so that DEL gets the same config and arguments as ADD, timeouts, and the
// plugin's own error message carried up.
//
// Cache: <cache_dir>/<network>-<container id>-<ifname>, libcni's
// "cniCacheV1" JSON. berth writes it *before* the first plugin runs (config
// and arguments, no result yet) and again with the result, so a berthd
// killed in the middle of an ADD can always DEL at its next start.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace berth::cni {

struct NetworkList {
  std::string cni_version;  // of the list, given to every plugin
  std::string name;
  bool disable_check = false;
  std::vector<nlohmann::json> plugins;  // each has "type"
  std::string source;                   // file it came from; "" if generated
};

// Parses a .conflist (or a single-plugin .conf, turned into a list of one).
// Errors name the field: "plugins[1].type: missing".
Result<NetworkList> parse_network_list(std::string_view text, const std::string& source = "");
// The list named `name` in `conf_dir` (*.conflist, *.conf, *.json, sorted by
// file name, the first with that name wins). kNotFound names the directory.
Result<NetworkList> load_network_list(const std::string& conf_dir, const std::string& name);
nlohmann::json to_json(const NetworkList& list);

// runtimeConfig capability arguments.
struct PortMapping {
  uint32_t host_port = 0;
  uint32_t container_port = 0;
  std::string protocol = "tcp";
  std::string host_ip;  // "" for every address
};
struct Bandwidth {
  uint64_t ingress_rate = 0;  // bits per second
  uint64_t ingress_burst = 0;
  uint64_t egress_rate = 0;
  uint64_t egress_burst = 0;
};
struct CapabilityArgs {
  std::vector<PortMapping> port_mappings;  // "portMappings"
  std::optional<Bandwidth> bandwidth;      // "bandwidth"
};

struct Attachment {
  std::string container_id;                               // CNI_CONTAINERID
  std::string netns;                                      // CNI_NETNS; may be "" for DEL
  std::string ifname;                                     // CNI_IFNAME
  std::vector<std::pair<std::string, std::string>> args;  // CNI_ARGS; IgnoreUnknown=1 is added
  CapabilityArgs capabilities;
};

struct Interface {
  std::string name;
  std::string mac;
  std::string sandbox;  // the netns path, "" for a host interface
};
struct IpConfig {
  std::string address;           // CIDR
  std::string gateway;           // may be ""
  std::optional<int> interface;  // index into interfaces
};
struct RouteConfig {
  std::string dst;  // CIDR
  std::string gw;   // may be ""
};
struct Dns {
  std::vector<std::string> nameservers;
  std::string domain;
  std::vector<std::string> search;
  std::vector<std::string> options;
};
struct CniResult {
  std::string cni_version;
  std::vector<Interface> interfaces;
  std::vector<IpConfig> ips;
  std::vector<RouteConfig> routes;
  Dns dns;
  nlohmann::json raw;  // as the last plugin printed it
};
// Reads a result of version 1.0.0, 0.4.0 or 0.3.x.
Result<CniResult> parse_result(const nlohmann::json& json);

// The addresses (without prefix length) that `result` gives `ifname` inside
// the namespace (interfaces whose sandbox is set), IPv4 first.
std::vector<std::string> sandbox_addresses(const CniResult& result, const std::string& ifname);

struct CacheEntry {
  std::string network;
  std::string container_id;
  std::string ifname;
  std::string path;  // the cache file
};

struct CniConfig {
  std::vector<std::string> plugin_dirs = {"/usr/lib/cni"};  // CNI_PATH
  std::string cache_dir;                                    // required
  std::chrono::milliseconds timeout{60000};                 // per plugin run
};

class Cni {
 public:
  explicit Cni(CniConfig config);

  // Runs ADD through the list in order. On failure it runs DEL (in reverse,
  // errors ignored), removes the cache entry, and returns the plugin's
  // error: "CNI plugin 'bridge' (network 'berth') ADD failed: <msg>: <details>".
  Result<CniResult> add(const NetworkList& list, const Attachment& attachment);
  // CHECK (lists of version >= 0.4.0 without disableCheck; otherwise a
  // no-op), with the cached result as prevResult.
  Status check(const NetworkList& list, const Attachment& attachment);
  // DEL in reverse order with the cached config, arguments and result. No
  // cache entry: nothing to do. A plugin's failure is returned after the
  // rest have run; the cache entry is removed only when every plugin
  // succeeded. An empty or missing netns is passed as CNI_NETNS="" (the
  // cache does not keep the netns: a /proc/<pid>/ns/net path stored at ADD
  // could name another process's, even the host's, namespace by then).
  // With CNI_NETNS="" the plugins release their IPAM and host-side state but
  // leave the interface in the namespace, which goes away with it.
  Status del(const std::string& network, const std::string& container_id, const std::string& ifname,
             const std::string& netns = "");
  // DEL with an explicit list, for when there is no cache entry. When there
  // is one, its config, arguments and result are used (they are what ADD
  // ran with) and only the attachment's netns is taken; a cache entry that
  // cannot be read is passed over in favour of `list`.
  Status del(const NetworkList& list, const Attachment& attachment);
  // The spec versions the plugin `type` supports (VERSION).
  Result<std::vector<std::string>> versions(const std::string& type);

  // Every cache entry in cache_dir.
  std::vector<CacheEntry> cached() const;
  // The cached result of an attachment, if any.
  std::optional<CniResult> cached_result(const std::string& network,
                                         const std::string& container_id,
                                         const std::string& ifname) const;

 private:
  CniConfig config_;
};

}  // namespace berth::cni
