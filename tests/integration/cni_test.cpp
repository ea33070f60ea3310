// CNI with the real plugins (containernetworking-plugins in /usr/lib/cni):
// bridge + host-local + portmap into a network namespace made by the test.
// Needs root; containerd is not involved.
#include "cni/cni.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fixtures/environment.h"
#include "fixtures/process.h"

namespace berth::cni {
namespace {

namespace fs = std::filesystem;
using berth::testing::run_command;

constexpr const char* kPluginDir = "/usr/lib/cni";

class CniRealPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BERTH_REQUIRE_ROOT();
    for (const char* plugin : {"bridge", "host-local", "portmap"}) {
      if (::access((std::string(kPluginDir) + "/" + plugin).c_str(), X_OK) != 0) {
        GTEST_SKIP() << "CNI plugin '" << plugin << "' not installed in " << kPluginDir;
      }
    }
    int pid = ::getpid();
    ns_ = "berth-cni-" + std::to_string(pid);
    netns_ = "/var/run/netns/" + ns_;
    bridge_ = "bcni" + std::to_string(pid % 100000);
    network_ = "bcni-" + std::to_string(pid);
    subnet_prefix_ = "10.213." + std::to_string(pid % 250) + ".";
    container_id_ = "berthcnitest" + std::to_string(pid);
    host_port_ = 20000 + pid % 10000;

    std::string pattern = "/tmp/berth_cni_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    data_dir_ = dir_ + "/ipam";
    config_.plugin_dirs = {kPluginDir};
    config_.cache_dir = dir_ + "/results";
    config_.timeout = std::chrono::seconds(30);

    // Only chains this test causes are removed afterwards: portmap's shared
    // top-level ones may belong to another CNI user on this machine.
    had_portmap_chains_ = nat_rules().find(":CNI-HOSTPORT-DNAT") != std::string::npos;

    ASSERT_EQ(run_command({"ip", "netns", "add", ns_}).exit_code, 0);
    netns_made_ = true;

    attachment_.container_id = container_id_;
    attachment_.netns = netns_;
    attachment_.ifname = "eth0";
    attachment_.args = {{"K8S_POD_NAME", "web"}};
    attachment_.capabilities.port_mappings = {{static_cast<uint32_t>(host_port_), 80, "tcp", ""}};
  }

  void TearDown() override {
    if (dir_.empty()) return;
    if (netns_made_) {
      // Whatever a failed test left: DEL releases the IP and portmap rules.
      Cni cni(config_);
      (void)cni.del(network_, container_id_, "eth0", netns_);
      run_command({"ip", "netns", "del", ns_});
    }
    run_command({"ip", "link", "del", bridge_});
    remove_portmap_chains();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string conflist(const std::string& second_type = "portmap") const {
    return R"({
      "cniVersion": "1.0.0",
      "name": ")" +
           network_ + R"(",
      "plugins": [
        {"type": "bridge", "bridge": ")" +
           bridge_ + R"(", "isGateway": true, "ipMasq": false,
         "ipam": {"type": "host-local", "subnet": ")" +
           subnet_prefix_ + R"(0/24", "dataDir": ")" + data_dir_ +
           R"(", "routes": [{"dst": "0.0.0.0/0"}]}},
        {"type": ")" +
           second_type + R"(", "capabilities": {"portMappings": true}, "snat": true}
      ]
    })";
  }

  NetworkList load(const std::string& second_type = "portmap") {
    std::string conf_dir = dir_ + "/net.d";
    fs::create_directories(conf_dir);
    std::ofstream(conf_dir + "/10-test.conflist", std::ios::trunc) << conflist(second_type);
    auto list = load_network_list(conf_dir, network_);
    EXPECT_TRUE(list) << list.error().message();
    return list.value_or(NetworkList{});
  }

  static std::string nat_rules() { return run_command({"iptables-save", "-t", "nat"}).out; }

  // The host-local allocation files: one per address, named by it.
  std::vector<std::string> allocations() const {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(data_dir_ + "/" + network_, ec)) {
      std::string name = entry.path().filename().string();
      if (name.starts_with(subnet_prefix_)) files.push_back(name);
    }
    return files;
  }

  std::string cache_file() const {
    return config_.cache_dir + "/" + network_ + "-" + container_id_ + "-eth0";
  }

  void remove_portmap_chains() {
    std::istringstream rules(nat_rules());
    std::vector<std::string> chains;
    std::string line;
    while (std::getline(rules, line)) {
      bool ours = line.find(container_id_) != std::string::npos;
      bool shared = line.find("CNI-HOSTPORT-") != std::string::npos && !had_portmap_chains_;
      if (line.starts_with(":CNI-") && (shared || ours)) {
        chains.push_back(line.substr(1, line.find(' ') - 1));
      } else if (line.starts_with("-A ") && (shared || ours)) {
        // iptables-save quotes comments the way sh reads them.
        run_command({"sh", "-c", "iptables -t nat -D " + line.substr(3)});
      }
    }
    for (const auto& chain : chains) {
      run_command({"iptables", "-t", "nat", "-F", chain});
      run_command({"iptables", "-t", "nat", "-X", chain});
    }
  }

  std::string ns_;
  std::string netns_;
  std::string bridge_;
  std::string network_;
  std::string subnet_prefix_;
  std::string container_id_;
  int host_port_ = 0;
  std::string dir_;
  std::string data_dir_;
  bool had_portmap_chains_ = false;
  bool netns_made_ = false;
  CniConfig config_;
  Attachment attachment_;
};

