// The socket and the link operations of Netlink; addresses and routes are in
// netlink_addresses.cpp.
#include "netns/netlink.h"

#include <net/if.h>
#include <netlink/route/link/veth.h>

#include <optional>

#include "netns/libnl_util.h"
#include "netns/netns.h"

namespace berth::netns {

using detail::CachePtr;
using detail::get_link;
using detail::LinkPtr;
using detail::nl_alloc_error;
using detail::nl_error;

namespace {

std::string format_mac(nl_addr* addr) {
  if (addr == nullptr) return {};
  const auto* bytes = static_cast<const unsigned char*>(nl_addr_get_binary_addr(addr));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string mac;
  for (unsigned i = 0; i < nl_addr_get_len(addr); ++i) {
    if (i > 0) mac += ':';
    mac += kHex[bytes[i] >> 4];
    mac += kHex[bytes[i] & 0xf];
  }
  return mac;
}

std::string or_empty(const char* text) { return text == nullptr ? std::string() : text; }

LinkInfo to_link_info(rtnl_link* link) {
  LinkInfo info;
  info.index = rtnl_link_get_ifindex(link);
  info.name = or_empty(rtnl_link_get_name(link));
  info.kind = or_empty(rtnl_link_get_type(link));
  info.mac = format_mac(rtnl_link_get_addr(link));
  info.alias = or_empty(rtnl_link_get_ifalias(link));
  info.mtu = rtnl_link_get_mtu(link);
  info.up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
  return info;
}

Result<LinkPtr> new_link(const std::string& what) {
  LinkPtr link(rtnl_link_alloc());
  if (!link) return fail(nl_alloc_error(what));
  return link;
}

// Applies `changes` to the link `name` as the kernel has it now.
Status change_link(nl_sock* sock, const std::string& name, rtnl_link* changes,
                   const std::string& what) {
  LinkPtr orig = BERTH_TRY_CTX(get_link(sock, name), what);
  int err = rtnl_link_change(sock, orig.get(), changes, 0);
  if (err < 0) return fail(nl_error(err, what));
  return {};
}

}  // namespace

Netlink::Netlink(nl_sock* sock) : sock_(sock) {}
Netlink::Netlink(Netlink&&) noexcept = default;
Netlink& Netlink::operator=(Netlink&&) noexcept = default;
Netlink::~Netlink() = default;

void Netlink::SockDeleter::operator()(nl_sock* sock) const { nl_socket_free(sock); }

Result<Netlink> Netlink::open() {
  nl_sock* raw = nl_socket_alloc();
  if (raw == nullptr) return fail(nl_alloc_error("netlink socket"));
  Netlink netlink(raw);
  int err = nl_connect(raw, NETLINK_ROUTE);
  if (err < 0) return fail(nl_error(err, "connect NETLINK_ROUTE socket"));
  return netlink;
}

Result<Netlink> Netlink::open_in(const std::string& netns_path) {
  // A netlink socket acts in the namespace it was created in, whichever
  // thread uses it later.
  std::optional<Netlink> netlink;
  Status opened = run_in(netns_path, [&]() -> Status {
    netlink = BERTH_TRY(open());
    return {};
  });
  if (!opened) return fail(opened.error().with_context("netlink in '" + netns_path + "'"));
  return std::move(*netlink);
}

Result<LinkInfo> Netlink::link(const std::string& name) {
  LinkPtr link = BERTH_TRY(get_link(sock_.get(), name));
  return to_link_info(link.get());
}

Result<LinkInfo> Netlink::link_by_index(int index) {
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(sock_.get(), index, nullptr, &raw);
  LinkPtr link(raw);
  if (err < 0) return fail(nl_error(err, "link #" + std::to_string(index)));
  return to_link_info(link.get());
}

Result<std::vector<LinkInfo>> Netlink::links() {
  nl_cache* raw = nullptr;
  int err = rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, &raw);
  CachePtr cache(raw);
  if (err < 0) return fail(nl_error(err, "list links"));
  std::vector<LinkInfo> links;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj != nullptr;
       obj = nl_cache_get_next(obj)) {
    links.push_back(to_link_info(reinterpret_cast<rtnl_link*>(obj)));
  }
  return links;
}

Status Netlink::set_up(const std::string& name, bool up) {
  std::string what = "set link '" + name + (up ? "' up" : "' down");
  LinkPtr changes = BERTH_TRY(new_link(what));
  if (up) {
    rtnl_link_set_flags(changes.get(), IFF_UP);
  } else {
    rtnl_link_unset_flags(changes.get(), IFF_UP);
  }
  return change_link(sock_.get(), name, changes.get(), what);
}

