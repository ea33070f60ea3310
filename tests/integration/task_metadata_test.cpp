// The ECS task metadata endpoint v4 from inside tasks (root, real
// containerd and CNI): awsvpc and bridge containers read their own task,
// never another's, and nothing of the endpoint outlives the task.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "fixtures/task_fixture.h"

namespace berth::testing {
namespace {

using nlohmann::json;

const std::vector<std::string> kIdle = {"sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"};

class TaskMetadataTest : public TaskTest {
 protected:
  static json idle(const std::string& name) {
    json c = busybox(name, kIdle);
    c["stopTimeout"] = 1;
    return c;
  }
  std::string cid(const json& task, const std::string& name) {
    return container(task, name)["containerdId"].get<std::string>();
  }
  // `wget` of the container's own endpoint URI plus `suffix`, from inside it.
  runtime::ExecResult fetch(const std::string& containerd_id, const std::string& suffix) {
    return exec_in(containerd_id,
                   {"sh", "-c", "wget -q -O - \"$ECS_CONTAINER_METADATA_URI_V4" + suffix + "\""});
  }
  // A server on port 80 of every address, as most web containers are: the
  // endpoint's listener in the same namespace must leave port 80 free.
  static json web(const std::string& name) {
    json c = busybox(name, {"httpd", "-f", "-p", "80", "-h", "/etc"});
    c["stopTimeout"] = 1;
    return c;
  }
  std::string uri_of(const std::string& containerd_id) {
    auto env = exec_in(containerd_id, {"sh", "-c", "echo -n $ECS_CONTAINER_METADATA_URI_V4"});
    return env.output;
  }
  double listeners() {
    auto info = berthd_->ctl({"-o", "json", "node", "info"});
    auto address = json::parse(info.out).value("metricsAddress", "");
    auto page = run_command({"curl", "-sS", "http://" + address + "/metrics"}).out;
    auto at = page.find("\nberth_task_metadata_listeners ");
    return at == std::string::npos ? -1 : std::stod(page.substr(at + 31));
  }
};

TEST_F(TaskMetadataTest, AwsvpcAndBridgeContainersReadTheirOwnTaskOnly) {
  std::string a = run({{"family", "meta-awsvpc"},
                       {"networkMode", "awsvpc"},
                       {"cpu", "256"},
                       {"memory", "128"},
                       {"containerDefinitions", {idle("app"), web("side")}}});
  std::string b = run({{"family", "meta-bridge"},
                       {"networkMode", "bridge"},
                       {"containerDefinitions", {idle("web")}}});
  json task_a = wait_status(a, "RUNNING");
  json task_b = wait_status(b, "RUNNING");

  // The web server has port 80 (it would have exited otherwise).
  runtime::ExecResult served;
  for (int attempt = 0; attempt < 50; ++attempt) {
    served = exec_in(cid(task_a, "app"), {"wget", "-q", "-O", "-", "http://127.0.0.1/hostname"});
    if (served.exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(served.exit_code, 0) << served.output;

  // awsvpc: the task, with its family and both containers.
  auto got = fetch(cid(task_a, "app"), "/task");
  ASSERT_EQ(got.exit_code, 0) << got.output << berthd_->log_text();
  json t = json::parse(got.output);
  EXPECT_EQ(t["Family"], "meta-awsvpc");
  EXPECT_EQ(t["KnownStatus"], "RUNNING");
  EXPECT_EQ(t["Cluster"], "default");
  EXPECT_NE(t["TaskARN"].get<std::string>().find(a), std::string::npos);
  EXPECT_EQ(t["Limits"]["CPU"], 0.25);
  EXPECT_EQ(t["Limits"]["Memory"], 128);
  ASSERT_EQ(t["Containers"].size(), 2u);
  // The container's own record, with its network.
  got = fetch(cid(task_a, "app"), "");
  ASSERT_EQ(got.exit_code, 0) << got.output;
  json c = json::parse(got.output);
  EXPECT_EQ(c["Name"], "app");
  EXPECT_EQ(c["DockerId"], cid(task_a, "app"));
  EXPECT_EQ(c["Networks"][0]["NetworkMode"], "awsvpc");
  EXPECT_EQ(c["Networks"][0]["IPv4Addresses"][0], task_a["addresses"][0]);
  // Stats in docker's shape, per container.
  got = fetch(cid(task_a, "side"), "/task/stats");
  ASSERT_EQ(got.exit_code, 0) << got.output;
  json stats = json::parse(got.output);
  ASSERT_TRUE(stats.contains(cid(task_a, "app"))) << stats.dump(2);
  EXPECT_GT(stats[cid(task_a, "app")]["memory_stats"]["usage"].get<uint64_t>(), 0u);
  EXPECT_TRUE(stats[cid(task_a, "side")]["networks"].contains("eth0")) << stats.dump(2);
  got = fetch(cid(task_a, "side"), "/stats");
  ASSERT_EQ(got.exit_code, 0) << got.output;
  EXPECT_TRUE(json::parse(got.output)["cpu_stats"].contains("cpu_usage"));

  // bridge: the container's own namespace has its endpoint too.
  got = fetch(cid(task_b, "web"), "/task");
  ASSERT_EQ(got.exit_code, 0) << got.output;
  EXPECT_EQ(json::parse(got.output)["Family"], "meta-bridge");

  // Another task's id is unknown here: 404, with a JSON error.
  std::string other = uri_of(cid(task_b, "web"));
  ASSERT_TRUE(other.starts_with("http://169.254.170.2:51679/v4/")) << other;
  auto refused =
      exec_in(cid(task_a, "app"), {"sh", "-c", "wget -S -q -O - '" + other + "/task' 2>&1; true"});
  EXPECT_NE(refused.output.find("404"), std::string::npos) << refused.output;
  // A made-up id and a malformed path: 404 too.
  for (const std::string& path : {std::string("/v4/0123456789abcdef/task"), std::string("/v4"),
                                  std::string("/nothing/at/all")}) {
    auto bad = exec_in(
        cid(task_a, "app"),
        {"sh", "-c", "wget -S -q -O - 'http://169.254.170.2:51679" + path + "' 2>&1; true"});
    EXPECT_NE(bad.output.find("404"), std::string::npos) << path << ": " << bad.output;
  }
  // Nothing of it on the host: no address, no route, no rule.
  auto host_addresses = run_command({"ip", "-o", "addr"}).out;
  EXPECT_EQ(host_addresses.find("169.254.170.2"), std::string::npos) << host_addresses;
  auto nat = run_command({"iptables-save", "-t", "nat"}).out;
  EXPECT_EQ(nat.find("169.254.170.2"), std::string::npos);
  EXPECT_EQ(listeners(), 2);  // the awsvpc task's namespace, the bridge container's

  // Adopted by a restarted berthd: served again.
  berthd_->kill(SIGKILL);
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  got = fetch(cid(task_a, "app"), "/task");
  ASSERT_EQ(got.exit_code, 0) << got.output << berthd_->log_text();
  EXPECT_EQ(json::parse(got.output)["Family"], "meta-awsvpc");

  for (const auto& id : {a, b}) {
    berthd_->ctl({"stop", id});
    wait_status(id, "STOPPED");
  }
  // The listeners went with the tasks (their namespaces with them).
  for (int i = 0; i < 50 && listeners() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(listeners(), 0);
}

}  // namespace
}  // namespace berth::testing
