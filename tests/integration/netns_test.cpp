// Pinned network namespaces and route netlink against the real kernel: root,
// but no containerd. Every namespace lives under a private temp directory
// and every host link name starts with "bn<pid>", so TearDown can remove
// what a failed test left and check that nothing leaked.
#include "netns/netns.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "fixtures/environment.h"
#include "fixtures/process.h"
#include "netns/netlink.h"

namespace berth::testing {
namespace {

using netns::LinkInfo;
using netns::Netlink;
using netns::Route;

// The inode of a namespace file: equal inodes are the same namespace.
ino_t inode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_ino;
}

bool has_route(const std::vector<Route>& routes, const Route& wanted) {
  return std::any_of(routes.begin(), routes.end(), [&](const Route& r) {
    return r.destination == wanted.destination && r.gateway == wanted.gateway &&
           r.device == wanted.device;
  });
}

std::string describe(const std::vector<Route>& routes) {
  std::string text;
  for (const Route& r : routes) {
    text += "[" + r.destination + " via '" + r.gateway + "' dev '" + r.device + "'] ";
  }
  return text;
}

// Waits until the kernel has given `link` in the namespace at `path` its
// IPv6 link-local address.
bool wait_for_link_local(const std::string& path, const std::string& link) {
  for (int i = 0; i < 100; ++i) {
    bool found = false;
    auto read = netns::run_in(path, [&]() -> Status {
      // thread-self: /proc/net is the namespace of the main thread.
      std::ifstream in("/proc/thread-self/net/if_inet6");
      std::string line;
      while (std::getline(in, line)) {
        if (line.starts_with("fe80") && line.ends_with(" " + link)) found = true;
      }
      return {};
    });
    if (!read) return false;
    if (found) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// `ping` or busybox's; empty when neither is installed.
std::vector<std::string> ping_command() {
  for (const char* dir : {"/usr/bin", "/bin", "/usr/sbin", "/sbin"}) {
    if (::access((std::string(dir) + "/ping").c_str(), X_OK) == 0) return {"ping"};
  }
  for (const char* dir : {"/usr/bin", "/bin"}) {
    if (::access((std::string(dir) + "/busybox").c_str(), X_OK) == 0) return {"busybox", "ping"};
  }
  return {};
}

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BERTH_REQUIRE_ROOT();
    std::string templ = "/tmp/berth-netns-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    prefix_ = "bn" + std::to_string(::getpid());
    auto host = Netlink::open();
    ASSERT_TRUE(host) << host.error().message();
    host_.emplace(std::move(*host));
  }

  void TearDown() override {
    if (dir_.empty()) return;
    if (host_) {
      for (const std::string& name : host_links()) (void)host_->delete_link(name);
    }
    remove_pins(dir_);
    if (!host_) return;
    // A namespace is destroyed asynchronously, and its veth ends (with their
    // host peers) with it.
    std::vector<std::string> left = host_links();
    for (int i = 0; i < 100 && !left.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      left = host_links();
    }
    EXPECT_TRUE(left.empty()) << "leaked host link " << left.front();
  }

  // Removes every pin under `dir` (a test may have stopped half-way) and the
  // directories themselves.
  static void remove_pins(const std::string& dir) {
    for (const std::string& name : netns::list_dir(dir)) {
      std::string path = dir + "/" + name;
      std::error_code ec;
      if (std::filesystem::is_directory(path, ec)) {
        remove_pins(path);
        continue;
      }
      auto removed = netns::remove_pinned(path);
      EXPECT_TRUE(removed) << removed.error().message();
    }
    EXPECT_EQ(::rmdir(dir.c_str()), 0) << dir;
  }

  // Host links whose names this test process made.
  std::vector<std::string> host_links() {
    std::vector<std::string> names;
    auto links = host_->links();
    EXPECT_TRUE(links) << links.error().message();
    if (!links) return names;
    for (const LinkInfo& link : *links) {
      if (link.name.starts_with(prefix_)) names.push_back(link.name);
    }
    return names;
  }

  std::string pin(const std::string& name) const { return dir_ + "/" + name; }
  // An interface name unique to this process (at most 15 characters).
  std::string ifname(const std::string& suffix) const { return prefix_ + suffix; }

  Netlink& host() { return *host_; }

  std::string dir_;
  std::string prefix_;
  std::optional<Netlink> host_;
};

TEST_F(NetnsTest, PinIsCreatedListedAndRemoved) {
  std::string path = dir_ + "/nested/ns1";  // the parent is made on demand
  ASSERT_TRUE(netns::create_pinned(path));
  EXPECT_TRUE(netns::is_pinned(path));
  EXPECT_EQ(netns::list_dir(dir_ + "/nested"), std::vector<std::string>{"ns1"});
  // A second namespace under one name would be removed by both owners.
  auto again = netns::create_pinned(path);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_TRUE(netns::is_pinned(path));

  ASSERT_TRUE(netns::remove_pinned(path));
  EXPECT_FALSE(netns::is_pinned(path));
  struct stat st {};
  EXPECT_NE(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(netns::remove_pinned(path)) << "absent pin";
  EXPECT_TRUE(netns::list_dir(dir_ + "/nested").empty());
  EXPECT_TRUE(netns::list_dir(dir_ + "/nonexistent").empty());
}

TEST_F(NetnsTest, CreateOnExistingFileLeavesItAlone) {
  std::string path = pin("taken");
  std::ofstream(path) << "keep me";
  auto created = netns::create_pinned(path);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_FALSE(netns::is_pinned(path));
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "keep me");
  // An unmounted file (a crash between create and mount) is removed too.
  EXPECT_TRUE(netns::remove_pinned(path));
  EXPECT_EQ(::access(path.c_str(), F_OK), -1);
}

TEST_F(NetnsTest, RunInEntersTheNamespaceOnAnotherThread) {
  std::string path = pin("a");
  ASSERT_TRUE(netns::create_pinned(path));
  ino_t host_ns = inode_of("/proc/thread-self/ns/net");
  ino_t pinned_ns = inode_of(path);
  ASSERT_NE(pinned_ns, 0U);
  EXPECT_NE(pinned_ns, host_ns);

  ino_t seen = 0;
  ASSERT_TRUE(netns::run_in(path, [&]() -> Status {
    seen = inode_of("/proc/thread-self/ns/net");
    return {};
  }));
  EXPECT_EQ(seen, pinned_ns);
  EXPECT_EQ(inode_of("/proc/thread-self/ns/net"), host_ns) << "the caller's thread moved";

  // fn's error comes back as it is.
  auto failed = netns::run_in(path, [] { return Status(fail(ErrorCode::kDataLoss, "from fn")); });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kDataLoss);
  EXPECT_FALSE(netns::run_in(pin("absent"), [] { return Status(); }));

