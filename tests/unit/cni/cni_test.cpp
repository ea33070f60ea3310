// CNI without root: list and result parsing, what each plugin gets on
// stdin, the cache format, and invocation through fake plugins (shell
// scripts that record what they were given).
#include "cni/cni.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cni/config.h"
#include "common/base64.h"

namespace berth::cni {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

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

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "berth_cni_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
};

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

// --- Invocation through fake plugins -------------------------------------

class CniPluginTest : public TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    plugins_ = dir_ + "/bin";
    log_ = dir_ + "/log";
    fs::create_directories(plugins_);
    fs::create_directories(log_);
    config_.plugin_dirs = {dir_ + "/empty", plugins_};
    config_.cache_dir = dir_ + "/cache";
    config_.timeout = std::chrono::seconds(10);
    attachment_.container_id = "c1";
    attachment_.netns = "/var/run/netns/test";
    attachment_.ifname = "eth0";
    attachment_.args = {{"K8S_POD_NAME", "web"}};
    attachment_.capabilities.port_mappings = {{8080, 80, "tcp", ""}};
  }

  void script(const std::string& name, const std::string& body) {
    std::string path = plugins_ + "/" + name;
    write_file(path, "#!/bin/sh\nlog=" + log_ + "\necho \"$CNI_COMMAND " + name +
                         "\" >> $log/order\n" + body);
    ::chmod(path.c_str(), 0755);
  }
  // Records its environment and stdin per command; on ADD prints a result
  // giving `address` to eth0 in the netns.
  void recorder(const std::string& name, const std::string& address) {
    script(name,
           "env | grep '^CNI_' | sort > $log/" + name + ".$CNI_COMMAND.env\n" + "cat > $log/" +
               name + ".$CNI_COMMAND.stdin\n" +
               "case $CNI_COMMAND in\n"
               "ADD) printf '%s' '{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\","
               "\"sandbox\":\"'$CNI_NETNS'\"}],\"ips\":[{\"address\":\"" +
               address +
               "\",\"interface\":0}]}' ;;\n"
               "VERSION) echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":"
               "[\"0.4.0\",\"1.0.0\"]}' ;;\n"
               "esac\n");
  }
  json stdin_of(const std::string& name, const std::string& command) {
    return json::parse(read_file(log_ + "/" + name + "." + command + ".stdin"));
  }
  std::string order() { return read_file(log_ + "/order"); }
  NetworkList list(const std::vector<std::string>& types, const std::string& version = "1.0.0") {
    json document = {{"cniVersion", version}, {"name", "test"}, {"plugins", json::array()}};
    for (const auto& type : types) {
      document["plugins"].push_back(
          {{"type", type}, {"capabilities", {{"portMappings", type == "rec2"}}}});
    }
    return parse_network_list(document.dump()).value();
  }
  std::string cache_file() { return config_.cache_dir + "/test-c1-eth0"; }

  std::string plugins_;
  std::string log_;
  CniConfig config_;
  Attachment attachment_;
};

