// CNI without root: list and result parsing, what each plugin gets on
// stdin and the cache format. Invocation through fake plugins is in
// cni_plugin_test.cpp.
#include "cni/cni.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "cni/cni_test_util.h"
#include "cni/config.h"
#include "common/base64.h"

namespace berth::cni {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace cni_testing;

constexpr const char* kBridgeList = R"({
  "cniVersion": "1.0.0",
  "name": "berth",
  "plugins": [
    {"type": "bridge", "bridge": "berth0", "ipam": {"type": "host-local"}},
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
  ]
})";

// --- Network lists -------------------------------------------------------

TEST(CniListTest, ParsesConflist) {
  auto list = parse_network_list(kBridgeList, "/etc/cni/net.d/10-berth.conflist");
  ASSERT_TRUE(list) << list.error().message();
  EXPECT_EQ(list->cni_version, "1.0.0");
  EXPECT_EQ(list->name, "berth");
  EXPECT_FALSE(list->disable_check);
  ASSERT_EQ(list->plugins.size(), 2u);
  EXPECT_EQ(list->plugins[0]["type"], "bridge");
  EXPECT_EQ(list->plugins[1]["snat"], true);
  EXPECT_EQ(list->source, "/etc/cni/net.d/10-berth.conflist");
}

TEST(CniListTest, TurnsSingleConfIntoListOfOne) {
  auto list = parse_network_list(
      R"({"cniVersion": "0.4.0", "name": "lo", "type": "loopback", "disableCheck": true})");
  ASSERT_TRUE(list) << list.error().message();
  EXPECT_EQ(list->name, "lo");
  EXPECT_EQ(list->cni_version, "0.4.0");
  EXPECT_TRUE(list->disable_check);
  ASSERT_EQ(list->plugins.size(), 1u);
  EXPECT_EQ(list->plugins[0]["type"], "loopback");
}

TEST(CniListTest, AcceptsDisableCheckAsString) {
  auto list = parse_network_list(
      R"({"cniVersion": "1.0.0", "name": "n", "disableCheck": "true", "plugins": [{"type": "x"}]})");
  ASSERT_TRUE(list) << list.error().message();
  EXPECT_TRUE(list->disable_check);
}

void expect_list_error(const std::string& text, const std::string& message) {
  auto list = parse_network_list(text, "/etc/cni/net.d/bad.conflist");
  ASSERT_FALSE(list) << text;
  EXPECT_EQ(list.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(list.error().message(), "'/etc/cni/net.d/bad.conflist': " + message);
}

TEST(CniListTest, ErrorsNameTheFieldAndTheFile) {
  expect_list_error(R"({"cniVersion": "1.0.0", "plugins": [{"type": "x"}]})", "name: missing");
  expect_list_error(R"({"cniVersion": "1.0.0", "name": 3, "plugins": [{"type": "x"}]})",
                    "name: expected a non-empty string");
  expect_list_error(R"({"name": "n", "plugins": [{"type": "x"}]})", "cniVersion: missing");
  expect_list_error(R"({"cniVersion": "1.0.0", "name": "n"})", "plugins: missing");
  expect_list_error(R"({"cniVersion": "1.0.0", "name": "n", "plugins": {}})",
                    "plugins: expected an array");
  expect_list_error(R"({"cniVersion": "1.0.0", "name": "n", "plugins": []})", "plugins: empty");
  expect_list_error(R"({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "a"}, {}]})",
                    "plugins[1].type: missing");
  expect_list_error(R"({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": 7}]})",
                    "plugins[0].type: expected a non-empty string");
  expect_list_error(R"({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "../sh"}]})",
                    "plugins[0].type: must not contain '/'");
  expect_list_error(R"({"cniVersion": "1.0.0", "name": "n", "plugins": ["x"]})",
                    "plugins[0]: expected an object");
  expect_list_error("{not json", "not valid JSON");
}

TEST(CniListTest, ErrorWithoutSourceHasNoFilePrefix) {
  auto list = parse_network_list(R"({"cniVersion": "1.0.0", "plugins": [{"type": "x"}]})");
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error().message(), "name: missing");
}

