#include "netns/libnl_util.h"

#include <arpa/inet.h>
#include <netlink/errno.h>
#include <sys/socket.h>

#include <array>
#include <cstdlib>

namespace berth::netns::detail {

Error nl_error(int err, const std::string& what) {
  ErrorCode code = ErrorCode::kInternal;
  switch (std::abs(err)) {
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
    case NLE_NOADDR:
      code = ErrorCode::kNotFound;
      break;
    case NLE_EXIST:
      code = ErrorCode::kAlreadyExists;
      break;
    case NLE_INVAL:
    case NLE_RANGE:
    case NLE_AF_MISMATCH:
    case NLE_AF_NOSUPPORT:
      code = ErrorCode::kInvalidArgument;
      break;
    case NLE_PERM:
    case NLE_NOACCESS:
      code = ErrorCode::kPermissionDenied;
      break;
    case NLE_BUSY:
      code = ErrorCode::kFailedPrecondition;
      break;
    default:
      break;
  }
  return {code, what + ": " + nl_geterror(err)};
}

Error nl_alloc_error(const std::string& what) {
  return {ErrorCode::kInternal, what + ": libnl allocation failed"};
}

Result<LinkPtr> get_link(nl_sock* sock, const std::string& name) {
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(sock, 0, name.c_str(), &raw);
  LinkPtr link(raw);
  if (err < 0) return fail(nl_error(err, "link '" + name + "'"));
  return link;
}

Result<NlAddrPtr> parse_address(const std::string& text) {
  nl_addr* raw = nullptr;
  int err = nl_addr_parse(text.c_str(), AF_UNSPEC, &raw);
  NlAddrPtr addr(raw);
  if (err < 0) return fail(nl_error(err, "address '" + text + "'"));
  int family = nl_addr_get_family(addr.get());
  // nl_addr_parse also takes MAC and other families; routes and interface
  // addresses here are IP only.
  if (family != AF_INET && family != AF_INET6) {
    return fail(ErrorCode::kInvalidArgument, "address '" + text + "': not an IPv4 or IPv6 address");
  }
  return addr;
}

std::string format_ip(const nl_addr* addr) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (::inet_ntop(nl_addr_get_family(addr), nl_addr_get_binary_addr(addr), text.data(),
                  text.size()) == nullptr) {
    return {};
  }
  return text.data();
}

std::string format_cidr(const nl_addr* addr, unsigned prefixlen) {
  return format_ip(addr) + "/" + std::to_string(prefixlen);
}

}  // namespace berth::netns::detail
