// interface_counters(): the dump parser on hand-built netlink messages (no
// root), then traffic between two namespaces joined by a veth pair (root).
#include "netns/counters.h"

#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>

#include "common/fd.h"
#include "netns/netlink.h"
#include "netns/pinned_namespaces.h"

namespace berth::netns {
namespace {

// Netlink messages as the kernel lays them out: 4-byte aligned.
class Datagram {
 public:
  Datagram& link(int index, const std::string& name, std::optional<rtnl_link_stats64> stats64,
                 std::optional<rtnl_link_stats> stats32 = std::nullopt, uint32_t seq = 1,
                 uint16_t flags = NLM_F_MULTI) {
    size_t start = begin(RTM_NEWLINK, seq, flags);
    ifinfomsg info{};
    info.ifi_index = index;
    append(&info, sizeof info);
    attribute(IFLA_IFNAME, name.c_str(), name.size() + 1);
    if (stats64) attribute(IFLA_STATS64, &*stats64, sizeof *stats64);
    if (stats32) attribute(IFLA_STATS, &*stats32, sizeof *stats32);
    finish(start);
    return *this;
  }
  Datagram& done(uint32_t seq = 1, int error = 0) {
    size_t start = begin(NLMSG_DONE, seq, NLM_F_MULTI);
    append(&error, sizeof error);
    finish(start);
    return *this;
  }
  Datagram& error(int error, uint32_t seq = 1) {
    size_t start = begin(NLMSG_ERROR, seq, 0);
    nlmsgerr body{};
    body.error = error;
    append(&body, sizeof body);
    finish(start);
    return *this;
  }
  std::span<const uint8_t> bytes() const { return bytes_; }
  std::vector<uint8_t>& raw() { return bytes_; }

 private:
  size_t begin(uint16_t type, uint32_t seq, uint16_t flags) {
    size_t start = bytes_.size();
    nlmsghdr header{};
    header.nlmsg_type = type;
    header.nlmsg_flags = flags;
    header.nlmsg_seq = seq;
    append(&header, sizeof header);
    return start;
  }
  void finish(size_t start) {
    auto length = static_cast<uint32_t>(bytes_.size() - start);
    std::memcpy(bytes_.data() + start, &length, sizeof length);
  }
  void attribute(uint16_t type, const void* data, size_t size) {
    rtattr attr{};
    attr.rta_type = type;
    attr.rta_len = static_cast<uint16_t>(RTA_LENGTH(size));
    append(&attr, sizeof attr);
    append(data, size);
  }
  void append(const void* data, size_t size) {
    const auto* first = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), first, first + size);
    bytes_.resize(NLMSG_ALIGN(bytes_.size()));
  }
  std::vector<uint8_t> bytes_;
};

rtnl_link_stats64 stats64(uint64_t base) {
  rtnl_link_stats64 stats{};
  stats.rx_packets = base + 1;
  stats.tx_packets = base + 2;
  stats.rx_bytes = base + 3;
  stats.tx_bytes = base + 4;
  stats.rx_errors = base + 5;
  stats.tx_errors = base + 6;
  stats.rx_dropped = base + 7;
  stats.tx_dropped = base + 8;
  return stats;
}

TEST(LinkDumpParseTest, ReadsNamesAndStats64AndSkipsLo) {
  uint64_t big = uint64_t{1} << 40;
  Datagram datagram;
  datagram.link(1, "lo", stats64(100)).link(2, "eth0", stats64(big)).link(3, "veth1", stats64(0));
  LinkDumpState state;
  ASSERT_TRUE(parse_link_dump(datagram.bytes(), 1, state));
  EXPECT_FALSE(state.done);
  ASSERT_EQ(state.interfaces.size(), 2u);
  EXPECT_EQ(state.interfaces[0], (InterfaceCounters{.name = "eth0",
                                                    .rx_bytes = big + 3,
                                                    .rx_packets = big + 1,
                                                    .rx_errors = big + 5,
                                                    .rx_dropped = big + 7,
                                                    .tx_bytes = big + 4,
                                                    .tx_packets = big + 2,
                                                    .tx_errors = big + 6,
                                                    .tx_dropped = big + 8}));
  EXPECT_EQ(state.interfaces[1].name, "veth1");
  EXPECT_EQ(state.interfaces[1].tx_dropped, 8u);

  ASSERT_TRUE(parse_link_dump(Datagram().done().bytes(), 1, state));
  EXPECT_TRUE(state.done);
  EXPECT_FALSE(state.interrupted);
}