TEST_F(CniPluginTest, AddPassesEnvironmentAndChainsResults) {
  recorder("rec1", "10.1.0.2/24");
  recorder("rec2", "10.1.0.3/24");
  Cni cni(config_);
  auto result = cni.add(list({"rec1", "rec2"}), attachment_);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(order(), "ADD rec1\nADD rec2\n");

  std::string env = read_file(log_ + "/rec1.ADD.env");
  EXPECT_NE(env.find("CNI_COMMAND=ADD\n"), std::string::npos) << env;
  EXPECT_NE(env.find("CNI_CONTAINERID=c1\n"), std::string::npos);
  EXPECT_NE(env.find("CNI_NETNS=/var/run/netns/test\n"), std::string::npos);
  EXPECT_NE(env.find("CNI_IFNAME=eth0\n"), std::string::npos);
  EXPECT_NE(env.find("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=web\n"), std::string::npos);
  EXPECT_NE(env.find("CNI_PATH=" + dir_ + "/empty:" + plugins_ + "\n"), std::string::npos);

  json first = stdin_of("rec1", "ADD");
  EXPECT_EQ(first["name"], "test");
  EXPECT_FALSE(first.contains("prevResult"));
  EXPECT_FALSE(first.contains("runtimeConfig"));  // rec1 declares no capability
  json second = stdin_of("rec2", "ADD");
  ASSERT_TRUE(second.contains("prevResult"));
  EXPECT_EQ(second["prevResult"]["ips"][0]["address"], "10.1.0.2/24");
  EXPECT_EQ(second["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);

  // The last plugin's result is the list's.
  EXPECT_EQ(sandbox_addresses(*result, "eth0"), std::vector<std::string>{"10.1.0.3"});
  auto record = parse_cache_record(read_file(cache_file()));
  ASSERT_TRUE(record) << record.error().message();
  ASSERT_TRUE(record->result.has_value());
  EXPECT_EQ((*record->result)["ips"][0]["address"], "10.1.0.3/24");
  EXPECT_EQ(record->args, attachment_.args);
  auto cached = cni.cached_result("test", "c1", "eth0");
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->ips[0].address, "10.1.0.3/24");
}

TEST_F(CniPluginTest, CacheIsWrittenBeforeTheFirstPluginRuns) {
  // The plugin copies the cache file as it finds it while running.
  script("peek", "cat > /dev/null\ncp " + config_.cache_dir + "/test-c1-eth0 $log/seen\n" +
                     "echo '{\"cniVersion\":\"1.0.0\"}'\n");
  Cni cni(config_);
  ASSERT_TRUE(cni.add(list({"peek"}), attachment_));
  auto seen = parse_cache_record(read_file(log_ + "/seen"));
  ASSERT_TRUE(seen) << seen.error().message();
  EXPECT_FALSE(seen->result.has_value());
  EXPECT_EQ(seen->container_id, "c1");
  EXPECT_EQ(json::parse(seen->config)["plugins"][0]["type"], "peek");
}

TEST_F(CniPluginTest, FailedAddRunsDelInReverseAndCarriesTheMessage) {
  recorder("rec1", "10.1.0.2/24");
  recorder("rec2", "10.1.0.3/24");
  script("fail",
         "cat > /dev/null\n"
         "[ $CNI_COMMAND = ADD ] || exit 0\n"
         "echo '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"no addresses left\","
         "\"details\":\"range 10.1.0.0/30 is full\"}'\nexit 1\n");
  Cni cni(config_);
  auto result = cni.add(list({"rec1", "fail", "rec2"}), attachment_);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(result.error().message(),
            "CNI plugin 'fail' (network 'test') ADD failed: no addresses left: range 10.1.0.0/30 "
            "is full");
  // The whole list, rec2 included (it never ran; DEL must be harmless).
  EXPECT_EQ(order(), "ADD rec1\nADD fail\nDEL rec2\nDEL fail\nDEL rec1\n");
  // DEL saw what had been made.
  EXPECT_EQ(stdin_of("rec1", "DEL")["prevResult"]["ips"][0]["address"], "10.1.0.2/24");
  EXPECT_FALSE(fs::exists(cache_file()));
}

TEST_F(CniPluginTest, ErrorWithoutJsonFallsBackToStderrAndStatus) {
  script("crash", "cat > /dev/null\necho 'panic: nil map' >&2\nexit 2\n");
  script("mute", "cat > /dev/null\nexit 3\n");
  script("errjson", "cat > /dev/null\necho '{\"code\":4,\"msg\":\"bad config\"}' >&2\nexit 1\n");
  Cni cni(config_);
  auto crash = cni.add(list({"crash"}), attachment_);
  ASSERT_FALSE(crash);
  EXPECT_EQ(crash.error().code(), ErrorCode::kInternal);
  EXPECT_EQ(crash.error().message(),
            "CNI plugin 'crash' (network 'test') ADD failed: panic: nil map (exit status 2)");
  auto mute = cni.add(list({"mute"}), attachment_);
  ASSERT_FALSE(mute);
  EXPECT_EQ(mute.error().message(), "CNI plugin 'mute' (network 'test') ADD failed: exit status 3");
  // The error JSON on stderr, as the spec words it.
  auto errjson = cni.add(list({"errjson"}), attachment_);
  ASSERT_FALSE(errjson);
  EXPECT_EQ(errjson.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(errjson.error().message(),
            "CNI plugin 'errjson' (network 'test') ADD failed: bad config");
}

TEST_F(CniPluginTest, MissingPluginIsNamedAndLeavesNoCache) {
  recorder("rec1", "10.1.0.2/24");
  Cni cni(config_);
  auto result = cni.add(list({"rec1", "nosuch"}), attachment_);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(result.error().message(),
            "CNI plugin 'nosuch' not found in " + dir_ + "/empty:" + plugins_);
  EXPECT_EQ(order(), "ADD rec1\nDEL rec1\n");
  EXPECT_FALSE(fs::exists(cache_file()));
}

TEST_F(CniPluginTest, NonExecutableFileIsNotAPlugin) {
  write_file(plugins_ + "/plain", "#!/bin/sh\n");
  ::chmod((plugins_ + "/plain").c_str(), 0644);
  Cni cni(config_);
  auto result = cni.add(list({"plain"}), attachment_);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("CNI plugin 'plain' not found"), std::string::npos);
}

TEST_F(CniPluginTest, TimeoutKillsThePluginAndWhatItStarted) {
  script("sleeper", "cat > /dev/null\nsleep 30 &\necho $! > $log/child.pid\nwait\n");
  config_.timeout = std::chrono::milliseconds(300);
  Cni cni(config_);
  auto start = std::chrono::steady_clock::now();
  auto result = cni.add(list({"sleeper"}), attachment_);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(result.error().message(),
            "CNI plugin 'sleeper' (network 'test') ADD failed: timed out after 300ms, killed");
  // ADD and the DEL that undoes it both time out.
  EXPECT_LT(took, std::chrono::seconds(5));
  // The sleep the script started went with it (its process group).
  pid_t child = std::stoi(read_file(log_ + "/child.pid"));
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = ::kill(child, 0) != 0;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone) << "pid " << child << " outlived the timeout";
  EXPECT_FALSE(fs::exists(cache_file()));
}

