#include "common/http/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <charconv>
#include <cstring>

namespace berth::http {
namespace {

std::unexpected<Error> bad_address(std::string_view address, std::string_view why) {
  return fail(ErrorCode::kInvalidArgument,
              "address '" + std::string(address) + "': " + std::string(why));
}

// A socket address for a numeric host, or "localhost".
Result<std::pair<sockaddr_storage, socklen_t>> to_sockaddr(std::string_view address,
                                                           const std::string& host, uint16_t port) {
  sockaddr_storage storage{};
  std::string numeric = host == "localhost" ? "127.0.0.1" : host;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  if (inet_pton(AF_INET, numeric.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return std::pair{storage, static_cast<socklen_t>(sizeof(sockaddr_in))};
  }
  storage = {};
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET6, numeric.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return std::pair{storage, static_cast<socklen_t>(sizeof(sockaddr_in6))};
  }
  return bad_address(address, "host '" + host + "' is not a numeric IP address");
}

}  // namespace

Result<std::pair<std::string, uint16_t>> parse_address(std::string_view address) {
  std::string_view host;
  std::string_view rest;
  if (!address.empty() && address.front() == '[') {
    size_t close = address.find(']');
    if (close == std::string_view::npos) return bad_address(address, "missing ']'");
    host = address.substr(1, close - 1);
    rest = address.substr(close + 1);
    in6_addr ignored{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &ignored) != 1) {
      return bad_address(address, "'" + std::string(host) + "' is not an IPv6 address");
    }
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) return bad_address(address, "missing ':port'");
    host = address.substr(0, colon);
    rest = address.substr(colon);
    if (host.find(':') != std::string_view::npos) {
      return bad_address(address, "an IPv6 host must be in brackets, as in '[::1]:80'");
    }
  }
  if (host.empty()) return bad_address(address, "missing host");
  if (rest.empty() || rest.front() != ':') return bad_address(address, "missing ':port'");
  std::string_view port_text = rest.substr(1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return bad_address(address, "bad port '" + std::string(port_text) + "'");
  }
  return std::pair{std::string(host), static_cast<uint16_t>(port)};
}

Result<UniqueFd> listen_tcp(std::string_view address) {
  auto [host, port] = BERTH_TRY(parse_address(address));
  auto [storage, length] = BERTH_TRY(to_sockaddr(address, host, port));
  std::string context = "listen on '" + std::string(address) + "'";
  UniqueFd fd(::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fail_errno(context + ": socket");
  int on = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) {
    return fail_errno(context + ": SO_REUSEADDR");
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), length) != 0) {
    int bind_errno = errno;
    if (bind_errno == EADDRINUSE) {
      return fail(
          Error(ErrorCode::kAlreadyExists, context + ": address already in use", bind_errno));
    }
    return fail_errno(context + ": bind", bind_errno);
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) return fail_errno(context + ": listen");
  return fd;
}

Result<uint16_t> local_port(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    return fail_errno("getsockname");
  }
  if (storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  }
  if (storage.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return 0;
}

std::string format_peer(const sockaddr_storage& address, socklen_t length) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (address.ss_family == AF_INET && length >= sizeof(sockaddr_in)) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &v4->sin_addr, text.data(), text.size());
    return std::string(text.data()) + ":" + std::to_string(ntohs(v4->sin_port));
  }
  if (address.ss_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    inet_ntop(AF_INET6, &v6->sin6_addr, text.data(), text.size());
    return "[" + std::string(text.data()) + "]:" + std::to_string(ntohs(v6->sin6_port));
  }
  if (address.ss_family == AF_UNIX) return "unix";
  return "unknown";
}

}  // namespace berth::http
