#include "netns/counters.h"

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "common/fd.h"
#include "netns/netns.h"

namespace berth::netns {
namespace {

// Big enough for any dump datagram (the kernel fills about a page per
// datagram, more only for links with many VFs); a truncated one is an error.
constexpr size_t kReceiveBuffer = size_t{64} * 1024;
// The kernel answers a dump at once; this only bounds a wedged kernel.
constexpr time_t kReceiveTimeoutSeconds = 5;
// A dump the link list changed under (NLM_F_DUMP_INTR) is tried again this
// many times in all; the last one is taken as it is.
constexpr uint32_t kDumpAttempts = 3;

// The fields read from rtnl_link_stats64 / rtnl_link_stats. Older kernels
// send shorter structs (fields were added at the end), so a short one is
// zero-padded; these eight come first in both.
constexpr size_t kLeadingCounters = 8;

// Netlink data is only 4-byte aligned: copy out instead of casting.
template <typename T>
T load(std::span<const uint8_t> bytes) {
  T value{};
  std::memcpy(&value, bytes.data(), std::min(sizeof(T), bytes.size()));
  return value;
}

template <typename Stats>
void fill_counters(const Stats& stats, InterfaceCounters& counters) {
  counters.rx_bytes = stats.rx_bytes;
  counters.rx_packets = stats.rx_packets;
  counters.rx_errors = stats.rx_errors;
  counters.rx_dropped = stats.rx_dropped;
  counters.tx_bytes = stats.tx_bytes;
  counters.tx_packets = stats.tx_packets;
  counters.tx_errors = stats.tx_errors;
  counters.tx_dropped = stats.tx_dropped;
}

// One RTM_NEWLINK message (after its nlmsghdr): ifinfomsg, then attributes.
Status parse_link(std::span<const uint8_t> payload, LinkDumpState& state) {
  if (payload.size() < NLMSG_ALIGN(sizeof(ifinfomsg))) {
    return fail(ErrorCode::kDataLoss, "RTM_NEWLINK message too short for ifinfomsg");
  }
  auto info = load<ifinfomsg>(payload);
  InterfaceCounters counters;
  bool have_stats64 = false;
  std::optional<rtnl_link_stats> stats32;
  size_t offset = NLMSG_ALIGN(sizeof(ifinfomsg));
  while (payload.size() - offset >= sizeof(rtattr)) {
    auto attr = load<rtattr>(payload.subspan(offset));
    if (attr.rta_len < sizeof(rtattr) || attr.rta_len > payload.size() - offset) {
      return fail(ErrorCode::kDataLoss, "link #" + std::to_string(info.ifi_index) + ": attribute " +
                                            std::to_string(attr.rta_type) + " has a bad length " +
                                            std::to_string(attr.rta_len));
    }
    std::span<const uint8_t> data =
        payload.subspan(offset + RTA_LENGTH(0), attr.rta_len - RTA_LENGTH(0));
    switch (attr.rta_type & NLA_TYPE_MASK) {
      case IFLA_IFNAME:
        counters.name.assign(reinterpret_cast<const char*>(data.data()),
                             ::strnlen(reinterpret_cast<const char*>(data.data()), data.size()));
        break;
      case IFLA_STATS64:
        if (data.size() >= kLeadingCounters * sizeof(uint64_t)) {
          fill_counters(load<rtnl_link_stats64>(data), counters);
          have_stats64 = true;
        }
        break;
      case IFLA_STATS:
        if (data.size() >= kLeadingCounters * sizeof(uint32_t)) {
          stats32 = load<rtnl_link_stats>(data);
        }
        break;
      default:
        break;
    }
    offset += std::min<size_t>(RTA_ALIGN(attr.rta_len), payload.size() - offset);
  }
  if (counters.name.empty()) {
    return fail(ErrorCode::kDataLoss, "link #" + std::to_string(info.ifi_index) + " has no name");
  }
  if (!have_stats64 && stats32) fill_counters(*stats32, counters);
  if (counters.name != "lo") state.interfaces.push_back(std::move(counters));
  return {};
}

// The error an NLMSG_ERROR or NLMSG_DONE payload carries (0: none).
int carried_error(std::span<const uint8_t> payload) {
  return payload.size() >= sizeof(int) ? load<int>(payload) : 0;
}

Result<UniqueFd> route_socket_in(const std::string& netns_path) {
  UniqueFd sock;
  BERTH_TRY(run_in(netns_path, [&]() -> Status {
    sock.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!sock) return fail_errno("socket(AF_NETLINK, NETLINK_ROUTE)");
    return {};
  }));
  timeval timeout{.tv_sec = kReceiveTimeoutSeconds, .tv_usec = 0};
  if (::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0) {
    return fail_errno("set netlink receive timeout");
  }
  return sock;
}

Result<LinkDumpState> dump_links(int sock, uint32_t seq) {
  struct {
    nlmsghdr header;
    ifinfomsg info;
  } request{};
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  request.header.nlmsg_type = RTM_GETLINK;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.header.nlmsg_seq = seq;
  request.info.ifi_family = AF_UNSPEC;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent = ::sendto(sock, &request, request.header.nlmsg_len, 0,
                          reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel);
  if (sent < 0) return fail_errno("send RTM_GETLINK");
  if (static_cast<size_t>(sent) != request.header.nlmsg_len) {
    return fail(ErrorCode::kInternal, "send RTM_GETLINK: short write");
  }

  LinkDumpState state;
  std::vector<uint8_t> buffer(kReceiveBuffer);
  while (!state.done) {
    sockaddr_nl from{};
    iovec iov{.iov_base = buffer.data(), .iov_len = buffer.size()};
    msghdr message{};
    message.msg_name = &from;
    message.msg_namelen = sizeof from;
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    ssize_t received = ::recvmsg(sock, &message, 0);
    if (received < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return fail(ErrorCode::kDeadlineExceeded, "RTM_GETLINK dump: no answer from the kernel");
      }
      return fail_errno("receive RTM_GETLINK dump");
    }
    if ((message.msg_flags & MSG_TRUNC) != 0) {
      return fail(ErrorCode::kDataLoss, "RTM_GETLINK dump: datagram larger than " +
                                            std::to_string(kReceiveBuffer) + " bytes");
    }
    if (from.nl_pid != 0) continue;  // only the kernel answers
    if (received == 0) return fail(ErrorCode::kDataLoss, "RTM_GETLINK dump: empty datagram");
    BERTH_TRY(parse_link_dump({buffer.data(), static_cast<size_t>(received)}, seq, state));
  }
  return state;
}

}  // namespace