TEST(LinkDumpParseTest, Stats64WinsAndOldKernelsFallBackTo32Bits) {
  rtnl_link_stats stats32{};
  stats32.rx_bytes = 11;
  stats32.tx_packets = 12;
  Datagram datagram;
  datagram.link(2, "old0", std::nullopt, stats32).link(3, "both0", stats64(1000), stats32);
  datagram.link(4, "none0", std::nullopt).done();
  LinkDumpState state;
  ASSERT_TRUE(parse_link_dump(datagram.bytes(), 1, state));
  EXPECT_TRUE(state.done);
  ASSERT_EQ(state.interfaces.size(), 3u);
  EXPECT_EQ(state.interfaces[0].rx_bytes, 11u);
  EXPECT_EQ(state.interfaces[0].tx_packets, 12u);
  EXPECT_EQ(state.interfaces[1].rx_bytes, 1003u);
  EXPECT_EQ(state.interfaces[2], InterfaceCounters{.name = "none0"});
}

TEST(LinkDumpParseTest, OtherSequencesErrorsAndInterruptions) {
  LinkDumpState state;
  Datagram stale;
  stale.link(2, "eth0", stats64(0), std::nullopt, /*seq=*/7).done(/*seq=*/7);
  ASSERT_TRUE(parse_link_dump(stale.bytes(), 1, state));
  EXPECT_TRUE(state.interfaces.empty());
  EXPECT_FALSE(state.done);

  Datagram interrupted;
  interrupted.link(2, "eth0", stats64(0), std::nullopt, 1, NLM_F_MULTI | NLM_F_DUMP_INTR).done();
  ASSERT_TRUE(parse_link_dump(interrupted.bytes(), 1, state));
  EXPECT_TRUE(state.interrupted);

  LinkDumpState refused;
  auto error = parse_link_dump(Datagram().error(-EPERM).bytes(), 1, refused);
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(error.error().sys_errno(), EPERM);
  LinkDumpState failed;
  auto done_error = parse_link_dump(Datagram().done(1, -EINTR).bytes(), 1, failed);
  ASSERT_FALSE(done_error);
  EXPECT_EQ(done_error.error().sys_errno(), EINTR);
  LinkDumpState acked;
  EXPECT_TRUE(parse_link_dump(Datagram().error(0).bytes(), 1, acked));
}

TEST(LinkDumpParseTest, MalformedMessagesAreDataLoss) {
  Datagram good;
  good.link(2, "eth0", stats64(0));
  // Cut inside the message, inside the header, and a header claiming more.
  for (size_t keep : {good.bytes().size() - 4, size_t{10}}) {
    std::vector<uint8_t> cut(good.bytes().begin(), good.bytes().begin() + keep);
    LinkDumpState state;
    auto parsed = parse_link_dump(cut, 1, state);
    ASSERT_FALSE(parsed) << keep;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kDataLoss);
  }
  Datagram bad_attribute;
  bad_attribute.link(2, "eth0", stats64(0));
  // The first attribute (IFLA_IFNAME) claims to run past the message.
  size_t attr_at = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ifinfomsg));
  uint16_t huge = 0xfff0;
  std::memcpy(bad_attribute.raw().data() + attr_at, &huge, sizeof huge);
  LinkDumpState state;
  auto parsed = parse_link_dump(bad_attribute.bytes(), 1, state);
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message().find("link #2"), std::string::npos)
      << parsed.error().message();

  Datagram nameless;
  nameless.link(5, "", stats64(0));
  LinkDumpState unnamed;
  ASSERT_FALSE(parse_link_dump(nameless.bytes(), 1, unnamed));
}

class InterfaceCountersTest : public test::PinnedNamespaceTest {};

const InterfaceCounters* find(const std::vector<InterfaceCounters>& list, const std::string& name) {
  auto it = std::find_if(list.begin(), list.end(),
                         [&](const InterfaceCounters& c) { return c.name == name; });
  return it == list.end() ? nullptr : &*it;
}

sockaddr_in ipv4(const char* address, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, address, &sa.sin_addr);
  return sa;
}