  // A fresh namespace holds only a loopback, down.
  auto ns_opened = Netlink::open_in(path);
  ASSERT_TRUE(ns_opened) << ns_opened.error().message();
  Netlink& ns = *ns_opened;
  auto links = ns.links();
  ASSERT_TRUE(links) << links.error().message();
  ASSERT_EQ(links->size(), 1U);
  EXPECT_EQ(links->front().name, "lo");
  EXPECT_FALSE(links->front().up);
  ASSERT_TRUE(ns.set_up("lo", true));
  EXPECT_TRUE(ns.link("lo")->up);
  EXPECT_TRUE(host().link("lo")->up);
}

TEST_F(NetnsTest, VethPeerIsCreatedInsideThePinnedNamespace) {
  std::string path = pin("a");
  ASSERT_TRUE(netns::create_pinned(path));
  std::string outer = ifname("h");
  std::string inner = ifname("c");
  auto created = host().create_veth(outer, inner, path);
  ASSERT_TRUE(created) << created.error().message();

  auto host_end = host().link(outer);
  ASSERT_TRUE(host_end) << host_end.error().message();
  EXPECT_EQ(host_end->kind, "veth");
  EXPECT_EQ(host_end->mac.size(), 17U) << host_end->mac;
  auto missing = host().link(inner);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find(inner), std::string::npos);

  auto ns_opened = Netlink::open_in(path);
  ASSERT_TRUE(ns_opened) << ns_opened.error().message();
  Netlink& ns = *ns_opened;
  auto ns_end = ns.link(inner);
  ASSERT_TRUE(ns_end) << ns_end.error().message();
  EXPECT_EQ(ns_end->kind, "veth");
  auto by_index = ns.link_by_index(ns_end->index);
  ASSERT_TRUE(by_index);
  EXPECT_EQ(by_index->name, inner);

  auto duplicate = host().create_veth(outer, ifname("d"));
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code(), ErrorCode::kAlreadyExists);
  auto absent = host().delete_link(ifname("zz"));
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code(), ErrorCode::kNotFound);
}