TEST_F(CniPluginTest, PluginThatIgnoresStdinDoesNotHurt) {
  // A config larger than a pipe buffer, and a plugin that never reads it:
  // the write must end in EPIPE, not SIGPIPE or a hang.
  script("deaf", "echo '{\"cniVersion\":\"1.0.0\"}'\n");
  json document = {{"cniVersion", "1.0.0"},
                   {"name", "test"},
                   {"plugins", {{{"type", "deaf"}, {"padding", std::string(1 << 20, 'x')}}}}};
  Cni cni(config_);
  auto result = cni.add(parse_network_list(document.dump()).value(), attachment_);
  ASSERT_TRUE(result) << result.error().message();
}

TEST_F(CniPluginTest, RetriesWhileThePluginFileIsBusy) {
  recorder("rec1", "10.1.0.2/24");
  // An open writer makes execve fail with ETXTBSY, as during an upgrade.
  int writer = ::open((plugins_ + "/rec1").c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(writer, 0);
  std::thread release([writer] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    ::close(writer);
  });
  Cni cni(config_);
  auto versions = cni.versions("rec1");
  release.join();
  ASSERT_TRUE(versions) << versions.error().message();
  EXPECT_EQ(*versions, (std::vector<std::string>{"0.4.0", "1.0.0"}));
}

TEST_F(CniPluginTest, DelRunsInReverseWithCachedConfigAndRemovesTheEntry) {
  recorder("rec1", "10.1.0.2/24");
  recorder("rec2", "10.1.0.3/24");
  Cni cni(config_);
  ASSERT_TRUE(cni.add(list({"rec1", "rec2"}), attachment_));
  ASSERT_TRUE(fs::exists(cache_file()));

  // No netns given (as after the namespace is gone): CNI_NETNS is empty.
  auto deleted = cni.del("test", "c1", "eth0");
  ASSERT_TRUE(deleted) << deleted.error().message();
  EXPECT_EQ(order(), "ADD rec1\nADD rec2\nDEL rec2\nDEL rec1\n");
  std::string env = read_file(log_ + "/rec2.DEL.env");
  EXPECT_NE(env.find("CNI_NETNS=\n"), std::string::npos) << env;
  EXPECT_NE(env.find("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=web\n"), std::string::npos);
  json del = stdin_of("rec2", "DEL");
  EXPECT_EQ(del["prevResult"]["ips"][0]["address"], "10.1.0.3/24");
  EXPECT_EQ(del["runtimeConfig"]["portMappings"][0]["containerPort"], 80);
  EXPECT_EQ(stdin_of("rec1", "DEL")["prevResult"]["ips"][0]["address"], "10.1.0.3/24");
  EXPECT_FALSE(fs::exists(cache_file()));

  // Again: no cache entry, nothing runs, fine.
  ASSERT_TRUE(cni.del("test", "c1", "eth0"));
  EXPECT_EQ(order(), "ADD rec1\nADD rec2\nDEL rec2\nDEL rec1\n");
}

TEST_F(CniPluginTest, DelPassesAnExistingNetns) {
  recorder("rec1", "10.1.0.2/24");
  Cni cni(config_);
  ASSERT_TRUE(cni.add(list({"rec1"}), attachment_));
  ASSERT_TRUE(cni.del("test", "c1", "eth0", dir_));  // any existing path
  EXPECT_NE(read_file(log_ + "/rec1.DEL.env").find("CNI_NETNS=" + dir_ + "\n"), std::string::npos);
}