TEST_F(CniRealPluginTest, AddCheckDelWithBridgeAndPortmap) {
  NetworkList list = load();
  Cni cni(config_);
  auto result = cni.add(list, attachment_);
  ASSERT_TRUE(result) << result.error().message();

  auto addresses = sandbox_addresses(*result, "eth0");
  ASSERT_EQ(addresses.size(), 1u) << result->raw.dump();
  const std::string& address = addresses[0];
  EXPECT_TRUE(address.starts_with(subnet_prefix_)) << address;
  auto ip_addr = run_command({"ip", "netns", "exec", ns_, "ip", "addr", "show", "eth0"});
  ASSERT_EQ(ip_addr.exit_code, 0) << ip_addr.err;
  EXPECT_NE(ip_addr.out.find("inet " + address + "/24"), std::string::npos) << ip_addr.out;
  auto routes = run_command({"ip", "netns", "exec", ns_, "ip", "route"});
  EXPECT_NE(routes.out.find("default via " + subnet_prefix_ + "1"), std::string::npos)
      << routes.out;

  // The cache holds the result, host-local holds the address.
  ASSERT_TRUE(fs::exists(cache_file()));
  auto cached = cni.cached_result(network_, container_id_, "eth0");
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(sandbox_addresses(*cached, "eth0"), addresses);
  EXPECT_EQ(allocations(), std::vector<std::string>{address});

  // CHECK through bridge + host-local passes.
  NetworkList bridge_only = list;
  bridge_only.plugins.resize(1);
  auto checked = cni.check(bridge_only, attachment_);
  EXPECT_TRUE(checked) << checked.error().message();
  // portmap 1.1.1 also checks ip6tables rules it never made for an IPv4-only
  // container (containernetworking/plugins#819); its message must come up.
  auto portmap_checked = cni.check(list, attachment_);
  if (!portmap_checked) {
    EXPECT_NE(portmap_checked.error().message().find("CNI plugin 'portmap' (network '" + network_ +
                                                     "') CHECK failed: "),
              std::string::npos)
        << portmap_checked.error().message();
    EXPECT_NE(portmap_checked.error().message().find("ipv6"), std::string::npos);
  }

  // portmap's DNAT chain for this container, commented with its id.
  std::string rules = nat_rules();
  EXPECT_NE(rules.find(container_id_), std::string::npos) << rules;
  EXPECT_NE(rules.find("--dport " + std::to_string(host_port_)), std::string::npos) << rules;
  EXPECT_NE(rules.find("-j CNI-DN-"), std::string::npos) << rules;

  auto deleted = cni.del(network_, container_id_, "eth0", netns_);
  ASSERT_TRUE(deleted) << deleted.error().message();
  EXPECT_TRUE(allocations().empty());
  EXPECT_FALSE(fs::exists(cache_file()));
  rules = nat_rules();
  EXPECT_EQ(rules.find(container_id_), std::string::npos) << rules;
  EXPECT_EQ(rules.find("--dport " + std::to_string(host_port_)), std::string::npos) << rules;
  // With the netns given, bridge removes the veth too.
  EXPECT_NE(run_command({"ip", "netns", "exec", ns_, "ip", "link", "show", "eth0"}).exit_code, 0);

  // DEL again: nothing cached, nothing to do.
  auto again = cni.del(network_, container_id_, "eth0", netns_);
  EXPECT_TRUE(again) << again.error().message();
  // Even with the list and no cache, the real plugins accept a second DEL.
  auto explicit_del = cni.del(list, attachment_);
  EXPECT_TRUE(explicit_del) << explicit_del.error().message();
}

TEST_F(CniRealPluginTest, DelAfterTheNetnsIsGoneStillFreesTheAddress) {
  NetworkList list = load();
  Cni cni(config_);
  auto result = cni.add(list, attachment_);
  ASSERT_TRUE(result) << result.error().message();
  ASSERT_EQ(allocations().size(), 1u);
  ASSERT_NE(nat_rules().find(container_id_), std::string::npos);

  ASSERT_EQ(run_command({"ip", "netns", "del", ns_}).exit_code, 0);
  ASSERT_FALSE(fs::exists(netns_));
  auto deleted = cni.del(network_, container_id_, "eth0", netns_);
  ASSERT_TRUE(deleted) << deleted.error().message();
  EXPECT_TRUE(allocations().empty());
  EXPECT_FALSE(fs::exists(cache_file()));
  EXPECT_EQ(nat_rules().find(container_id_), std::string::npos);
}

TEST_F(CniRealPluginTest, MissingPluginFailsAndLeavesNothing) {
  NetworkList list = load("berth-no-such-plugin");
  Cni cni(config_);
  auto result = cni.add(list, attachment_);
  ASSERT_FALSE(result);
  EXPECT_NE(
      result.error().message().find("CNI plugin 'berth-no-such-plugin' not found in /usr/lib/cni"),
      std::string::npos)
      << result.error().message();
  // bridge ran first and was undone: no address held, no cache entry.
  EXPECT_TRUE(allocations().empty());
  EXPECT_FALSE(fs::exists(cache_file()));
  EXPECT_TRUE(cni.cached().empty());
}

TEST_F(CniRealPluginTest, VersionOfBridge) {
  Cni cni(config_);
  auto versions = cni.versions("bridge");
  ASSERT_TRUE(versions) << versions.error().message();
  EXPECT_NE(std::find(versions->begin(), versions->end(), "1.0.0"), versions->end());
  EXPECT_NE(std::find(versions->begin(), versions->end(), "0.4.0"), versions->end());
}

}  // namespace
}  // namespace berth::cni
