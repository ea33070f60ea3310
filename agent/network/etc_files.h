// The files a container's network is described by: its hostname, its
// /etc/hosts and its /etc/resolv.conf. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace berth::agent {

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
