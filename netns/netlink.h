// Route netlink through libnl-route-3: links, veth pairs, moving a link
// between namespaces, renaming, MTU, IPv4 and IPv6 addresses, routes and
// per-interface counters.
//
// A Netlink object owns one NETLINK_ROUTE socket. A socket stays bound to
// the network namespace it was created in, so open_in() creates it on a
// short-lived thread inside the namespace and every later call, from any
// thread, acts in that namespace. One object is not thread-safe; make one
// per thread or per operation.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

struct nl_sock;

namespace berth::netns {

struct LinkInfo {
  int index = 0;
  std::string name;
  std::string kind;   // "veth", "bridge", "" for a plain device
  std::string mac;    // "aa:bb:cc:dd:ee:ff"
  std::string alias;  // IFLA_IFALIAS
  uint32_t mtu = 0;
  bool up = false;  // IFF_UP
};

struct LinkCounters {
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  uint64_t rx_packets = 0;
  uint64_t tx_packets = 0;
  uint64_t rx_errors = 0;
  uint64_t tx_errors = 0;
  uint64_t rx_dropped = 0;
  uint64_t tx_dropped = 0;
};

struct Route {
  // CIDR ("10.1.0.0/16", "fd00::/64"); "" or "default" for the default route
  // (routes() reports "default"; its family is the gateway's).
  std::string destination;
  std::string gateway;  // "" for a directly connected route
  std::string device;   // link name; may be "" when a gateway is given
};

class Netlink {
 public:
  // A socket in the caller's current network namespace.
  static Result<Netlink> open();
  // A socket in the namespace at `netns_path` (a pin or /proc/<pid>/ns/net).
  static Result<Netlink> open_in(const std::string& netns_path);

  Netlink(Netlink&&) noexcept;
  Netlink& operator=(Netlink&&) noexcept;
  ~Netlink();

  // kNotFound when no such link.
  Result<LinkInfo> link(const std::string& name);
  Result<LinkInfo> link_by_index(int index);
  Result<std::vector<LinkInfo>> links();

  Status set_up(const std::string& name, bool up);
  Status set_mtu(const std::string& name, uint32_t mtu);
  // The link must be down; renames are refused by the kernel otherwise.
  Status rename(const std::string& name, const std::string& new_name);
  Status set_alias(const std::string& name, const std::string& alias);
  // A veth pair `name` <-> `peer` in this namespace; with `peer_netns_path`
  // the peer is created directly in that namespace.
  Status create_veth(const std::string& name, const std::string& peer,
                     const std::string& peer_netns_path = "");
  // kNotFound if absent.
  Status delete_link(const std::string& name);
  // Moves the link into the namespace whose fd (open_namespace) is given.
  Status move_to_namespace(const std::string& name, int netns_fd);

  // CIDR addresses, IPv4 ("10.0.0.2/24") or IPv6 ("fd00::2/64").
  Status add_address(const std::string& name, const std::string& cidr);
  Status delete_address(const std::string& name, const std::string& cidr);
  Result<std::vector<std::string>> addresses(const std::string& name);

  // Main-table unicast routes. kNotFound when deleting an absent route.
  Status add_route(const Route& route);
  Status delete_route(const Route& route);
  // One entry per nexthop; IPv4 and IPv6, including the kernel's prefix routes.
  Result<std::vector<Route>> routes();
  // A default route through `gateway` (IPv4 or IPv6) on `device`, replacing
  // the default route of that family if there is one.
  Status set_default_gateway(const std::string& gateway, const std::string& device);

  Result<LinkCounters> counters(const std::string& name);

 private:
  explicit Netlink(nl_sock* sock);
  struct SockDeleter {
    void operator()(nl_sock* sock) const;
  };
  std::unique_ptr<nl_sock, SockDeleter> sock_;
};

}  // namespace berth::netns
