// Task networking end to end (root): awsvpc, bridge, host and none modes
// through berthd, with the real CNI plugins of /usr/lib/cni, netlink and
// iptables. Test traffic goes only to loopback and to addresses inside
// namespaces the test (or its berthd) made; the fixture's leak check counts
// namespaces, CNI cache entries, IP allocations, veths and iptables rules.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "fixtures/task_fixture.h"

namespace berth::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A command that ends at once on SIGTERM, so that stops take no stopTimeout.
const std::vector<std::string> kIdle = {"sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"};

// One HTTP GET from the host, over loopback; the response body, or "" when
// nothing answered.
std::string http_get(uint16_t port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      for (ssize_t n; (n = ::read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, n);
    }
  }
  ::close(fd);
  auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// The addresses host-local holds in `dir` (one file each).
size_t allocations(const std::string& dir) {
  size_t count = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with("last_reserved_ip") && name != "lock") ++count;
  }
  return count;
}

// A veth pair that stands for an ENI: one end on the host, to be given to a
// task; the other, 10.215.0.1/24, in a namespace of the test's own (the
// "VPC"). Removed with the object.
struct FakeEni {
  explicit FakeEni(const std::string& tag) {
    std::string suffix = tag + std::to_string(::getpid() % 100000);
    eni = "eni" + suffix;
    vpc = "berth-vpc-" + suffix;
    std::string peer = "vpc" + suffix;
    ok = run_command({"ip", "netns", "add", vpc}).exit_code == 0 &&
         run_command({"ip", "link", "add", eni, "type", "veth", "peer", "name", peer, "netns", vpc})
                 .exit_code == 0 &&
         run_command({"ip", "-n", vpc, "addr", "add", "10.215.0.1/24", "dev", peer}).exit_code ==
             0 &&
         run_command({"ip", "-n", vpc, "link", "set", peer, "up"}).exit_code == 0;
  }
  ~FakeEni() {
    run_command({"ip", "netns", "del", vpc});
    run_command({"ip", "link", "del", eni});
  }
  FakeEni(const FakeEni&) = delete;
  FakeEni& operator=(const FakeEni&) = delete;
  std::string eni;
  std::string vpc;
  bool ok = false;
};

