// Listening addresses: "host:port" text, and the TCP sockets bound to them.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "common/error.h"
#include "common/fd.h"

namespace berth::http {

// "host:port" -> (host, port); an IPv6 host goes in brackets ("[::1]:80")
// and comes back without them. A clear error naming the text when malformed.
Result<std::pair<std::string, uint16_t>> parse_address(std::string_view address);

// A non-blocking, close-on-exec TCP socket bound to `address` (a numeric IP
// or "localhost", and a port; port 0 picks one) and listening. An address
// already in use is kAlreadyExists, naming it.
Result<UniqueFd> listen_tcp(std::string_view address);

// The port a bound socket holds (0 for a socket that is not IPv4 or IPv6).
Result<uint16_t> local_port(int fd);

// "127.0.0.1:53412", "[::1]:53412"; "unix" for a Unix socket peer.
std::string format_peer(const sockaddr_storage& address, socklen_t length);

}  // namespace berth::http
