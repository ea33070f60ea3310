// Per-interface traffic counters of a network namespace, for metrics
// (cAdvisor's container_network_{receive,transmit}_*) and `docker stats`-like
// output. Read with one RTM_GETLINK dump over a plain NETLINK_ROUTE socket
// made inside the namespace; the parser of the dump is a pure function.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"

namespace berth::netns {

// The kernel's 64-bit counters (IFLA_STATS64; IFLA_STATS, 32-bit and
// wrapping, only from a kernel without them).
struct InterfaceCounters {
  std::string name;
  uint64_t rx_bytes = 0;
  uint64_t rx_packets = 0;
  uint64_t rx_errors = 0;
  uint64_t rx_dropped = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_errors = 0;
  uint64_t tx_dropped = 0;
  bool operator==(const InterfaceCounters&) const = default;
};

// Every interface of the namespace at `netns_path` (a pin or
// /proc/<pid>/ns/net) except "lo", sorted by name. The socket is created on
// a short-lived thread inside the namespace (a netlink socket acts in the
// namespace it was created in) and used from the calling thread, whose own
// namespace never changes. Errors name the namespace.
Result<std::vector<InterfaceCounters>> interface_counters(const std::string& netns_path);

// One datagram of an RTM_GETLINK dump, parsed into `interfaces` ("lo"
// skipped). Messages of another sequence number are ignored. Tells when the
// dump is complete (NLMSG_DONE) or was interrupted by a change to the link
// list (NLM_F_DUMP_INTR: start again). kDataLoss for a malformed message;
// an NLMSG_ERROR becomes the errno it carries.
struct LinkDumpState {
  std::vector<InterfaceCounters> interfaces;
  bool done = false;
  bool interrupted = false;
};
Status parse_link_dump(std::span<const uint8_t> datagram, uint32_t seq, LinkDumpState& state);

}  // namespace berth::netns