TEST(CniListTest, ToJsonRoundTrips) {
  auto list = parse_network_list(kBridgeList);
  ASSERT_TRUE(list);
  auto again = parse_network_list(to_json(*list).dump());
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->name, list->name);
  EXPECT_EQ(again->cni_version, list->cni_version);
  EXPECT_EQ(again->plugins, list->plugins);
}

using CniLoadTest = TempDirTest;

TEST_F(CniLoadTest, FirstFileByNameWins) {
  write_file(dir_ + "/20-b.conflist",
             R"({"cniVersion": "1.0.0", "name": "net", "plugins": [{"type": "second"}]})");
  write_file(dir_ + "/10-a.conf", R"({"cniVersion": "1.0.0", "name": "net", "type": "first"})");
  write_file(dir_ + "/05-other.json",
             R"({"cniVersion": "1.0.0", "name": "other", "plugins": [{"type": "o"}]})");
  write_file(dir_ + "/00-ignored.txt",
             R"({"cniVersion": "1.0.0", "name": "net", "plugins": [{"type": "txt"}]})");
  auto list = load_network_list(dir_, "net");
  ASSERT_TRUE(list) << list.error().message();
  EXPECT_EQ(list->plugins[0]["type"], "first");
  EXPECT_EQ(list->source, dir_ + "/10-a.conf");
  auto other = load_network_list(dir_, "other");
  ASSERT_TRUE(other) << other.error().message();
  EXPECT_EQ(other->plugins[0]["type"], "o");
}

TEST_F(CniLoadTest, NotFoundNamesDirectoryAndBrokenFiles) {
  write_file(dir_ + "/10-broken.conflist", R"({"cniVersion": "1.0.0", "name": "net"})");
  auto list = load_network_list(dir_, "net");
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(list.error().message().find("CNI network 'net' not found in " + dir_),
            std::string::npos);
  EXPECT_NE(list.error().message().find("10-broken.conflist': plugins: missing"), std::string::npos)
      << list.error().message();
  auto missing = load_network_list(dir_ + "/nope", "net");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

// --- Results -------------------------------------------------------------

TEST(CniResultTest, Parses100) {
  auto result = parse_result(json::parse(R"({
    "cniVersion": "1.0.0",
    "interfaces": [
      {"name": "berth0", "mac": "aa:aa:aa:aa:aa:01"},
      {"name": "veth1234", "mac": "aa:aa:aa:aa:aa:02"},
      {"name": "eth0", "mac": "aa:aa:aa:aa:aa:03", "sandbox": "/var/run/netns/x"}
    ],
    "ips": [
      {"address": "fd00::5/64", "gateway": "fd00::1", "interface": 2},
      {"address": "10.213.0.5/24", "gateway": "10.213.0.1", "interface": 2},
      {"address": "10.213.0.1/24", "interface": 0}
    ],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.213.0.1"}, {"dst": "10.0.0.0/8"}],
    "dns": {"nameservers": ["10.0.0.2"], "domain": "example.com", "search": ["a.example.com"],
            "options": ["ndots:2"]}
  })"));
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->cni_version, "1.0.0");
  ASSERT_EQ(result->interfaces.size(), 3u);
  EXPECT_EQ(result->interfaces[2].name, "eth0");
  EXPECT_EQ(result->interfaces[2].mac, "aa:aa:aa:aa:aa:03");
  EXPECT_EQ(result->interfaces[2].sandbox, "/var/run/netns/x");
  EXPECT_EQ(result->interfaces[0].sandbox, "");
  ASSERT_EQ(result->ips.size(), 3u);
  EXPECT_EQ(result->ips[1].address, "10.213.0.5/24");
  EXPECT_EQ(result->ips[1].gateway, "10.213.0.1");
  EXPECT_EQ(result->ips[1].interface, 2);
  EXPECT_EQ(result->ips[2].gateway, "");
  ASSERT_EQ(result->routes.size(), 2u);
  EXPECT_EQ(result->routes[0].dst, "0.0.0.0/0");
  EXPECT_EQ(result->routes[0].gw, "10.213.0.1");
  EXPECT_EQ(result->routes[1].gw, "");
  EXPECT_EQ(result->dns.nameservers, std::vector<std::string>{"10.0.0.2"});
  EXPECT_EQ(result->dns.domain, "example.com");
  EXPECT_EQ(result->dns.search, std::vector<std::string>{"a.example.com"});
  EXPECT_EQ(result->dns.options, std::vector<std::string>{"ndots:2"});
  EXPECT_EQ(result->raw["ips"].size(), 3u);

  // IPv4 first, only the sandbox interface named eth0, without prefix.
  EXPECT_EQ(sandbox_addresses(*result, "eth0"),
            (std::vector<std::string>{"10.213.0.5", "fd00::5"}));
  EXPECT_TRUE(sandbox_addresses(*result, "berth0").empty());
  EXPECT_TRUE(sandbox_addresses(*result, "eth1").empty());
}