Status parse_link_dump(std::span<const uint8_t> datagram, uint32_t seq, LinkDumpState& state) {
  size_t offset = 0;
  while (offset < datagram.size() && !state.done) {
    if (datagram.size() - offset < sizeof(nlmsghdr)) {
      return fail(ErrorCode::kDataLoss, "netlink datagram ends inside a message header");
    }
    auto header = load<nlmsghdr>(datagram.subspan(offset));
    if (header.nlmsg_len < NLMSG_HDRLEN || header.nlmsg_len > datagram.size() - offset) {
      return fail(ErrorCode::kDataLoss,
                  "netlink message has a bad length " + std::to_string(header.nlmsg_len));
    }
    std::span<const uint8_t> payload =
        datagram.subspan(offset + NLMSG_HDRLEN, header.nlmsg_len - NLMSG_HDRLEN);
    offset += std::min<size_t>(NLMSG_ALIGN(header.nlmsg_len), datagram.size() - offset);
    if (header.nlmsg_seq != seq) continue;
    if ((header.nlmsg_flags & NLM_F_DUMP_INTR) != 0) state.interrupted = true;
    switch (header.nlmsg_type) {
      case NLMSG_DONE:
        if (int error = carried_error(payload); error < 0) {
          return fail_errno("RTM_GETLINK dump", -error);
        }
        state.done = true;
        break;
      case NLMSG_ERROR:
        if (payload.size() < sizeof(nlmsgerr)) {
          return fail(ErrorCode::kDataLoss, "netlink error message too short");
        }
        if (int error = carried_error(payload); error < 0) {
          return fail_errno("RTM_GETLINK dump", -error);
        }
        break;  // an acknowledgement
      case RTM_NEWLINK:
        BERTH_TRY(parse_link(payload, state));
        break;
      default:
        break;  // NLMSG_NOOP and the like
    }
  }
  return {};
}

Result<std::vector<InterfaceCounters>> interface_counters(const std::string& netns_path) {
  std::string context = "interface counters of network namespace '" + netns_path + "'";
  UniqueFd sock = BERTH_TRY_CTX(route_socket_in(netns_path), context);
  LinkDumpState state;
  for (uint32_t attempt = 1; attempt <= kDumpAttempts; ++attempt) {
    state = BERTH_TRY_CTX(dump_links(sock.get(), attempt), context);
    if (!state.interrupted) break;
  }
  std::sort(state.interfaces.begin(), state.interfaces.end(),
            [](const InterfaceCounters& a, const InterfaceCounters& b) { return a.name < b.name; });
  return std::move(state.interfaces);
}

}  // namespace berth::netns
