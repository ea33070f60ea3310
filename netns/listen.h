// A listening TCP socket inside a network namespace: for the ECS task
// metadata endpoint, served by the agent at 169.254.170.2:80 inside each
// task's namespace. A socket belongs to the namespace it was created in, so
// one agent thread can serve every task's endpoint without entering any.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"
#include "common/fd.h"

namespace berth::netns {

// The backlog of listen_in's sockets.
inline constexpr int kListenBacklog = 128;

// Inside the namespace at `netns_path`: brings "lo" up, adds `ipv4`/32 to
// it unless it is there already, and returns a TCP socket (SOCK_CLOEXEC,
// SOCK_NONBLOCK, SO_REUSEADDR) bound to ipv4:port and listening. Calling it
// again for the same address (after closing the first socket) works. The
// calling thread's namespace never changes. Errors name the namespace and
// the address; kInvalidArgument for an `ipv4` that is not a dotted quad.
Result<UniqueFd> listen_in(const std::string& netns_path, const std::string& ipv4, uint16_t port);

}  // namespace berth::netns
