// listen_in() against real namespaces (root): the task metadata address
// inside a namespace, reachable there and nowhere else. Only loopback and
// addresses inside the test's own namespaces ever see a packet.
#include "netns/listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "netns/netlink.h"
#include "netns/pinned_namespaces.h"

namespace berth::netns {
namespace {

constexpr const char* kMetadataAddress = "169.254.170.2";
constexpr uint16_t kMetadataPort = 80;

class ListenInTest : public test::PinnedNamespaceTest {};

sockaddr_in ipv4(const char* address, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, address, &sa.sin_addr);
  return sa;
}

// A blocking TCP connection made (and kept) from inside `netns_path`.
Result<UniqueFd> connect_from(const std::string& netns_path, const char* address, uint16_t port) {
  UniqueFd client;
  BERTH_TRY(run_in(netns_path, [&]() -> Status {
    client.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!client) return fail_errno("socket");
    sockaddr_in to = ipv4(address, port);
    if (::connect(client.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      return fail_errno("connect");
    }
    return {};
  }));
  return client;
}

// Accepts one connection on the non-blocking `listener` and reads one byte
// the client sent; the byte, or 0.
char accept_and_read(int listener) {
  pollfd ready{.fd = listener, .events = POLLIN, .revents = 0};
  if (::poll(&ready, 1, 5000) != 1) return 0;
  UniqueFd conn(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn) return 0;
  char byte = 0;
  pollfd readable{.fd = conn.get(), .events = POLLIN, .revents = 0};
  if (::poll(&readable, 1, 5000) != 1 || ::read(conn.get(), &byte, 1) != 1) return 0;
  return byte;
}

// Whether `address` is one of this (host) namespace's own: bind() says
// so without sending anything.
bool is_local_address(const char* address) {
  UniqueFd probe(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in at = ipv4(address, 0);
  return ::bind(probe.get(), reinterpret_cast<sockaddr*>(&at), sizeof at) == 0;
}

TEST_F(ListenInTest, TheMetadataEndpointListensInsideTheNamespace) {
  std::string task = make_namespace("task");
  ASSERT_FALSE(task.empty());
  bool host_had_address = is_local_address(kMetadataAddress);
  ino_t own = test::own_namespace_inode();

  auto listener = listen_in(task, kMetadataAddress, kMetadataPort);
  ASSERT_TRUE(listener) << listener.error().message();
  EXPECT_EQ(test::own_namespace_inode(), own);
  auto netlink = Netlink::open_in(task);
  ASSERT_TRUE(netlink) << netlink.error().message();
  auto lo = netlink->link("lo");
  ASSERT_TRUE(lo);
  EXPECT_TRUE(lo->up);
  auto addresses = netlink->addresses("lo");
  ASSERT_TRUE(addresses) << addresses.error().message();
  EXPECT_NE(std::find(addresses->begin(), addresses->end(), "169.254.170.2/32"), addresses->end());
  // The address went to the namespace's lo only.
  EXPECT_EQ(is_local_address(kMetadataAddress), host_had_address);

  auto client = connect_from(task, kMetadataAddress, kMetadataPort);
  ASSERT_TRUE(client) << client.error().message();
  ASSERT_EQ(::write(client->get(), "m", 1), 1);
  EXPECT_EQ(accept_and_read(listener->get()), 'm');
}

// On the host's loopback, which the test may use: the namespace's listener
// on 127.0.0.1:<port> is neither reachable from the host nor in the way of
// a host socket on that port.
TEST_F(ListenInTest, TheListenerIsNotReachableFromTheHost) {
  std::string task = make_namespace("task");
  ASSERT_FALSE(task.empty());
  // A host port, held (bound, not listening) so that nothing else takes it.
  UniqueFd host(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in any_port = ipv4("127.0.0.1", 0);
  ASSERT_EQ(::bind(host.get(), reinterpret_cast<sockaddr*>(&any_port), sizeof any_port), 0);
  socklen_t length = sizeof any_port;
  ASSERT_EQ(::getsockname(host.get(), reinterpret_cast<sockaddr*>(&any_port), &length), 0);
  uint16_t port = ntohs(any_port.sin_port);

  auto listener = listen_in(task, "127.0.0.1", port);
  ASSERT_TRUE(listener) << listener.error().message();
  UniqueFd from_host(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in to = ipv4("127.0.0.1", port);
  EXPECT_NE(::connect(from_host.get(), reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  EXPECT_EQ(errno, ECONNREFUSED);
  pollfd ready{.fd = listener->get(), .events = POLLIN, .revents = 0};
  EXPECT_EQ(::poll(&ready, 1, 100), 0) << "nothing reached the namespace's listener";

  auto inside = connect_from(task, "127.0.0.1", port);
  ASSERT_TRUE(inside) << inside.error().message();
  ASSERT_EQ(::write(inside->get(), "i", 1), 1);
  EXPECT_EQ(accept_and_read(listener->get()), 'i');
}

TEST_F(ListenInTest, ListeningAgainAfterClosingWorks) {
  std::string task = make_namespace("task");
  ASSERT_FALSE(task.empty());
  for (char round : {'1', '2', '3'}) {
    auto listener = listen_in(task, kMetadataAddress, kMetadataPort);
    ASSERT_TRUE(listener) << round << ": " << listener.error().message();
    auto client = connect_from(task, kMetadataAddress, kMetadataPort);
    ASSERT_TRUE(client) << client.error().message();
    ASSERT_EQ(::write(client->get(), &round, 1), 1);
    EXPECT_EQ(accept_and_read(listener->get()), round);
  }
  auto addresses = Netlink::open_in(task)->addresses("lo");
  ASSERT_TRUE(addresses);
  EXPECT_EQ(std::count(addresses->begin(), addresses->end(), "169.254.170.2/32"), 1);
}

TEST_F(ListenInTest, ErrorsNameTheNamespaceAndTheAddress) {
  std::string task = make_namespace("task");
  ASSERT_FALSE(task.empty());
  auto first = listen_in(task, kMetadataAddress, kMetadataPort);
  ASSERT_TRUE(first) << first.error().message();
  auto busy = listen_in(task, kMetadataAddress, kMetadataPort);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().sys_errno(), EADDRINUSE);
  EXPECT_NE(busy.error().message().find("169.254.170.2:80 in network namespace '" + task + "'"),
            std::string::npos)
      << busy.error().message();

  auto bad = listen_in(task, "169.254.170", kMetadataPort);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("'169.254.170'"), std::string::npos);

  auto missing = listen_in(dir_ + "/absent", kMetadataAddress, kMetadataPort);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find(dir_ + "/absent"), std::string::npos)
      << missing.error().message();
}

}  // namespace
}  // namespace berth::netns