TEST(CniResultTest, Parses040WithIpVersion) {
  // As bridge 1.1.1 prints it for a 0.4.0 list (empty dns included).
  auto result = parse_result(json::parse(R"({
    "cniVersion": "0.4.0",
    "interfaces": [{"name": "eth0", "mac": "02:42:ac:11:00:02", "sandbox": "/proc/1/ns/net"}],
    "ips": [{"version": "4", "address": "172.17.0.2/16", "gateway": "172.17.0.1", "interface": 0}],
    "dns": {}
  })"));
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->cni_version, "0.4.0");
  ASSERT_EQ(result->ips.size(), 1u);
  EXPECT_EQ(result->ips[0].address, "172.17.0.2/16");
  EXPECT_EQ(sandbox_addresses(*result, "eth0"), std::vector<std::string>{"172.17.0.2"});
}

TEST(CniResultTest, MissingFieldsAreFine) {
  // An IPAM plugin's abbreviated result: no interfaces, no interface index.
  auto result =
      parse_result(json::parse(R"({"cniVersion": "0.3.1", "ips": [{"address": "10.0.0.2/24"}]})"));
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_TRUE(result->interfaces.empty());
  EXPECT_FALSE(result->ips[0].interface.has_value());
  EXPECT_TRUE(sandbox_addresses(*result, "eth0").empty());
  EXPECT_TRUE(parse_result(json::object()).has_value());
}

TEST(CniResultTest, WrongTypesNameTheField) {
  auto error = [](const char* text) {
    auto result = parse_result(json::parse(text));
    EXPECT_FALSE(result) << text;
    if (result) return std::string();
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
    return result.error().message();
  };
  EXPECT_EQ(error(R"({"ips": [{"address": 5}]})"), "CNI result: ips[0].address: expected a string");
  EXPECT_EQ(error(R"({"ips": [{"address": "10.0.0.1/8", "interface": "0"}]})"),
            "CNI result: ips[0].interface: expected an interface index");
  EXPECT_EQ(error(R"({"ips": [{"interface": -1}]})"),
            "CNI result: ips[0].interface: expected an interface index");
  EXPECT_EQ(error(R"({"interfaces": {}})"), "CNI result: interfaces: expected an array");
  EXPECT_EQ(error(R"({"interfaces": [{}, {"sandbox": 1}]})"),
            "CNI result: interfaces[1].sandbox: expected a string");
  EXPECT_EQ(error(R"({"routes": [3]})"), "CNI result: routes[0]: expected an object");
  EXPECT_EQ(error(R"({"dns": {"nameservers": "10.0.0.2"}})"),
            "CNI result: dns.nameservers: expected an array of strings");
  EXPECT_EQ(error(R"({"cniVersion": 1})"), "CNI result: cniVersion: expected a string");
  EXPECT_EQ(error("[]"), "CNI result: result: expected a JSON object");
  EXPECT_NE(error(R"({"cniVersion": "0.2.0", "ip4": {"ip": "10.0.0.2/24"}})").find("0.2.0"),
            std::string::npos);
}