Status Netlink::set_mtu(const std::string& name, uint32_t mtu) {
  std::string what = "set MTU of link '" + name + "' to " + std::to_string(mtu);
  LinkPtr changes = BERTH_TRY(new_link(what));
  rtnl_link_set_mtu(changes.get(), mtu);
  return change_link(sock_.get(), name, changes.get(), what);
}

Status Netlink::rename(const std::string& name, const std::string& new_name) {
  std::string what = "rename link '" + name + "' to '" + new_name + "'";
  if (new_name.empty() || new_name.size() >= IFNAMSIZ) {
    return fail(ErrorCode::kInvalidArgument, what + ": names are 1 to 15 characters");
  }
  LinkPtr changes = BERTH_TRY(new_link(what));
  rtnl_link_set_name(changes.get(), new_name.c_str());
  return change_link(sock_.get(), name, changes.get(), what);
}

Status Netlink::set_alias(const std::string& name, const std::string& alias) {
  std::string what = "set alias of link '" + name + "'";
  LinkPtr changes = BERTH_TRY(new_link(what));
  rtnl_link_set_ifalias(changes.get(), alias.c_str());
  return change_link(sock_.get(), name, changes.get(), what);
}

Status Netlink::create_veth(const std::string& name, const std::string& peer,
                            const std::string& peer_netns_path) {
  std::string what = "create veth pair '" + name + "' <-> '" + peer + "'";
  if (!peer_netns_path.empty()) what += " (peer in '" + peer_netns_path + "')";
  LinkPtr veth(rtnl_link_veth_alloc());
  if (!veth) return fail(nl_alloc_error(what));
  // The peer is owned by `veth`; get_peer adds a reference of our own.
  LinkPtr peer_link(rtnl_link_veth_get_peer(veth.get()));
  if (!peer_link) return fail(nl_alloc_error(what));
  rtnl_link_set_name(veth.get(), name.c_str());
  rtnl_link_set_name(peer_link.get(), peer.c_str());
  // Kept open until the kernel has the request: it resolves the fd then.
  UniqueFd peer_ns;
  if (!peer_netns_path.empty()) {
    peer_ns = BERTH_TRY_CTX(open_namespace(peer_netns_path), what);
    rtnl_link_set_ns_fd(peer_link.get(), peer_ns.get());
  }
  int err = rtnl_link_add(sock_.get(), veth.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) return fail(nl_error(err, what));
  return {};
}

Status Netlink::delete_link(const std::string& name) {
  std::string what = "delete link '" + name + "'";
  LinkPtr link = BERTH_TRY(new_link(what));
  rtnl_link_set_name(link.get(), name.c_str());
  int err = rtnl_link_delete(sock_.get(), link.get());
  if (err < 0) return fail(nl_error(err, what));
  return {};
}

Status Netlink::move_to_namespace(const std::string& name, int netns_fd) {
  std::string what = "move link '" + name + "' to another network namespace";
  LinkPtr changes = BERTH_TRY(new_link(what));
  rtnl_link_set_ns_fd(changes.get(), netns_fd);
  return change_link(sock_.get(), name, changes.get(), what);
}

Result<LinkCounters> Netlink::counters(const std::string& name) {
  LinkPtr link = BERTH_TRY_CTX(get_link(sock_.get(), name), "counters");
  LinkCounters counters;
  counters.rx_bytes = rtnl_link_get_stat(link.get(), RTNL_LINK_RX_BYTES);
  counters.tx_bytes = rtnl_link_get_stat(link.get(), RTNL_LINK_TX_BYTES);
  counters.rx_packets = rtnl_link_get_stat(link.get(), RTNL_LINK_RX_PACKETS);
  counters.tx_packets = rtnl_link_get_stat(link.get(), RTNL_LINK_TX_PACKETS);
  counters.rx_errors = rtnl_link_get_stat(link.get(), RTNL_LINK_RX_ERRORS);
  counters.tx_errors = rtnl_link_get_stat(link.get(), RTNL_LINK_TX_ERRORS);
  counters.rx_dropped = rtnl_link_get_stat(link.get(), RTNL_LINK_RX_DROPPED);
  counters.tx_dropped = rtnl_link_get_stat(link.get(), RTNL_LINK_TX_DROPPED);
  return counters;
}

}  // namespace berth::netns