TEST_F(NetnsTest, LinkSettingsAndAddressesInsideTheNamespace) {
  std::string path = pin("a");
  ASSERT_TRUE(netns::create_pinned(path));
  ASSERT_TRUE(host().create_veth(ifname("h"), ifname("c"), path));
  auto ns_opened = Netlink::open_in(path);
  ASSERT_TRUE(ns_opened) << ns_opened.error().message();
  Netlink& ns = *ns_opened;
  std::string name = ifname("c");

  ASSERT_TRUE(ns.set_mtu(name, 1400));
  EXPECT_EQ(ns.link(name)->mtu, 1400U);
  ASSERT_TRUE(ns.set_alias(name, "task abc"));
  EXPECT_EQ(ns.link(name)->alias, "task abc");

  // Renamed while down, as the kernel wants.
  ASSERT_FALSE(ns.link(name)->up);
  auto renamed = ns.rename(name, "eth0");
  ASSERT_TRUE(renamed) << renamed.error().message();
  EXPECT_FALSE(ns.link(name));
  name = "eth0";
  ASSERT_TRUE(ns.set_up(name, true));
  EXPECT_TRUE(ns.link(name)->up);
  // With both ends up the link has a carrier, and so an fe80:: address.
  ASSERT_TRUE(host().set_up(ifname("h"), true));
  ASSERT_TRUE(wait_for_link_local(path, "eth0"));

  auto v4 = ns.add_address(name, "10.250.0.2/24");
  ASSERT_TRUE(v4) << v4.error().message();
  auto v6 = ns.add_address(name, "fd00:b:e::2/64");
  ASSERT_TRUE(v6) << v6.error().message();
  auto addresses = ns.addresses(name);
  ASSERT_TRUE(addresses) << addresses.error().message();
  // The fe80:: address is the kernel's and not listed.
  EXPECT_EQ(*addresses, (std::vector<std::string>{"10.250.0.2/24", "fd00:b:e::2/64"}));

  auto duplicate = ns.add_address(name, "10.250.0.2/24");
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code(), ErrorCode::kAlreadyExists);
  auto bad = ns.add_address(name, "10.250.0.300/24");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  auto no_link = ns.add_address("nosuch0", "10.250.1.2/24");
  ASSERT_FALSE(no_link);
  EXPECT_EQ(no_link.error().code(), ErrorCode::kNotFound);

  ASSERT_TRUE(ns.delete_address(name, "10.250.0.2/24"));
  EXPECT_EQ(*ns.addresses(name), std::vector<std::string>{"fd00:b:e::2/64"});
  ASSERT_TRUE(ns.set_up(name, false));
  EXPECT_FALSE(ns.link(name)->up);
}

