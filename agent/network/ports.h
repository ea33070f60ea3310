// The host ports that task networks publish: who holds which, and a free
// one when a mapping asks for hostPort 0 (ECS: from the ephemeral range).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agent/network/attachment.h"
#include "common/error.h"

namespace berth::agent {

class HostPorts {
 public:
  HostPorts(uint32_t min, uint32_t max) : min_(min), max_(max), next_(min) {}

  // Takes the ports `id` publishes: a given host port unless another id
  // holds it, a free one of the range for host port 0. RESOURCE:PORTS
  // errors name the port and its holder.
  Result<std::vector<PortBinding>> take(const std::string& id,
                                        const std::vector<PortBinding>& wanted);
  void release(const std::string& id);
  // Marks ports as held by `id` (a restarted berthd, for adopted tasks).
  void reserve(const std::string& id, const std::vector<PortBinding>& ports);

 private:
  std::string holder(uint32_t port, const std::string& protocol) const;

  uint32_t min_;
  uint32_t max_;
  std::mutex mu_;
  std::map<std::string, std::vector<PortBinding>> held_;  // by id
  uint32_t next_;
};

}  // namespace berth::agent
