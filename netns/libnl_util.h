// Internal to netns/: RAII owners for libnl objects and the conversions
// (errors, addresses, link lookups) that netlink*.cpp share.
#pragma once

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include <memory>
#include <string>

#include "common/error.h"

namespace berth::netns::detail {

// libnl objects are reference counted; each owner holds one reference.
struct LinkPut {
  void operator()(rtnl_link* link) const { rtnl_link_put(link); }
};
struct AddrPut {
  void operator()(rtnl_addr* addr) const { rtnl_addr_put(addr); }
};
struct NlAddrPut {
  void operator()(nl_addr* addr) const { nl_addr_put(addr); }
};
struct RoutePut {
  void operator()(rtnl_route* route) const { rtnl_route_put(route); }
};
struct NexthopFree {
  void operator()(rtnl_nexthop* nexthop) const { rtnl_route_nh_free(nexthop); }
};
struct CacheFree {
  void operator()(nl_cache* cache) const { nl_cache_free(cache); }
};

using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;
using AddrPtr = std::unique_ptr<rtnl_addr, AddrPut>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrPut>;
using RoutePtr = std::unique_ptr<rtnl_route, RoutePut>;
using NexthopPtr = std::unique_ptr<rtnl_nexthop, NexthopFree>;
using CachePtr = std::unique_ptr<nl_cache, CacheFree>;

// An Error from a libnl return code (negative NLE_*), with libnl's text.
Error nl_error(int err, const std::string& what);

// An allocation failure of libnl (it returns NULL only when out of memory).
Error nl_alloc_error(const std::string& what);

// The link called `name`, fresh from the kernel; kNotFound if absent.
Result<LinkPtr> get_link(nl_sock* sock, const std::string& name);

// An address from text: "10.0.0.2/24", "fd00::1", "10.1.0.0/16".
Result<NlAddrPtr> parse_address(const std::string& text);

// "10.0.0.2" / "fd00::2" (no prefix length).
std::string format_ip(const nl_addr* addr);

// "10.0.0.2/24" with the given prefix length.
std::string format_cidr(const nl_addr* addr, unsigned prefixlen);

}  // namespace berth::netns::detail
