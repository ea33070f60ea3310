#include "netns/listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "netns/netlink.h"
#include "netns/netns.h"

namespace berth::netns {
namespace {

// Runs inside the namespace (on run_in's thread).
Status make_listener(const std::string& ipv4, const sockaddr_in& address, UniqueFd& listener) {
  Netlink netlink = BERTH_TRY(Netlink::open());
  BERTH_TRY(netlink.set_up("lo", true));
  Status added = netlink.add_address("lo", ipv4 + "/32");
  if (!added && added.error().code() != ErrorCode::kAlreadyExists) return added;

  UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!sock) return fail_errno("socket");
  // A listener closed a moment ago leaves TIME_WAIT connections on the port.
  int on = 1;
  if (::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) {
    return fail_errno("set SO_REUSEADDR");
  }
  if (::bind(sock.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return fail_errno("bind");
  }
  if (::listen(sock.get(), kListenBacklog) != 0) return fail_errno("listen");
  listener = std::move(sock);
  return {};
}

}  // namespace

Result<UniqueFd> listen_in(const std::string& netns_path, const std::string& ipv4, uint16_t port) {
  std::string context = "listen on " + ipv4 + ":" + std::to_string(port) +
                        " in network namespace '" + netns_path + "'";
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (::inet_pton(AF_INET, ipv4.c_str(), &address.sin_addr) != 1) {
    return fail(ErrorCode::kInvalidArgument, context + ": '" + ipv4 + "' is not an IPv4 address");
  }
  UniqueFd listener;
  BERTH_TRY_CTX(run_in(netns_path, [&] { return make_listener(ipv4, address, listener); }),
                context);
  return listener;
}

}  // namespace berth::netns
