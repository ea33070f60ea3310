// The pure parts of task networking: ENI settings, the files that name a
// container's network, and the node's network configuration.
#include <gtest/gtest.h>

#include "agent/config/config.h"
#include "agent/network/eni.h"
#include "agent/network/etc_files.h"
#include "agent/network/ports.h"
#include "agent/network/task_network.h"

namespace berth::agent {
namespace {

TEST(EniSpecTest, NameAddressesAndGateway) {
  auto eni = parse_eni_spec("eth5=10.0.0.5/24,fd00::5/64@10.0.0.1");
  ASSERT_TRUE(eni) << eni.error().message();
  EXPECT_EQ(eni->name, "eth5");
  EXPECT_EQ(eni->addresses, (std::vector<std::string>{"10.0.0.5/24", "fd00::5/64"}));
  EXPECT_EQ(eni->gateway, "10.0.0.1");
  auto bare = parse_eni_spec("eth6");
  ASSERT_TRUE(bare);
  EXPECT_TRUE(bare->addresses.empty());
  EXPECT_TRUE(bare->gateway.empty());
}

TEST(EniSpecTest, ErrorsNameTheWrongPart) {
  auto no_prefix = parse_eni_spec("eth5=10.0.0.5");
  ASSERT_FALSE(no_prefix);
  EXPECT_NE(no_prefix.error().message().find("'10.0.0.5' is not in CIDR form"), std::string::npos);
  auto bad_gateway = parse_eni_spec("eth5=10.0.0.5/24@gw");
  ASSERT_FALSE(bad_gateway);
  EXPECT_NE(bad_gateway.error().message().find("gateway 'gw'"), std::string::npos);
  EXPECT_FALSE(parse_eni_spec("=10.0.0.5/24"));
  EXPECT_FALSE(parse_eni_spec("a-name-longer-than-15=10.0.0.5/24"));
  EXPECT_FALSE(parse_eni_spec("eth5=10.0.0.5/33"));
}

TEST(NetworkFilesTest, HostnameComesFromTheAddressAsOnEc2) {
  EXPECT_EQ(hostname_for_address("10.213.0.5"), "ip-10-213-0-5");
  EXPECT_EQ(hostname_for_address(""), "");
  EXPECT_EQ(hostname_for_address("fd00::5"), "");
}

TEST(NetworkFilesTest, HostsListsLocalhostThenEachEntry) {
  EXPECT_EQ(render_hosts({{"10.0.0.5", {"ip-10-0-0-5"}}, {"10.0.0.6", {"db", "server"}}}),
            "127.0.0.1\tlocalhost\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            "10.0.0.5\tip-10-0-0-5\n"
            "10.0.0.6\tdb server\n");
  // An entry without an address or names says nothing.
  EXPECT_EQ(render_hosts({{"", {"x"}}, {"10.0.0.7", {}}}), render_hosts({}));
}

TEST(NetworkFilesTest, ResolvConfDropsLoopbackResolversOfTheNode) {
  std::string node =
      "# managed\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver ::1\n"
      "search corp.example\noptions edns0\n";
  EXPECT_EQ(render_resolv_conf(node, {}, {}),
            "nameserver 192.0.2.1\nsearch corp.example\noptions edns0\n");
  // The task's own servers and domains replace the node's.
  EXPECT_EQ(render_resolv_conf(node, {"198.51.100.1"}, {"a.test", "b.test"}),
            "nameserver 198.51.100.1\nsearch a.test b.test\noptions edns0\n");
}

TEST(NetworkConfigTest, FlagsBecomeTheEnginesSettings) {
  AgentConfig config;
  config.host_port_range = "30000-30010";
  config.eni_pool = {"eth5=10.0.0.5/24@10.0.0.1"};
  auto network = config.network_config();
  ASSERT_TRUE(network) << network.error().message();
  EXPECT_EQ(network->host_port_min, 30000U);
  EXPECT_EQ(network->host_port_max, 30010U);
  ASSERT_EQ(network->eni_pool.size(), 1U);
  EXPECT_EQ(network->eni_pool[0].gateway, "10.0.0.1");
  EXPECT_EQ(network->netns_dir, config.state + "/netns");
  EXPECT_EQ(network->cni_cache_dir, config.root + "/cni/cache");
}

TEST(NetworkConfigTest, BadValuesAreRefusedByName) {
  auto message = [](auto change) {
    AgentConfig config;
    change(config);
    auto valid = validate(config);
    return valid ? std::string() : valid.error().message();
  };
  EXPECT_NE(message([](AgentConfig& c) {
              c.default_network_mode = "overlay";
            }).find("default-network-mode: 'overlay'"),
            std::string::npos);
  EXPECT_NE(message([](AgentConfig& c) { c.host_port_range = "9-2"; }).find("host-port-range"),
            std::string::npos);
  EXPECT_NE(message([](AgentConfig& c) {
              c.bridge_name = "a-very-long-bridge-name";
            }).find("bridge-name"),
            std::string::npos);
  EXPECT_NE(message([](AgentConfig& c) { c.bridge_subnet = "10.0.0.0"; }).find("bridge-subnet"),
            std::string::npos);
  EXPECT_NE(message([](AgentConfig& c) { c.eni_pool = {"eth5=bad"}; }).find("eni"),
            std::string::npos);
}

TEST(NetworkConfigTest, TomlKeys) {
  AgentConfig config;
  auto applied = apply_toml(
      "default_network_mode = \"awsvpc\"\nbridge_name = \"br9\"\n"
      "cni_plugin_dirs = [\"/opt/cni/bin\"]\neni_pool = [\"eth5=10.0.0.5/24\"]\n",
      "test.toml", config);
  ASSERT_TRUE(applied) << applied.error().message();
  EXPECT_EQ(config.default_network_mode, "awsvpc");
  EXPECT_EQ(config.bridge_name, "br9");
  EXPECT_EQ(config.cni_plugin_dirs, std::vector<std::string>{"/opt/cni/bin"});
  EXPECT_EQ(config.eni_pool.size(), 1U);
}

}  // namespace
TEST(EniChoiceTest, TagsNameAnInterfaceThePoolGivesOneAndAnInterfaceServesOneTask) {
  std::vector<EniSpec> pool = {*parse_eni_spec("eth5=10.0.0.5/24"), *parse_eni_spec("eth6")};
  auto first = choose_eni({}, pool, {});
  ASSERT_TRUE(first && *first);
  EXPECT_EQ((*first)->name, "eth5");
  auto second = choose_eni({}, pool, {{"eth5", "t1"}});
  ASSERT_TRUE(second && *second);
  EXPECT_EQ((*second)->name, "eth6");
  auto none_left = choose_eni({}, pool, {{"eth5", "t1"}, {"eth6", "t2"}});
  ASSERT_FALSE(none_left);
  EXPECT_NE(none_left.error().message().find("RESOURCE:ENI"), std::string::npos);
  EXPECT_FALSE(*choose_eni({}, {}, {})) << "no pool: CNI gives the interface";

  std::map<std::string, std::string> tags = {
      {"berth:eni", "eth5"}, {"berth:eni-addresses", "10.1.0.5/16"}, {"berth:eni-mtu", "9000"}};
  auto tagged = choose_eni(tags, pool, {});
  ASSERT_TRUE(tagged && *tagged);
  EXPECT_EQ((*tagged)->addresses, std::vector<std::string>{"10.1.0.5/16"});
  EXPECT_EQ((*tagged)->mtu, 9000u);
  auto taken = choose_eni(tags, pool, {{"eth5", "abc"}});
  ASSERT_FALSE(taken);
  EXPECT_NE(taken.error().message().find("in use by task 'abc'"), std::string::npos);
  tags["berth:eni-mtu"] = "12";
  auto bad = choose_eni(tags, pool, {});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("tags.berth:eni-mtu"), std::string::npos);
  EXPECT_EQ(eni_by_name("eth6", {}, pool)->name, "eth6");
  EXPECT_FALSE(eni_by_name("eth9", {}, pool));
}

TEST(HostPortsTest, AGivenPortIsOneTasksAndPortZeroTakesAFreeOne) {
  HostPorts ports(61000, 61010);
  auto a = ports.take("a", {{80, 61005, "tcp"}, {53, 0, "udp"}});
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ((*a)[0].host_port, 61005u);
  EXPECT_GE((*a)[1].host_port, 61000u);
  EXPECT_LE((*a)[1].host_port, 61010u);
  auto b = ports.take("b", {{8080, 61005, "tcp"}});
  ASSERT_FALSE(b);
  EXPECT_NE(
      b.error().message().find("RESOURCE:PORTS: host port 61005/tcp is already published by 'a'"),
      std::string::npos);
  EXPECT_TRUE(ports.take("b", {{8080, 61005, "udp"}})) << "another protocol";
  ports.release("a");
  EXPECT_TRUE(ports.take("c", {{80, 61005, "tcp"}}));
}

}  // namespace berth::agent