// --- Per-plugin config, CNI_ARGS, versions -------------------------------

TEST(CniPluginConfigTest, InjectsNameAndVersionAndFiltersCapabilities) {
  auto list = parse_network_list(kBridgeList);
  ASSERT_TRUE(list);
  CapabilityArgs capabilities;
  capabilities.port_mappings = {{8080, 80, "tcp", ""}, {5353, 53, "udp", "127.0.0.1"}};
  capabilities.bandwidth = Bandwidth{1000, 2000, 3000, 4000};
  json args = capability_args_json(capabilities);

  json bridge = plugin_config(*list, 0, args, std::nullopt);
  EXPECT_EQ(bridge["name"], "berth");
  EXPECT_EQ(bridge["cniVersion"], "1.0.0");
  EXPECT_EQ(bridge["type"], "bridge");
  EXPECT_EQ(bridge["ipam"]["type"], "host-local");
  // bridge declares no capabilities: it gets none.
  EXPECT_FALSE(bridge.contains("runtimeConfig"));
  EXPECT_FALSE(bridge.contains("prevResult"));

  json prev = {{"cniVersion", "1.0.0"}, {"ips", json::array({{{"address", "10.0.0.2/24"}}})}};
  json portmap = plugin_config(*list, 1, args, prev);
  EXPECT_FALSE(portmap.contains("capabilities"));
  EXPECT_EQ(portmap["snat"], true);
  EXPECT_EQ(portmap["prevResult"], prev);
  ASSERT_TRUE(portmap.contains("runtimeConfig"));
  // Only what portmap declares, not bandwidth.
  EXPECT_EQ(portmap["runtimeConfig"].size(), 1u);
  EXPECT_EQ(portmap["runtimeConfig"]["portMappings"], json::parse(R"([
    {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
    {"hostPort": 5353, "containerPort": 53, "protocol": "udp", "hostIP": "127.0.0.1"}
  ])"));
}

TEST(CniPluginConfigTest, ListNameAndVersionOverrideThePlugins) {
  auto list = parse_network_list(R"({"cniVersion": "0.4.0", "name": "outer", "plugins": [
    {"type": "bandwidth", "name": "inner", "cniVersion": "0.3.1",
     "capabilities": {"bandwidth": true, "portMappings": false},
     "runtimeConfig": {"stale": 1}, "prevResult": {"stale": 2}}]})");
  ASSERT_TRUE(list);
  CapabilityArgs capabilities;
  capabilities.port_mappings = {{1, 2, "tcp", ""}};
  capabilities.bandwidth = Bandwidth{1, 2, 3, 4};
  json config = plugin_config(*list, 0, capability_args_json(capabilities), std::nullopt);
  EXPECT_EQ(config["name"], "outer");
  EXPECT_EQ(config["cniVersion"], "0.4.0");
  EXPECT_FALSE(config.contains("prevResult"));
  EXPECT_EQ(config["runtimeConfig"],
            json::parse(R"({"bandwidth": {"ingressRate": 1, "ingressBurst": 2,
                                          "egressRate": 3, "egressBurst": 4}})"));
  // A declared capability without arguments gives no runtimeConfig at all.
  json none = plugin_config(*list, 0, json::object(), std::nullopt);
  EXPECT_FALSE(none.contains("runtimeConfig"));
}

