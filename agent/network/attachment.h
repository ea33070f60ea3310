// What a task network gives a task or a container: the pinned namespace,
// the interface in it, its addresses and the host ports it publishes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace berth::agent {

// A port of a container published on the node.
struct PortBinding {
  uint32_t container_port = 0;
  uint32_t host_port = 0;
  std::string protocol = "tcp";
  bool operator==(const PortBinding&) const = default;
};

// A network namespace berth made and what it holds: the task's (awsvpc) or
// one container's (bridge). Teardown needs none of it (the host state is
// found again from the owner's id, agent/network/task_network.h): it is what
// `describe` shows and what a container joins.
struct NetworkAttachment {
  std::string netns;                   // the pinned namespace's path
  std::string interface;               // inside the namespace, "eth0"
  std::vector<std::string> addresses;  // without prefix length, IPv4 first
  std::string gateway;
  std::string eni;  // the host interface moved in (ENI-style), its host name
  std::vector<PortBinding> ports;
  bool operator==(const NetworkAttachment&) const = default;
};

}  // namespace berth::agent