// Namespaces a and b joined by a veth pair (bc-a0 in a, bc-b0 in b, made
// directly there: nothing on the host); UDP from a to b.
TEST_F(InterfaceCountersTest, CountTrafficBetweenTwoNamespacesAndSkipLo) {
  std::string a = make_namespace("a");
  std::string b = make_namespace("b");
  ASSERT_FALSE(a.empty() || b.empty());
  {
    auto in_a = Netlink::open_in(a);
    ASSERT_TRUE(in_a) << in_a.error().message();
    auto made = in_a->create_veth("bc-a0", "bc-b0", b);
    ASSERT_TRUE(made) << made.error().message();
    ASSERT_TRUE(in_a->set_up("lo", true));
    ASSERT_TRUE(in_a->set_up("bc-a0", true));
    ASSERT_TRUE(in_a->add_address("bc-a0", "10.251.7.1/30"));
    auto in_b = Netlink::open_in(b);
    ASSERT_TRUE(in_b) << in_b.error().message();
    ASSERT_TRUE(in_b->set_up("bc-b0", true));
    ASSERT_TRUE(in_b->add_address("bc-b0", "10.251.7.2/30"));
  }
  ino_t own = test::own_namespace_inode();
  auto before_a = interface_counters(a);
  ASSERT_TRUE(before_a) << before_a.error().message();
  ASSERT_EQ(before_a->size(), 1u) << "lo is skipped";
  EXPECT_EQ((*before_a)[0].name, "bc-a0");
  auto before_b = interface_counters(b);
  ASSERT_TRUE(before_b) << before_b.error().message();
  ASSERT_NE(find(*before_b, "bc-b0"), nullptr);

  UniqueFd receiver;
  ASSERT_TRUE(run_in(b, [&]() -> Status {
    receiver.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in at = ipv4("10.251.7.2", 9999);
    if (!receiver || ::bind(receiver.get(), reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) {
      return fail_errno("receiver");
    }
    return {};
  }));
  UniqueFd sender;
  ASSERT_TRUE(run_in(a, [&]() -> Status {
    sender.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sender) return fail_errno("sender");
    return {};
  }));
  // Until 20 datagrams arrive (the first wait for ARP and the carrier).
  constexpr int kDatagrams = 20;
  constexpr size_t kPayload = 1000;
  std::vector<char> payload(kPayload, 'x');
  sockaddr_in to = ipv4("10.251.7.2", 9999);
  int received = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (received < kDatagrams && std::chrono::steady_clock::now() < deadline) {
    ::sendto(sender.get(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to),
             sizeof to);
    pollfd ready{.fd = receiver.get(), .events = POLLIN, .revents = 0};
    if (::poll(&ready, 1, 100) == 1 && ::recv(receiver.get(), payload.data(), payload.size(), 0) ==
                                           static_cast<ssize_t>(kPayload)) {
      ++received;
    }
  }
  ASSERT_EQ(received, kDatagrams);

  auto after_a = interface_counters(a);
  ASSERT_TRUE(after_a) << after_a.error().message();
  auto after_b = interface_counters(b);
  ASSERT_TRUE(after_b) << after_b.error().message();
  const InterfaceCounters* sent = find(*after_a, "bc-a0");
  const InterfaceCounters* got = find(*after_b, "bc-b0");
  ASSERT_NE(sent, nullptr);
  ASSERT_NE(got, nullptr);
  const InterfaceCounters& sent_before = (*before_a)[0];
  const InterfaceCounters& got_before = *find(*before_b, "bc-b0");
  EXPECT_GE(sent->tx_packets, sent_before.tx_packets + kDatagrams);
  EXPECT_GE(sent->tx_bytes, sent_before.tx_bytes + kDatagrams * kPayload);
  EXPECT_GE(got->rx_packets, got_before.rx_packets + kDatagrams);
  EXPECT_GE(got->rx_bytes, got_before.rx_bytes + kDatagrams * kPayload);
  EXPECT_EQ(sent->tx_errors, 0u);
  EXPECT_EQ(got->rx_errors, 0u);
  EXPECT_EQ(test::own_namespace_inode(), own) << "the calling thread stayed where it was";
}

TEST_F(InterfaceCountersTest, AMissingNamespaceIsNamed) {
  auto missing = interface_counters(dir_ + "/absent");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find(dir_ + "/absent"), std::string::npos)
      << missing.error().message();
}

}  // namespace
}  // namespace berth::netns
