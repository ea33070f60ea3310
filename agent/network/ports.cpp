#include "agent/network/ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>

#include "common/fd.h"

namespace berth::agent {

namespace {

// Whether nothing on the host holds `port` (a bind() that succeeds).
bool port_free(uint32_t port, const std::string& protocol) {
  UniqueFd fd(::socket(AF_INET, (protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
}

}  // namespace

std::string HostPorts::holder(uint32_t port, const std::string& protocol) const {
  for (const auto& [id, bindings] : held_) {
    for (const auto& b : bindings) {
      if (b.host_port == port && b.protocol == protocol) return id;
    }
  }
  return "";
}

Result<std::vector<PortBinding>> HostPorts::take(const std::string& id,
                                                 const std::vector<PortBinding>& wanted) {
  std::lock_guard lock(mu_);
  std::vector<PortBinding> taken;
  for (const auto& want : wanted) {
    PortBinding binding = want;
    if (binding.host_port != 0) {
      std::string owner = holder(binding.host_port, binding.protocol);
      if (!owner.empty() && owner != id) {
        return fail(ErrorCode::kFailedPrecondition,
                    "RESOURCE:PORTS: host port " + std::to_string(binding.host_port) + "/" +
                        binding.protocol + " is already published by '" + owner + "'");
      }
    } else {
      uint32_t span = max_ - min_ + 1;
      for (uint32_t tried = 0; tried < span && binding.host_port == 0; ++tried) {
        uint32_t port = next_;
        next_ = next_ >= max_ ? min_ : next_ + 1;
        bool mine = std::ranges::any_of(taken, [&](const PortBinding& b) {
          return b.host_port == port && b.protocol == binding.protocol;
        });
        if (mine || !holder(port, binding.protocol).empty()) continue;
        if (!port_free(port, binding.protocol)) continue;
        binding.host_port = port;
      }
      if (binding.host_port == 0) {
        return fail(ErrorCode::kFailedPrecondition, "RESOURCE:PORTS: no free host port left in " +
                                                        std::to_string(min_) + "-" +
                                                        std::to_string(max_));
      }
    }
    taken.push_back(binding);
  }
  held_[id] = taken;
  return taken;
}

void HostPorts::release(const std::string& id) {
  std::lock_guard lock(mu_);
  held_.erase(id);
}

void HostPorts::reserve(const std::string& id, const std::vector<PortBinding>& ports) {
  std::lock_guard lock(mu_);
  held_[id] = ports;
}

}  // namespace berth::agent