TEST_F(NetnsTest, RoutesAndDefaultGatewaysInsideTheNamespace) {
  std::string path = pin("a");
  ASSERT_TRUE(netns::create_pinned(path));
  ASSERT_TRUE(host().create_veth(ifname("h"), "eth0", path));
  ASSERT_TRUE(host().set_up(ifname("h"), true));
  auto ns_opened = Netlink::open_in(path);
  ASSERT_TRUE(ns_opened) << ns_opened.error().message();
  Netlink& ns = *ns_opened;
  ASSERT_TRUE(ns.set_up("eth0", true));
  ASSERT_TRUE(ns.add_address("eth0", "10.250.0.2/24"));
  ASSERT_TRUE(ns.add_address("eth0", "fd00:b:e::2/64"));

  Route subnet{.destination = "10.251.0.0/16", .gateway = "10.250.0.1", .device = ""};
  auto added = ns.add_route(subnet);
  ASSERT_TRUE(added) << added.error().message();
  auto gateway = ns.set_default_gateway("10.250.0.1", "eth0");
  ASSERT_TRUE(gateway) << gateway.error().message();
  auto gateway6 = ns.set_default_gateway("fd00:b:e::1", "eth0");
  ASSERT_TRUE(gateway6) << gateway6.error().message();
  Route direct{.destination = "10.252.0.0/24", .gateway = "", .device = "eth0"};
  ASSERT_TRUE(ns.add_route(direct));

  auto routes = ns.routes();
  ASSERT_TRUE(routes) << routes.error().message();
  EXPECT_TRUE(has_route(*routes, {"10.251.0.0/16", "10.250.0.1", "eth0"})) << describe(*routes);
  EXPECT_TRUE(has_route(*routes, {"default", "10.250.0.1", "eth0"})) << describe(*routes);
  EXPECT_TRUE(has_route(*routes, {"default", "fd00:b:e::1", "eth0"})) << describe(*routes);
  EXPECT_TRUE(has_route(*routes, {"10.252.0.0/24", "", "eth0"})) << describe(*routes);
  EXPECT_TRUE(has_route(*routes, {"10.250.0.0/24", "", "eth0"})) << describe(*routes);
  // The namespace's routes are not the host's.
  auto host_routes = host().routes();
  ASSERT_TRUE(host_routes);
  EXPECT_FALSE(has_route(*host_routes, {"10.251.0.0/16", "10.250.0.1", "eth0"}));

  // Setting the gateway again replaces it.
  ASSERT_TRUE(ns.set_default_gateway("10.250.0.3", "eth0"));
  routes = ns.routes();
  ASSERT_TRUE(routes);
  EXPECT_TRUE(has_route(*routes, {"default", "10.250.0.3", "eth0"})) << describe(*routes);
  EXPECT_FALSE(has_route(*routes, {"default", "10.250.0.1", "eth0"})) << describe(*routes);
  ASSERT_TRUE(ns.set_default_gateway("fd00:b:e::3", "eth0"));
  routes = ns.routes();
  ASSERT_TRUE(routes);
  EXPECT_TRUE(has_route(*routes, {"default", "fd00:b:e::3", "eth0"})) << describe(*routes);
  EXPECT_FALSE(has_route(*routes, {"default", "fd00:b:e::1", "eth0"})) << describe(*routes);

  auto deleted = ns.delete_route(subnet);
  ASSERT_TRUE(deleted) << deleted.error().message();
  EXPECT_FALSE(has_route(*ns.routes(), {"10.251.0.0/16", "10.250.0.1", "eth0"}));
  auto again = ns.delete_route(subnet);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kNotFound) << again.error().message();
  auto no_family = ns.add_route({.destination = "default", .gateway = "", .device = "eth0"});
  ASSERT_FALSE(no_family);
  EXPECT_EQ(no_family.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(NetnsTest, LinkMovesIntoTheNamespaceAndBack) {
  std::string path = pin("a");
  ASSERT_TRUE(netns::create_pinned(path));
  std::string name = ifname("m");
  ASSERT_TRUE(host().create_veth(name, ifname("p")));
  int host_index = host().link(name)->index;

  auto ns_fd = netns::open_namespace(path);
  ASSERT_TRUE(ns_fd);
  auto moved = host().move_to_namespace(name, ns_fd->get());
  ASSERT_TRUE(moved) << moved.error().message();
  EXPECT_FALSE(host().link(name));
  auto ns_opened = Netlink::open_in(path);
  ASSERT_TRUE(ns_opened) << ns_opened.error().message();
  Netlink& ns = *ns_opened;
  ASSERT_TRUE(ns.link(name));
  ASSERT_TRUE(ns.rename(name, "eth1"));

  // From the main thread, /proc/self/ns/net is the host's namespace.
  auto host_fd = netns::open_namespace("/proc/self/ns/net");
  ASSERT_TRUE(host_fd);
  auto back = ns.move_to_namespace("eth1", host_fd->get());
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_FALSE(ns.link("eth1"));
  ASSERT_TRUE(host().link("eth1"));
  ASSERT_TRUE(host().rename("eth1", name));
  auto returned = host().link(name);
  ASSERT_TRUE(returned);
  EXPECT_EQ(returned->kind, "veth");
  EXPECT_EQ(returned->index, host_index);
}

TEST_F(NetnsTest, TrafficFlowsBetweenTwoNamespaces) {
  std::vector<std::string> ping = ping_command();
  if (ping.empty()) GTEST_SKIP() << "no ping (nor busybox) installed";
  std::string a = pin("a");
  std::string b = pin("b");
  ASSERT_TRUE(netns::create_pinned(a));
  ASSERT_TRUE(netns::create_pinned(b));
  {
    auto ns_a_opened = Netlink::open_in(a);
    ASSERT_TRUE(ns_a_opened) << ns_a_opened.error().message();
    Netlink& ns_a = *ns_a_opened;
    auto ns_b_opened = Netlink::open_in(b);
    ASSERT_TRUE(ns_b_opened) << ns_b_opened.error().message();
    Netlink& ns_b = *ns_b_opened;
    auto created = ns_a.create_veth("va", "vb", b);
    ASSERT_TRUE(created) << created.error().message();
    ASSERT_TRUE(ns_a.add_address("va", "10.250.9.1/24"));
    ASSERT_TRUE(ns_b.add_address("vb", "10.250.9.2/24"));
    ASSERT_TRUE(ns_a.set_up("va", true));
    ASSERT_TRUE(ns_b.set_up("vb", true));
    auto before_a = ns_a.counters("va");
    auto before_b = ns_b.counters("vb");
    ASSERT_TRUE(before_a && before_b);

    std::vector<std::string> argv = {"nsenter", "--net=" + a};
    argv.insert(argv.end(), ping.begin(), ping.end());
    argv.insert(argv.end(), {"-c1", "-W2", "10.250.9.2"});
    CommandResult result = run_command(argv, {}, std::chrono::seconds(20));
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;

    auto after_a = ns_a.counters("va");
    auto after_b = ns_b.counters("vb");
    ASSERT_TRUE(after_a && after_b);
    EXPECT_GT(after_a->tx_packets, before_a->tx_packets);
    EXPECT_GT(after_a->rx_packets, before_a->rx_packets);
    EXPECT_GT(after_a->tx_bytes, before_a->tx_bytes);
    EXPECT_GT(after_b->rx_packets, before_b->rx_packets);
    EXPECT_GT(after_b->rx_bytes, before_b->rx_bytes);
  }
  // Unreachable once B is gone: its veth end went with it, and A's with it.
  ASSERT_TRUE(netns::remove_pinned(b));
  auto ns_a = Netlink::open_in(a);
  ASSERT_TRUE(ns_a) << ns_a.error().message();
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = !ns_a->link("va");
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(gone) << "va outlived the namespace of its peer";
}

TEST_F(NetnsTest, RemovingTheNamespaceRemovesTheVethPair) {
  std::string path = pin("a");
  ASSERT_TRUE(netns::create_pinned(path));
  std::string outer = ifname("h");
  ASSERT_TRUE(host().create_veth(outer, "eth0", path));
  ASSERT_TRUE(host().link(outer));
  ASSERT_TRUE(netns::remove_pinned(path));
  // The kernel destroys a namespace (and the links in it) asynchronously.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    auto link = host().link(outer);
    gone = !link && link.error().code() == ErrorCode::kNotFound;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(gone) << outer << " outlived its namespace";
}

}  // namespace
}  // namespace berth::testing
