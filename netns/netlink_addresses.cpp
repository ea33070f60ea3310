// Netlink: IPv4/IPv6 addresses of links and routes of the main table.
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <array>

#include "netns/libnl_util.h"
#include "netns/netlink.h"

namespace berth::netns {

using detail::AddrPtr;
using detail::CachePtr;
using detail::format_cidr;
using detail::format_ip;
using detail::get_link;
using detail::LinkPtr;
using detail::NexthopPtr;
using detail::nl_alloc_error;
using detail::nl_error;
using detail::NlAddrPtr;
using detail::parse_address;
using detail::RoutePtr;

namespace {

// An rtnl_addr for `cidr` on `name`, as add and delete both send it.
Result<AddrPtr> make_addr(nl_sock* sock, const std::string& name, const std::string& cidr,
                          const std::string& what) {
  LinkPtr link = BERTH_TRY_CTX(get_link(sock, name), what);
  NlAddrPtr local = BERTH_TRY_CTX(parse_address(cidr), what);
  AddrPtr addr(rtnl_addr_alloc());
  if (!addr) return fail(nl_alloc_error(what));
  rtnl_addr_set_ifindex(addr.get(), rtnl_link_get_ifindex(link.get()));
  int err = rtnl_addr_set_local(addr.get(), local.get());
  if (err < 0) return fail(nl_error(err, what));
  rtnl_addr_set_prefixlen(addr.get(), static_cast<int>(nl_addr_get_prefixlen(local.get())));
  return addr;
}

bool is_ipv6_link_local(const nl_addr* addr) {
  const auto* bytes = static_cast<const unsigned char*>(nl_addr_get_binary_addr(addr));
  return bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80;  // fe80::/10
}

bool is_default(const std::string& destination) {
  return destination.empty() || destination == "default";
}

// The all-zero address of `family` with prefix length 0. libnl's own
// "default" is a zero-length address, which the kernel does not take as
// RTA_DST.
Result<NlAddrPtr> default_destination(int family) {
  std::array<unsigned char, 16> zeros{};
  NlAddrPtr addr(nl_addr_build(family, zeros.data(), family == AF_INET ? 4 : 16));
  if (!addr) return fail(nl_alloc_error("default route"));
  nl_addr_set_prefixlen(addr.get(), 0);
  return addr;
}

std::string describe(const Route& route) {
  std::string text = is_default(route.destination) ? "default" : route.destination;
  if (!route.gateway.empty()) text += " via " + route.gateway;
  if (!route.device.empty()) text += " dev " + route.device;
  return "route '" + text + "'";
}

// A main-table unicast route as `add` or `delete` sends it.
Result<RoutePtr> make_route(nl_sock* sock, const Route& route, bool for_delete,
                            const std::string& what) {
  if (route.gateway.empty() && route.device.empty()) {
    return fail(ErrorCode::kInvalidArgument, what + ": needs a gateway or a device");
  }
  NlAddrPtr gateway;
  if (!route.gateway.empty()) gateway = BERTH_TRY_CTX(parse_address(route.gateway), what);
  NlAddrPtr destination;
  if (!is_default(route.destination)) {
    destination = BERTH_TRY_CTX(parse_address(route.destination), what);
  } else if (gateway) {
    destination = BERTH_TRY_CTX(default_destination(nl_addr_get_family(gateway.get())), what);
  } else {
    return fail(ErrorCode::kInvalidArgument,
                what + ": a default route without a gateway has no address family");
  }
  int family = nl_addr_get_family(destination.get());
  if (gateway && nl_addr_get_family(gateway.get()) != family) {
    return fail(ErrorCode::kInvalidArgument, what + ": destination and gateway families differ");
  }

  RoutePtr result(rtnl_route_alloc());
  NexthopPtr nexthop(rtnl_route_nh_alloc());
  if (!result || !nexthop) return fail(nl_alloc_error(what));
  rtnl_route_set_table(result.get(), RT_TABLE_MAIN);
  rtnl_route_set_family(result.get(), family);
  rtnl_route_set_type(result.get(), RTN_UNICAST);
  // Deletion matches any protocol (as `ip route del` does); added routes are
  // marked as an administrator's, like `ip route add`.
  rtnl_route_set_protocol(result.get(), for_delete ? RTPROT_UNSPEC : RTPROT_BOOT);
  rtnl_route_set_scope(result.get(), gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
  int err = rtnl_route_set_dst(result.get(), destination.get());
  if (err < 0) return fail(nl_error(err, what));
  if (!route.device.empty()) {
    LinkPtr link = BERTH_TRY_CTX(get_link(sock, route.device), what);
    rtnl_route_nh_set_ifindex(nexthop.get(), rtnl_link_get_ifindex(link.get()));
  }
  if (gateway) rtnl_route_nh_set_gateway(nexthop.get(), gateway.get());
  // The route owns its nexthops from here on.
  rtnl_route_add_nexthop(result.get(), nexthop.release());
  return result;
}

Status change_route(nl_sock* sock, const Route& route, int flags, const std::string& what) {
  RoutePtr request = BERTH_TRY(make_route(sock, route, /*for_delete=*/false, what));
  int err = rtnl_route_add(sock, request.get(), flags);
  if (err < 0) return fail(nl_error(err, what));
  return {};
}

}  // namespace

Status Netlink::add_address(const std::string& name, const std::string& cidr) {
  std::string what = "add address '" + cidr + "' to link '" + name + "'";
  AddrPtr addr = BERTH_TRY(make_addr(sock_.get(), name, cidr, what));
  int err = rtnl_addr_add(sock_.get(), addr.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) return fail(nl_error(err, what));
  return {};
}

Status Netlink::delete_address(const std::string& name, const std::string& cidr) {
  std::string what = "delete address '" + cidr + "' from link '" + name + "'";
  AddrPtr addr = BERTH_TRY(make_addr(sock_.get(), name, cidr, what));
  int err = rtnl_addr_delete(sock_.get(), addr.get(), 0);
  if (err < 0) return fail(nl_error(err, what));
  return {};
}

Result<std::vector<std::string>> Netlink::addresses(const std::string& name) {
  std::string what = "addresses of link '" + name + "'";
  LinkPtr link = BERTH_TRY_CTX(get_link(sock_.get(), name), what);
  int index = rtnl_link_get_ifindex(link.get());
  nl_cache* raw = nullptr;
  int err = rtnl_addr_alloc_cache(sock_.get(), &raw);
  CachePtr cache(raw);
  if (err < 0) return fail(nl_error(err, what));
  std::vector<std::string> v4;
  std::vector<std::string> v6;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj != nullptr;
       obj = nl_cache_get_next(obj)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(obj);
    nl_addr* local = rtnl_addr_get_local(addr);
    if (rtnl_addr_get_ifindex(addr) != index || local == nullptr) continue;
    auto prefixlen = static_cast<unsigned>(rtnl_addr_get_prefixlen(addr));
    if (rtnl_addr_get_family(addr) == AF_INET) {
      v4.push_back(format_cidr(local, prefixlen));
    } else if (rtnl_addr_get_family(addr) == AF_INET6 && !is_ipv6_link_local(local)) {
      // Link-local addresses are made by the kernel for every link, not
      // configured by anyone.
      v6.push_back(format_cidr(local, prefixlen));
    }
  }
  v4.insert(v4.end(), v6.begin(), v6.end());
  return v4;
}

Status Netlink::add_route(const Route& route) {
  return change_route(sock_.get(), route, NLM_F_CREATE | NLM_F_EXCL, "add " + describe(route));
}

Status Netlink::delete_route(const Route& route) {
  std::string what = "delete " + describe(route);
  RoutePtr request = BERTH_TRY(make_route(sock_.get(), route, /*for_delete=*/true, what));
  int err = rtnl_route_delete(sock_.get(), request.get(), 0);
  if (err < 0) return fail(nl_error(err, what));
  return {};
}

Status Netlink::set_default_gateway(const std::string& gateway, const std::string& device) {
  // Replace: a namespace has one default route per family, and setting it
  // again (a retry, a changed gateway) must not fail.
  Route route{.destination = "default", .gateway = gateway, .device = device};
  return change_route(sock_.get(), route, NLM_F_CREATE | NLM_F_REPLACE,
                      "set default gateway '" + gateway + "' on link '" + device + "'");
}

Result<std::vector<Route>> Netlink::routes() {
  nl_cache* raw_links = nullptr;
  int err = rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, &raw_links);
  CachePtr links(raw_links);
  if (err < 0) return fail(nl_error(err, "list routes: list links"));
  nl_cache* raw_routes = nullptr;
  err = rtnl_route_alloc_cache(sock_.get(), AF_UNSPEC, 0, &raw_routes);
  CachePtr cache(raw_routes);
  if (err < 0) return fail(nl_error(err, "list routes"));