TEST_F(CniPluginTest, DelContinuesPastAFailureAndKeepsTheEntry) {
  recorder("rec1", "10.1.0.2/24");
  script("faildel",
         "cat > /dev/null\n"
         "[ $CNI_COMMAND = DEL ] || { echo '{\"cniVersion\":\"1.0.0\"}'; exit 0; }\n"
         "echo '{\"code\":999,\"msg\":\"iptables is locked\"}'\nexit 1\n");
  Cni cni(config_);
  ASSERT_TRUE(cni.add(list({"rec1", "faildel"}), attachment_));
  auto deleted = cni.del("test", "c1", "eth0");
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().message(),
            "CNI plugin 'faildel' (network 'test') DEL failed: iptables is locked");
  EXPECT_EQ(order(), "ADD rec1\nADD faildel\nDEL faildel\nDEL rec1\n");
  EXPECT_TRUE(fs::exists(cache_file()));
  ASSERT_EQ(cni.cached().size(), 1u);
}

TEST_F(CniPluginTest, DelWithExplicitListWhenThereIsNoCache) {
  recorder("rec1", "10.1.0.2/24");
  recorder("rec2", "10.1.0.3/24");
  Cni cni(config_);
  ASSERT_TRUE(cni.del(list({"rec1", "rec2"}), attachment_));
  EXPECT_EQ(order(), "DEL rec2\nDEL rec1\n");
  json del = stdin_of("rec2", "DEL");
  EXPECT_FALSE(del.contains("prevResult"));
  EXPECT_EQ(del["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
  // The netns does not exist, so it is not passed.
  EXPECT_NE(read_file(log_ + "/rec2.DEL.env").find("CNI_NETNS=\n"), std::string::npos);
}

TEST_F(CniPluginTest, CheckUsesCachedResultAndOnlyFrom040) {
  recorder("rec1", "10.1.0.2/24");
  recorder("rec2", "10.1.0.3/24");
  Cni cni(config_);
  NetworkList network = list({"rec1", "rec2"});
  auto missing = cni.check(network, attachment_);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);

  ASSERT_TRUE(cni.add(network, attachment_));
  auto checked = cni.check(network, attachment_);
  ASSERT_TRUE(checked) << checked.error().message();
  EXPECT_EQ(order(), "ADD rec1\nADD rec2\nCHECK rec1\nCHECK rec2\n");
  EXPECT_EQ(stdin_of("rec1", "CHECK")["prevResult"]["ips"][0]["address"], "10.1.0.3/24");

  network.disable_check = true;
  ASSERT_TRUE(cni.check(network, attachment_));
  NetworkList old = list({"rec1", "rec2"}, "0.3.1");
  ASSERT_TRUE(cni.check(old, attachment_));
  EXPECT_EQ(order(), "ADD rec1\nADD rec2\nCHECK rec1\nCHECK rec2\n");
}

TEST_F(CniPluginTest, CachedListsEntriesByTheirJson) {
  recorder("rec1", "10.1.0.2/24");
  Cni cni(config_);
  NetworkList network = list({"rec1"});
  network.name = "my-net";
  attachment_.container_id = "abc-def";
  ASSERT_TRUE(cni.add(network, attachment_));
  attachment_.ifname = "eth1";
  ASSERT_TRUE(cni.add(network, attachment_));
  write_file(config_.cache_dir + "/garbage", "not json");
  write_file(config_.cache_dir + "/my-net-x-eth0.tmp", "{}");
  auto entries = cni.cached();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].network, "my-net");
  EXPECT_EQ(entries[0].container_id, "abc-def");
  EXPECT_EQ(entries[0].ifname, "eth0");
  EXPECT_EQ(entries[0].path, config_.cache_dir + "/my-net-abc-def-eth0");
  EXPECT_EQ(entries[1].ifname, "eth1");
  EXPECT_FALSE(cni.cached_result("my-net", "nope", "eth0").has_value());
}

TEST_F(CniPluginTest, RejectsNamesThatWouldEscapeTheCacheDir) {
  Cni cni(config_);
  attachment_.container_id = "../x";
  auto result = cni.add(list({"rec1"}), attachment_);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(CniPluginTest, RejectsAListWithoutPlugins) {
  Cni cni(config_);
  NetworkList empty;
  empty.name = "test";
  empty.cni_version = "1.0.0";
  auto result = cni.add(empty, attachment_);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(cache_file()));
}

}  // namespace
}  // namespace berth::cni