class NetworkTest : public TaskTest {
 protected:
  static json idle(const std::string& name) {
    json c = busybox(name, kIdle);
    c["stopTimeout"] = 5;
    return c;
  }
  static json web(const std::string& name, uint32_t port = 80) {
    // /etc holds the container's own hostname file: what it serves says
    // which container answered.
    json c = busybox(name, {"httpd", "-f", "-p", std::to_string(port), "-h", "/etc"});
    c["stopTimeout"] = 1;
    return c;
  }
  std::string cid(const json& task, const std::string& name) {
    return container(task, name)["containerdId"].get<std::string>();
  }
  // Polls an exec until it succeeds: a server in another container may not
  // listen yet the moment its container runs.
  runtime::ExecResult exec_until_ok(const std::string& containerd_id,
                                    const std::vector<std::string>& args) {
    runtime::ExecResult result;
    for (int attempt = 0; attempt < 50; ++attempt) {
      result = exec_in(containerd_id, args);
      if (result.exit_code == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return result;
  }
  std::string stop(const std::string& id) {
    auto result = berthd_->ctl({"stop", id});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.out;
  }
  // A plugin directory of the test's own, with `name` as an executable.
  std::string write_plugin(const std::string& name, const std::string& script) {
    std::string dir = berthd_->dir() + "/plugins";
    fs::create_directories(dir);
    std::string path = dir + "/" + name;
    {
      std::ofstream out(path);
      out << script;
    }
    ::chmod(path.c_str(), 0755);
    return dir;
  }
  // A network list in `conf_dir`: berth's bridge, with its addresses in
  // `data_dir`/<name>, then `extra` plugins.
  void write_network(const std::string& conf_dir, const std::string& data_dir,
                     const std::string& name, const json& extra_plugins) {
    // The berthd started next uses the same bridge (start_berthd_on_bridge).
    bridge_ = "bn" + std::to_string(::getpid() % 100000);
    fs::create_directories(conf_dir);
    json plugins = json::array();
    plugins.push_back({{"type", "bridge"},
                       {"bridge", bridge_},
                       {"isGateway", true},
                       {"ipMasq", true},
                       {"ipam",
                        {{"type", "host-local"},
                         {"ranges", {{{{"subnet", "10.217.0.0/24"}}}}},
                         {"dataDir", data_dir}}}});
    for (const auto& p : extra_plugins) plugins.push_back(p);
    std::ofstream out(conf_dir + "/10-" + name + ".conflist");
    out << json{{"cniVersion", "1.0.0"}, {"name", name}, {"plugins", plugins}}.dump(2);
  }
  // A berthd whose own bridge is the one write_network named.
  void start_berthd_on_bridge(std::vector<std::string> flags) {
    berthd_.reset();
    flags.insert(flags.end(), {"--bridge-name", bridge_});
    start_berthd(flags);
  }
  std::string bridge_;
};

TEST_F(NetworkTest, AwsvpcTasksHaveTheirOwnAddressesAndReachEachOther) {
  std::string a = run({{"family", "web"},
                       {"networkMode", "awsvpc"},
                       {"containerDefinitions", {web("server"), idle("side")}}});
  std::string b = run(
      {{"family", "client"}, {"networkMode", "awsvpc"}, {"containerDefinitions", {idle("main")}}});
  json task_a = wait_status(a, "RUNNING");
  json task_b = wait_status(b, "RUNNING");
  ASSERT_EQ(task_a["networkMode"], "awsvpc");
  ASSERT_FALSE(task_a.value("addresses", json::array()).empty()) << task_a.dump(2);
  ASSERT_FALSE(task_b.value("addresses", json::array()).empty()) << task_b.dump(2);
  std::string address_a = task_a["addresses"][0];
  std::string address_b = task_b["addresses"][0];
  EXPECT_NE(address_a, address_b);
  EXPECT_TRUE(address_a.starts_with(berthd_->subnet_prefix())) << address_a;
  EXPECT_EQ(task_a["interface"], "eth0");

  // B reaches A's httpd at A's own address; what answers is A's hostname.
  std::string hostname_a = "ip-" + address_a;
  std::ranges::replace(hostname_a, '.', '-');
  auto fetched = exec_until_ok(cid(task_b, "main"),
                               {"wget", "-q", "-O", "-", "http://" + address_a + "/hostname"});
  EXPECT_EQ(fetched.exit_code, 0) << fetched.output;
  EXPECT_EQ(trimmed(fetched.output), hostname_a);

  // The two containers of A share its namespace: localhost reaches the server.
  auto local =
      exec_until_ok(cid(task_a, "side"), {"wget", "-q", "-O", "-", "http://127.0.0.1/hostname"});
  EXPECT_EQ(local.exit_code, 0) << local.output;
  EXPECT_EQ(trimmed(local.output), hostname_a);

  // eth0 holds the address; /etc/hosts names it.
  auto addr = exec_in(cid(task_a, "side"), {"ip", "-o", "-4", "addr", "show", "eth0"});
  EXPECT_NE(addr.output.find(address_a + "/"), std::string::npos) << addr.output;
  auto hosts = exec_in(cid(task_a, "side"), {"cat", "/etc/hosts"});
  EXPECT_NE(hosts.output.find(address_a + "\t" + hostname_a), std::string::npos) << hosts.output;

  stop(a);
  stop(b);
  EXPECT_EQ(berthd_->leftovers(), "");
}

TEST_F(NetworkTest, BridgeTaskPublishesItsPortsAndResolvesLinks) {
  json first = web("first");
  first["portMappings"] = {{{"containerPort", 80}, {"hostPort", 0}}};
  // The same container port in a second container: each has its own namespace.
  json second = web("second");
  second["portMappings"] = {{{"containerPort", 80}}};
  json client = idle("client");
  client["links"] = {"first:www"};
  std::string id = run({{"family", "bridged"}, {"containerDefinitions", {first, second, client}}});
  json task = wait_status(id, "RUNNING");
  EXPECT_EQ(task["networkMode"], "bridge");

  std::vector<uint16_t> ports;
  for (const char* name : {"first", "second"}) {
    json c = container(task, name);
    ASSERT_EQ(c.value("ports", json::array()).size(), 1U) << c.dump(2);
    EXPECT_EQ(c["ports"][0]["containerPort"], 80);
    ports.push_back(c["ports"][0]["hostPort"].get<uint16_t>());
    EXPECT_GE(ports.back(), 49153) << "not from the host port range";
    ASSERT_FALSE(c.value("addresses", json::array()).empty()) << c.dump(2);
  }
  EXPECT_NE(ports[0], ports[1]);
  // From the host, at the port berth chose: each container answers with its
  // own hostname.
  for (size_t i = 0; i < 2; ++i) {
    std::string name = i == 0 ? "first" : "second";
    std::string body;
    for (int attempt = 0; attempt < 50 && body.empty(); ++attempt) {
      body = http_get(ports[i], "/hostname");
      if (body.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(trimmed(body), id + "-" + name) << "port " << ports[i];
  }
  // `describe` shows the chosen ports.
  auto text = berthd_->ctl({"describe", id});
  EXPECT_NE(text.out.find(std::to_string(ports[0]) + " -> 80/tcp"), std::string::npos) << text.out;

  // The link resolves through /etc/hosts to the first container's address.
  std::string first_address = container(task, "first")["addresses"][0];
  auto hosts = exec_in(cid(task, "client"), {"cat", "/etc/hosts"});
  EXPECT_NE(hosts.output.find(first_address + "\twww first"), std::string::npos) << hosts.output;
  auto linked =
      exec_until_ok(cid(task, "client"), {"wget", "-q", "-O", "-", "http://www/hostname"});
  EXPECT_EQ(trimmed(linked.output), id + "-first");

  stop(id);
  EXPECT_EQ(http_get(ports[0], "/hostname"), "") << "the port is still published";
}

TEST_F(NetworkTest, HostAndNoneModes) {
  json dns = idle("main");
  dns["dnsServers"] = {"192.0.2.53"};
  dns["dnsSearchDomains"] = {"example.test"};
  std::string none =
      run({{"family", "isolated"}, {"networkMode", "none"}, {"containerDefinitions", {dns}}});
  // disableNetworking: a namespace of the container's own with only
  // loopback, in host and bridge mode alike.
  json isolated = idle("isolated");
  isolated["disableNetworking"] = true;
  std::string host = run({{"family", "hosted"},
                          {"networkMode", "host"},
                          {"containerDefinitions", {idle("main"), isolated}}});
  std::string bridged = run({{"family", "bridged"},
                             {"networkMode", "bridge"},
                             {"containerDefinitions", {idle("main"), isolated}}});
  json none_task = wait_status(none, "RUNNING");
  json host_task = wait_status(host, "RUNNING");
  json bridged_task = wait_status(bridged, "RUNNING");

  auto interfaces = [&](const std::string& containerd_id) {
    auto dev = exec_in(containerd_id, {"cat", "/proc/net/dev"});
    std::set<std::string> names;
    std::istringstream lines(dev.output);
    for (std::string line; std::getline(lines, line);) {
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      name.erase(0, name.find_first_not_of(' '));
      names.insert(name);
    }
    return names;
  };
  EXPECT_EQ(interfaces(cid(none_task, "main")), std::set<std::string>{"lo"});
  EXPECT_EQ(interfaces(cid(bridged_task, "main")), (std::set<std::string>{"eth0", "lo"}));
  EXPECT_EQ(interfaces(cid(bridged_task, "isolated")), std::set<std::string>{"lo"});
  EXPECT_TRUE(container(bridged_task, "isolated")["addresses"].empty());
  // Its loopback is up, as Docker's --network none gives it.
  EXPECT_EQ(
      exec_in(cid(bridged_task, "isolated"), {"ping", "-c", "1", "-W", "2", "127.0.0.1"}).exit_code,
      0);
  // An interface of the test's own on the node shows in host mode. (Not the
  // node's whole list: other tests' veths come and go meanwhile.)
  std::string own = "hm" + std::to_string(::getpid() % 100000);
  ASSERT_EQ(
      run_command({"ip", "link", "add", own, "type", "veth", "peer", "name", own + "p"}).exit_code,
      0);
  std::set<std::string> in_host_task = interfaces(cid(host_task, "main"));
  std::set<std::string> in_none_task = interfaces(cid(none_task, "main"));
  std::set<std::string> in_isolated = interfaces(cid(host_task, "isolated"));
  run_command({"ip", "link", "del", own});
  EXPECT_TRUE(in_host_task.contains(own)) << "the node's interface is missing in host mode";
  EXPECT_EQ(in_isolated, std::set<std::string>{"lo"});
  EXPECT_TRUE(in_host_task.contains("lo"));
  EXPECT_FALSE(in_none_task.contains(own));
  auto resolv = exec_in(cid(none_task, "main"), {"cat", "/etc/resolv.conf"});
  EXPECT_EQ(resolv.output, "nameserver 192.0.2.53\nsearch example.test\n");
  stop(none);
  stop(host);
  stop(bridged);
}

TEST_F(NetworkTest, EniStyleInterfaceIsTheTasksEth0AndReturnsToTheHost) {
  FakeEni fake("a");
  ASSERT_TRUE(fake.ok);
  const std::string& eni = fake.eni;
  std::string mac_before = trimmed(run_command({"cat", "/sys/class/net/" + eni + "/address"}).out);

  std::string id = run({{"family", "eni"},
                        {"networkMode", "awsvpc"},
                        {"tags",
                         {{{"key", "berth:eni"}, {"value", eni}},
                          {{"key", "berth:eni-addresses"}, {"value", "10.215.0.2/24"}},
                          {{"key", "berth:eni-gateway"}, {"value", "10.215.0.1"}}}},
                        {"containerDefinitions", {idle("main")}}});
  json task = wait_status(id, "RUNNING");
  EXPECT_EQ(task["eni"], eni);
  EXPECT_EQ(task["addresses"], json::array({"10.215.0.2"}));
  EXPECT_FALSE(fs::exists("/sys/class/net/" + eni)) << "the interface is still on the host";

  auto link = exec_in(cid(task, "main"), {"ip", "-o", "addr", "show", "eth0"});
  EXPECT_NE(link.output.find("10.215.0.2/24"), std::string::npos) << link.output;
  auto ping = exec_until_ok(cid(task, "main"), {"ping", "-c", "1", "-W", "2", "10.215.0.1"});
  EXPECT_EQ(ping.exit_code, 0) << ping.output;
  auto route = exec_in(cid(task, "main"), {"ip", "route", "show", "default"});
  EXPECT_NE(route.output.find("via 10.215.0.1"), std::string::npos) << route.output;

  // A second task cannot take the same interface.
  std::string path = berthd_->root() + "/../eni2.json";
  {
    std::ofstream out(path);
    out << json{{"family", "eni2"},
                {"networkMode", "awsvpc"},
                {"tags", {{{"key", "berth:eni"}, {"value", eni}}}},
                {"containerDefinitions", {idle("main")}}}
               .dump();
  }
  auto refused = berthd_->ctl({"run", "-f", path});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("RESOURCE:ENI"), std::string::npos) << refused.err;
  // Nor a task of another mode.
  {
    std::ofstream out(path);
    out << json{{"family", "eni3"},
                {"tags", {{{"key", "berth:eni"}, {"value", eni}}}},
                {"containerDefinitions", {idle("main")}}}
               .dump();
  }
  refused = berthd_->ctl({"run", "-f", path});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("tags.berth:eni: an ENI is for awsvpc tasks, not bridge"),
            std::string::npos)
      << refused.err;

  stop(id);
  ASSERT_TRUE(fs::exists("/sys/class/net/" + eni)) << "the interface did not come back";
  EXPECT_EQ(trimmed(run_command({"cat", "/sys/class/net/" + eni + "/address"}).out), mac_before);
}

TEST_F(NetworkTest, EniPoolGivesEachAwsvpcTaskItsOwnInterface) {
  FakeEni fake("p");
  ASSERT_TRUE(fake.ok);
  berthd_.reset();
  start_berthd({"--eni", fake.eni + "=10.215.0.3/24@10.215.0.1"});
  json definition = {
      {"family", "pooled"}, {"networkMode", "awsvpc"}, {"containerDefinitions", {idle("main")}}};
  std::string id = run(definition);
  json task = wait_status(id, "RUNNING");
  EXPECT_EQ(task["eni"], fake.eni);
  EXPECT_EQ(task["addresses"], json::array({"10.215.0.3"}));
  auto ping = exec_until_ok(cid(task, "main"), {"ping", "-c", "1", "-W", "2", "10.215.0.1"});
  EXPECT_EQ(ping.exit_code, 0) << ping.output;
  // The pool has one interface: a second task is refused, not started.
  std::string path = berthd_->root() + "/../pooled.json";
  {
    std::ofstream out(path);
    out << definition.dump();
  }
  auto refused = berthd_->ctl({"run", "-f", path});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("RESOURCE:ENI: every interface of the node's ENI pool is in use"),
            std::string::npos)
      << refused.err;
  stop(id);
  EXPECT_TRUE(fs::exists("/sys/class/net/" + fake.eni));
  // Once it is back, the next task takes it.
  std::string next = run(definition);
  EXPECT_EQ(wait_status(next, "RUNNING")["eni"], fake.eni);
  stop(next);
}

TEST_F(NetworkTest, AFailingCniPluginStopsTheTaskWithItsMessageAndLeavesNothing) {
  // After the bridge plugin has taken an address, a plugin fails with a
  // CNI error: the task stops with its message, and the address, the veth
  // and the namespace are gone.
  std::string plugins =
      write_plugin("berth-test-fail",
                   "#!/bin/sh\n"
                   "cat >/dev/null\n"
                   "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
                   "  echo '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"test pool exhausted\","
                   "\"details\":\"no lease for this task\"}'\n"
                   "  exit 1\n"
                   "fi\n"
                   "exit 0\n");
  std::string conf = berthd_->dir() + "/cni-fail";
  std::string data = berthd_->dir() + "/addresses";
  write_network(conf, data, "failnet", json::array({{{"type", "berth-test-fail"}}}));
  start_berthd_on_bridge({"--cni-conf-dir", conf, "--cni-plugin-dir", plugins, "--cni-plugin-dir",
                          "/usr/lib/cni", "--awsvpc-network", "failnet"});
  std::string id = run(
      {{"family", "failing"}, {"networkMode", "awsvpc"}, {"containerDefinitions", {idle("main")}}});
  json task = wait_status(id, "STOPPED");
  EXPECT_EQ(task["stopCode"], "TaskFailedToStart");
  std::string reason = task.value("stoppedReason", "");
  EXPECT_NE(reason.find("test pool exhausted"), std::string::npos) << reason;
  EXPECT_NE(reason.find("berth-test-fail"), std::string::npos) << reason;
  EXPECT_EQ(container(task, "main")["status"], "STOPPED");
  EXPECT_TRUE(fs::exists(data + "/failnet")) << "the bridge plugin never ran";
  EXPECT_EQ(allocations(data + "/failnet"), 0U) << "the address was not released";
  EXPECT_EQ(berthd_->leftovers(), "");
}

TEST_F(NetworkTest, HundredAwsvpcStartStopCyclesLeaveNothingBehind) {
  auto before = Berthd::cni_rules();
  constexpr int kBatches = 10;
  constexpr int kPerBatch = 10;
  std::set<std::string> addresses_seen;
  for (int batch = 0; batch < kBatches; ++batch) {
    std::vector<std::string> ids;
    for (int i = 0; i < kPerBatch; ++i) {
      ids.push_back(run({{"family", "cycle"},
                         {"networkMode", "awsvpc"},
                         {"containerDefinitions", {idle("main")}}}));
    }
    std::set<std::string> addresses;
    for (const auto& id : ids) {
      json task = wait_status(id, "RUNNING");
      ASSERT_FALSE(task.value("addresses", json::array()).empty()) << task.dump(2);
      addresses.insert(task["addresses"][0].get<std::string>());
    }
    EXPECT_EQ(addresses.size(), ids.size()) << "two running tasks share an address";
    addresses_seen.insert(addresses.begin(), addresses.end());
    for (const auto& id : ids) ASSERT_EQ(berthd_->ctl({"stop", "--no-wait", id}).exit_code, 0);
    for (const auto& id : ids) wait_status(id, "STOPPED");
    ASSERT_EQ(berthd_->leftovers(), "") << "after batch " << batch;
    for (const auto& id : ids) berthd_->ctl({"rm", id});
  }
  EXPECT_EQ(Berthd::cni_rules(), before);
}

TEST_F(NetworkTest, NetworksOfTasksBerthNoLongerHasAreTornDownAtStart) {
  std::string id = run({{"family", "forgotten"},
                        {"networkMode", "awsvpc"},
                        {"containerDefinitions", {idle("main")}}});
  json task = wait_status(id, "RUNNING");
  ASSERT_FALSE(task.value("addresses", json::array()).empty());
  berthd_->kill(SIGKILL);
  // The checkpoint is lost: the task's namespace, address, veth and CNI
  // cache entry are nobody's now.
  fs::remove(berthd_->root() + "/tasks/" + id + ".json");
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  EXPECT_EQ(berthd_->leftovers(), "");
  EXPECT_NE(berthd_->log_text().find("tearing down the network of '" + id + "'"),
            std::string::npos);
}

TEST_F(NetworkTest, KillNineInTheMiddleOfTaskNetworkingIsRolledBackOnRestart) {
  // A plugin after the bridge holds the ADD (and later the DEL) long enough
  // for berthd to be killed in the middle of it.
  std::string marks = berthd_->dir() + "/marks";
  fs::create_directories(marks);
  std::string plugins = write_plugin(
      "berth-test-slow",
      "#!/usr/bin/python3\n"
      "import json, os, sys, time\n"
      "conf = json.load(sys.stdin)\n"
      "command = os.environ['CNI_COMMAND']\n"
      "with open('" +
          marks +
          "/log', 'a') as log:\n"
          "    log.write(command + '\\n')\n"
          "if command in ('ADD', 'DEL') and not os.path.exists('" +
          marks +
          "/fast'):\n"
          "    time.sleep(3)\n"
          "if command == 'ADD':\n"
          "    print(json.dumps(conf['prevResult']))\n"
          "elif command == 'VERSION':\n"
          "    print(json.dumps({'cniVersion': '1.0.0', 'supportedVersions': ['1.0.0']}))\n");
  std::string conf = berthd_->dir() + "/cni-slow";
  std::string data = berthd_->dir() + "/addresses";
  write_network(conf, data, "slownet", json::array({{{"type", "berth-test-slow"}}}));
  start_berthd_on_bridge({"--cni-conf-dir", conf, "--cni-plugin-dir", plugins, "--cni-plugin-dir",
                          "/usr/lib/cni", "--awsvpc-network", "slownet"});

  { std::ofstream(marks + "/log").flush(); }  // watched for the plugin's writes
  std::string id = run(
      {{"family", "crashy"}, {"networkMode", "awsvpc"}, {"containerDefinitions", {idle("main")}}});
  ASSERT_TRUE(wait_for_file_content(marks + "/log", "ADD", std::chrono::seconds(30)));
  berthd_->kill(SIGKILL);  // the bridge has an address and a veth; the chain is not done
  { std::ofstream(marks + "/fast").flush(); }
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  json task = wait_status(id, "RUNNING");
  ASSERT_FALSE(task.value("addresses", json::array()).empty());
  // One namespace, one address, one veth: the interrupted attempt was undone.
  EXPECT_EQ(allocations(berthd_->dir() + "/state/netns"), 1U);
  EXPECT_EQ(allocations(data + "/slownet"), 1U);
  auto veths = run_command({"ip", "-o", "link", "show", "master", berthd_->bridge()});
  EXPECT_EQ(std::count(veths.out.begin(), veths.out.end(), '\n'), 1) << veths.out;

  // Now a kill in the middle of the teardown.
  fs::remove(marks + "/fast");
  { std::ofstream(marks + "/log", std::ios::trunc).flush(); }
  ASSERT_EQ(berthd_->ctl({"stop", "--no-wait", id}).exit_code, 0);
  ASSERT_TRUE(wait_for_file_content(marks + "/log", "DEL", std::chrono::seconds(30)));
  berthd_->kill(SIGKILL);
  { std::ofstream(marks + "/fast").flush(); }
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  wait_status(id, "STOPPED");
  EXPECT_EQ(berthd_->leftovers(), "");
  EXPECT_EQ(allocations(data + "/slownet"), 0U) << "an IP allocation is left";
}

}  // namespace
}  // namespace berth::testing