  std::vector<Route> routes;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj != nullptr;
       obj = nl_cache_get_next(obj)) {
    auto* route = reinterpret_cast<rtnl_route*>(obj);
    // Local, broadcast and multicast routes live in other tables or types
    // and are the kernel's bookkeeping, not configuration.
    if (rtnl_route_get_table(route) != RT_TABLE_MAIN || rtnl_route_get_type(route) != RTN_UNICAST) {
      continue;
    }
    nl_addr* dst = rtnl_route_get_dst(route);
    std::string destination = "default";
    if (dst != nullptr && nl_addr_get_prefixlen(dst) > 0) {
      destination = format_cidr(dst, nl_addr_get_prefixlen(dst));
    }
    // A multipath route is reported once per nexthop.
    for (int i = 0; i < rtnl_route_get_nnexthops(route); ++i) {
      rtnl_nexthop* nexthop = rtnl_route_nexthop_n(route, i);
      Route entry{.destination = destination};
      if (nl_addr* gateway = rtnl_route_nh_get_gateway(nexthop); gateway != nullptr) {
        entry.gateway = format_ip(gateway);
      }
      std::array<char, IFNAMSIZ> name{};
      if (rtnl_link_i2name(links.get(), rtnl_route_nh_get_ifindex(nexthop), name.data(),
                           name.size()) != nullptr) {
        entry.device = name.data();
      }
      routes.push_back(std::move(entry));
    }
  }
  return routes;
}

}  // namespace berth::netns