TEST(CniPluginConfigTest, CapabilityArgsRoundTrip) {
  CapabilityArgs capabilities;
  capabilities.port_mappings = {{8080, 80, "tcp", ""}, {53, 53, "udp", "::1"}};
  capabilities.bandwidth = Bandwidth{10, 20, 30, 40};
  auto parsed = parse_capability_args(capability_args_json(capabilities));
  ASSERT_TRUE(parsed) << parsed.error().message();
  ASSERT_EQ(parsed->port_mappings.size(), 2u);
  EXPECT_EQ(parsed->port_mappings[1].host_ip, "::1");
  EXPECT_EQ(parsed->port_mappings[1].protocol, "udp");
  EXPECT_EQ(parsed->port_mappings[0].host_port, 8080u);
  ASSERT_TRUE(parsed->bandwidth);
  EXPECT_EQ(parsed->bandwidth->egress_burst, 40u);
  EXPECT_EQ(capability_args_json(CapabilityArgs{}), json::object());
  auto bad = parse_capability_args(json::parse(R"({"portMappings": [{"hostPort": "80"}]})"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("portMappings[0].hostPort"), std::string::npos);
}

TEST(CniArgsTest, AddsIgnoreUnknownFirst) {
  EXPECT_EQ(format_cni_args({}), "IgnoreUnknown=1");
  EXPECT_EQ(format_cni_args({{"K8S_POD_NAME", "web"}, {"K8S_POD_NAMESPACE", "default"}}),
            "IgnoreUnknown=1;K8S_POD_NAME=web;K8S_POD_NAMESPACE=default");
  EXPECT_EQ(format_cni_args({{"IgnoreUnknown", "true"}, {"A", "b"}}), "IgnoreUnknown=true;A=b");
}

TEST(CniVersionTest, ComparesNumerically) {
  EXPECT_EQ(compare_versions("0.4.0", "0.4.0"), 0);
  EXPECT_LT(compare_versions("0.3.1", "0.4.0"), 0);
  EXPECT_GT(compare_versions("1.0.0", "0.4.0"), 0);
  EXPECT_GT(compare_versions("0.10.0", "0.4.0"), 0);
  EXPECT_LT(compare_versions("0.2.0", "0.3.0"), 0);
}

// --- Cache records -------------------------------------------------------

TEST(CniCacheTest, RecordRoundTripsInLibcniFormat) {
  CacheRecord record;
  record.container_id = "abc";
  record.network = "berth";
  record.ifname = "eth0";
  record.config = kBridgeList;
  record.args = {{"K8S_POD_NAME", "web"}};
  record.capability_args =
      json::parse(R"({"portMappings": [{"hostPort": 1, "containerPort": 2}]})");
  record.result = json::parse(R"({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]})");
  json document = to_json(record);
  EXPECT_EQ(document["kind"], "cniCacheV1");
  EXPECT_EQ(document["containerId"], "abc");
  EXPECT_EQ(document["networkName"], "berth");
  EXPECT_EQ(document["ifName"], "eth0");
  EXPECT_EQ(document["config"], base64_encode(kBridgeList));
  EXPECT_EQ(document["cniArgs"], json::parse(R"([["K8S_POD_NAME", "web"]])"));

  auto parsed = parse_cache_record(document.dump());
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->container_id, "abc");
  EXPECT_EQ(parsed->network, "berth");
  EXPECT_EQ(parsed->ifname, "eth0");
  EXPECT_EQ(parsed->config, kBridgeList);
  EXPECT_EQ(parsed->args, record.args);
  EXPECT_EQ(parsed->capability_args, record.capability_args);
  EXPECT_EQ(parsed->result, record.result);
}

TEST(CniCacheTest, EmptyPartsAreLeftOutLikeLibcni) {
  CacheRecord record{"abc", "berth", "eth0", "{}", {}, json::object(), std::nullopt};
  json document = to_json(record);
  EXPECT_FALSE(document.contains("cniArgs"));
  EXPECT_FALSE(document.contains("capabilityArgs"));
  EXPECT_FALSE(document.contains("result"));
  auto parsed = parse_cache_record(document.dump());
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_FALSE(parsed->result.has_value());
  EXPECT_TRUE(parsed->args.empty());
}

TEST(CniCacheTest, RejectsOtherKindsAndBadFields) {
  EXPECT_FALSE(parse_cache_record(R"({"kind": "other"})"));
  EXPECT_FALSE(parse_cache_record("nope"));
  auto bad = parse_cache_record(
      R"({"kind": "cniCacheV1", "containerId": "a", "networkName": "n", "ifName": "e", "cniArgs": [["x"]]})");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("cniArgs"), std::string::npos);
}

}  // namespace
}  // namespace berth::cni
