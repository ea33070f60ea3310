// A fleet: berthd nodes register with a real etcd (TLS, auth), take the
// tasks `berthctl cluster run` places on them, and write their status back.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "fixtures/fleet_fixture.h"

namespace berth::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

TEST_F(FleetTest, NodesRegisterTakePlacedTasksAndAreAdoptedAfterAKill) {
  for (const char* name : {"node-a", "node-b", "node-c"}) {
    start_node(name, {"--node-attribute", "rack=r1"});
  }
  ASSERT_TRUE(await_keys(
      key("nodes/"), [](const Keys& k) { return k.size() == 3; }, 15s));
  auto nodes = cluster({"nodes", "-o", "json"});
  ASSERT_EQ(nodes.exit_code, 0) << nodes.err;
  auto listed = json::parse(nodes.out);
  ASSERT_EQ(listed.size(), 3u);
  for (const auto& node : listed) {
    EXPECT_EQ(node["status"], "READY") << node.dump();
    EXPECT_EQ(node["record"]["attributes"]["rack"], "r1");
    EXPECT_EQ(node["record"]["version"], "0.1.0");
    EXPECT_GT(node["record"]["allocatable"]["cpu"].get<int>(), 0);
  }
  auto table = cluster({"nodes"});
  EXPECT_NE(table.out.find("NAME"), std::string::npos);
  EXPECT_NE(table.out.find("node-b"), std::string::npos);
  // The node's /metrics and introspection say it is registered.
  {
    auto info = nodes_["node-a"]->ctl({"-o", "json", "node", "info"});
    ASSERT_EQ(info.exit_code, 0) << info.err;
    auto addresses = json::parse(info.out);
    auto page = run_command(
        {"curl", "-sS", "http://" + addresses["metricsAddress"].get<std::string>() + "/metrics"});
    EXPECT_NE(page.out.find("\nberth_controlplane_registered{endpoint=\""), std::string::npos)
        << page.out;
    auto registered = page.out.find("\nberth_controlplane_registered{");
    ASSERT_NE(registered, std::string::npos) << page.out;
    std::string line =
        page.out.substr(registered + 1, page.out.find('\n', registered + 1) - registered - 1);
    EXPECT_TRUE(line.ends_with("} 1")) << line;
    EXPECT_NE(page.out.find("\nberth_controlplane_sessions_total 1\n"), std::string::npos);
    auto metadata = run_command(
        {"curl", "-sS",
         "http://" + addresses["introspectionAddress"].get<std::string>() + "/v1/metadata"});
    auto m = json::parse(metadata.out, nullptr, false);
    EXPECT_EQ(m["ControlPlane"]["Registered"], true) << metadata.out;
  }

  // 20 tasks, placed by 4 clients at once.
  std::vector<std::string> names;
  for (int i = 0; i < 20; ++i) names.push_back("t" + std::to_string(i));
  std::mutex mu;
  std::string failures;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      for (int i = c; i < 20; i += 4) {
        auto placed = place(sleeper("fleet"), names[i]);
        std::lock_guard lock(mu);
        if (placed.exit_code != 0) failures += names[i] + ": " + placed.err;
      }
    });
  }
  for (auto& t : clients) t.join();
  ASSERT_EQ(failures, "");
  std::map<std::string, json> seen;
  ASSERT_TRUE(await_known(names, "RUNNING", 120s, &seen))
      << nodes_["node-a"]->log_text() << nodes_["node-b"]->log_text();
  // Spread: each node got a third of them.
  std::map<std::string, int> per_node;
  for (const auto& [name, status] : seen) ++per_node[status["node"].get<std::string>()];
  ASSERT_EQ(per_node.size(), 3u);
  for (const auto& [node, count] : per_node) {
    EXPECT_GE(count, 6) << node;
    EXPECT_LE(count, 7) << node;
  }
  EXPECT_EQ(seen["t3"]["containers"][0]["status"], "RUNNING");
  EXPECT_GT(seen["t3"]["containers"][0]["startedAt"].get<int64_t>(), 0);

  // A name is the cluster's: a second one is refused.
  auto again = place(sleeper("fleet"), "t3");
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("already on node"), std::string::npos) << again.err;

  // STOPPED stops it; its status says so.
  ASSERT_EQ(cluster({"stop", "t0"}).exit_code, 0);
  ASSERT_TRUE(await_known({"t0"}, "STOPPED", 60s, &seen));
  EXPECT_EQ(seen["t0"]["desiredStatus"], "STOPPED");
  EXPECT_EQ(seen["t0"]["stopCode"], "UserInitiated");

  // kill -9 a node: NOTREADY once its lease lapses (10 s TTL).
  std::string victim = seen["t1"]["node"];
  std::map<std::string, std::string> ids_before;
  std::map<std::string, int64_t> started_before;
  for (const auto& [name, status] : seen) {
    if (status["node"] == victim && status["knownStatus"] == "RUNNING") {
      ids_before[name] = status["taskId"];
      started_before[name] = status["startedAt"];
    }
  }
  ASSERT_FALSE(ids_before.empty());
  auto killed_at = std::chrono::steady_clock::now();
  nodes_[victim]->kill(SIGKILL);
  ASSERT_TRUE(await_keys(
      key("nodes/"), [&](const Keys& k) { return !k.contains(key("nodes/" + victim)); }, 15s));
  EXPECT_LE(std::chrono::steady_clock::now() - killed_at, 15s);
  auto after = json::parse(cluster({"nodes", "-o", "json"}).out);
  for (const auto& node : after) {
    EXPECT_EQ(node["status"], node["name"] == victim ? "NOTREADY" : "READY") << node.dump();
  }
  // Placement passes it by.
  auto placed = place(sleeper("fleet"), "late");
  ASSERT_EQ(placed.exit_code, 0) << placed.err;
  EXPECT_EQ(placed.out.find(victim), std::string::npos) << placed.out;

  // Back: it registers again and adopts its tasks (same ids, same start).
  ASSERT_TRUE(nodes_[victim]->restart()) << nodes_[victim]->log_text();
  ASSERT_TRUE(await_keys(
      key("nodes/"), [&](const Keys& k) { return k.contains(key("nodes/" + victim)); }, 15s));
  std::vector<std::string> victims;
  for (const auto& [name, id] : ids_before) victims.push_back(name);
  ASSERT_TRUE(await_known(victims, "RUNNING", 30s, &seen));
  for (const auto& [name, id] : ids_before) {
    EXPECT_EQ(seen[name]["taskId"], id) << name << " was run again, not adopted";
    EXPECT_EQ(seen[name]["startedAt"], started_before[name]) << name;
  }

  // Drain: unschedulable, and its tasks stop.
  auto drained = cluster({"drain", victim});
  ASSERT_EQ(drained.exit_code, 0) << drained.err;
  ASSERT_TRUE(await_known(victims, "STOPPED", 60s));
  auto state = json::parse(cluster({"nodes", "-o", "json"}).out);
  for (const auto& node : state) {
    if (node["name"] == victim) {
      EXPECT_FALSE(node["schedulable"].get<bool>());
    }
  }
  auto none = place(sleeper("fleet"), "on-drained", {"--node", victim});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.err.find("drained"), std::string::npos) << none.err;

  // ps and describe show what etcd holds: a task of another node runs on.
  auto ps = cluster({"ps"});
  ASSERT_EQ(ps.exit_code, 0) << ps.err;
  EXPECT_NE(ps.out.find("t19"), std::string::npos);
  std::string elsewhere;
  for (const auto& [name, status] : seen) {
    if (status["node"] != victim && status.value("knownStatus", "") == "RUNNING") elsewhere = name;
  }
  ASSERT_FALSE(elsewhere.empty());
  auto describe = cluster({"describe", elsewhere, "-o", "json"});
  ASSERT_EQ(describe.exit_code, 0) << describe.err;
  EXPECT_EQ(json::parse(describe.out)["status"]["knownStatus"], "RUNNING")
      << elsewhere << " was " << seen[elsewhere].dump() << "\nnow: " << describe.out
      << "\nnode-a:\n"
      << nodes_["node-a"]->log_text() << "\nnode-b:\n"
      << nodes_["node-b"]->log_text() << "\nnode-c:\n"
      << nodes_["node-c"]->log_text();
}

TEST_F(FleetTest, ConcurrentPlacementsNeverOvercommitANode) {
  for (const char* name : {"cap-a", "cap-b"}) start_node(name);
  ASSERT_TRUE(await_keys(
      key("nodes/"), [](const Keys& k) { return k.size() == 2; }, 15s));
  auto listed = json::parse(cluster({"nodes", "-o", "json"}).out);
  // Tasks of a third of a node's CPU: three fit on each.
  int cpu = listed[0]["record"]["allocatable"]["cpu"].get<int>() / 3;
  ASSERT_GE(cpu, 128);
  std::atomic<int> placed = 0;
  std::atomic<int> refused = 0;
  std::vector<std::thread> clients;
  for (int c = 0; c < 10; ++c) {
    clients.emplace_back([&, c] {
      auto result = place(sleeper("cap", cpu, 16), "cap" + std::to_string(c));
      if (result.exit_code == 0) {
        ++placed;
      } else if (result.err.find("no node can take") != std::string::npos) {
        ++refused;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(placed.load(), 6);
  EXPECT_EQ(refused.load(), 4);
  auto desired = etcd_client_->get(key("desired/"), true);
  ASSERT_TRUE(desired);
  std::map<std::string, int> per_node;
  for (const auto& kv : desired->kvs) {
    std::string rest = kv.key.substr(key("desired/").size());
    ++per_node[rest.substr(0, rest.find('/'))];
  }
  for (const auto& [node, count] : per_node) EXPECT_EQ(count, 3) << node;
  std::vector<std::string> names;
  for (const auto& kv : desired->kvs) names.push_back(kv.key.substr(kv.key.rfind('/') + 1));
  ASSERT_TRUE(await_known(names, "RUNNING", 60s));
}

TEST_F(FleetTest, ABadDesiredValueIsRefusedByNameAndNothingElseStops) {
  auto& node = start_node("solo");
  ASSERT_TRUE(await_keys(
      key("nodes/"), [](const Keys& k) { return k.size() == 1; }, 15s));
  ASSERT_EQ(place(sleeper("good"), "good").exit_code, 0);
  ASSERT_TRUE(await_known({"good"}, "RUNNING", 60s));
  ASSERT_TRUE(etcd_client_->put(key("desired/solo/not-json"), "{\"name\": "));
  json bad = {
      {"name", "bad-def"},
      {"desiredStatus", "RUNNING"},
      {"taskDefinition",
       {{"family", "x"},
        {"containerDefinitions", {{{"name", "c"}, {"image", "busybox"}, {"memory", -5}}}}}}};
  ASSERT_TRUE(etcd_client_->put(key("desired/solo/bad-def"), bad.dump()));
  json odd = {{"desiredStatus", "PAUSED"}, {"taskDefinition", sleeper("odd")}};
  ASSERT_TRUE(etcd_client_->put(key("desired/solo/odd"), odd.dump()));
  std::map<std::string, json> seen;
  ASSERT_TRUE(await_known({"not-json", "bad-def", "odd"}, "REFUSED", 30s, &seen));
  EXPECT_NE(seen["not-json"]["error"].get<std::string>().find("not valid JSON"), std::string::npos);
  EXPECT_NE(seen["bad-def"]["error"].get<std::string>().find("containerDefinitions[0].memory"),
            std::string::npos)
      << seen["bad-def"].dump();
  EXPECT_NE(seen["odd"]["error"].get<std::string>().find("desiredStatus"), std::string::npos);
  EXPECT_EQ(seen["good"]["knownStatus"], "RUNNING");
  EXPECT_NE(node.log_text().find("desired task 'not-json'"), std::string::npos);

  // A node's policy refusal is the task's status too.
  json privileged = sleeper("priv");
  privileged["containerDefinitions"][0]["privileged"] = true;
  ASSERT_EQ(place(privileged, "priv").exit_code, 0);
  ASSERT_TRUE(await_known({"priv"}, "REFUSED", 30s, &seen));
  EXPECT_NE(seen["priv"]["error"].get<std::string>().find("privileged"), std::string::npos);

  // The node record shows the host ports its tasks publish.
  json web = sleeper("web");
  web["networkMode"] = "bridge";
  web["containerDefinitions"][0]["portMappings"] = {{{"containerPort", 80}, {"hostPort", 0}}};
  ASSERT_EQ(place(web, "web").exit_code, 0);
  ASSERT_TRUE(await_known({"web"}, "RUNNING", 60s)) << node.log_text();
  json record;
  EXPECT_TRUE(await_keys(
      key("nodes/"),
      [&](const Keys& k) {
        auto it = k.find(key("nodes/solo"));
        if (it == k.end()) return false;
        record = json::parse(it->second, nullptr, false);
        return record.is_object() && record["hostPortsInUse"].size() == 1;
      },
      10s))
      << record.dump();
  EXPECT_EQ(record["hostPortsRemaining"], 65535 - 49153);  // the default range, less one
  EXPECT_GE(record["hostPortsInUse"][0].get<int>(), 49153);

  // Removing a task stops it and its status goes.
  ASSERT_EQ(cluster({"rm", "good"}).exit_code, 0);
  ASSERT_TRUE(await_keys(
      key("status/solo/"), [&](const Keys& k) { return !k.contains(key("status/solo/good")); },
      60s));
  auto ps = json::parse(node.ctl({"-o", "json", "ps", "-a"}).out);
  int good = 0;
  for (const auto& task : ps.value("tasks", json::array())) {
    if (task["name"] != "good") continue;
    ++good;
    EXPECT_EQ(task["status"], "STOPPED") << task.dump();
  }
  EXPECT_EQ(good, 1);
}

TEST_F(FleetTest, AnEtcdOutageTouchesNoTaskAndStatusCatchesUpOnItsReturn) {
  auto& node = start_node("island");
  ASSERT_TRUE(await_keys(
      key("nodes/"), [](const Keys& k) { return k.size() == 1; }, 15s));
  ASSERT_EQ(place(sleeper("stays"), "stays").exit_code, 0);
  ASSERT_EQ(place(sleeper("exits"), "exits").exit_code, 0);
  ASSERT_EQ(place(sleeper("removed"), "removed").exit_code, 0);
  std::map<std::string, json> before;
  ASSERT_TRUE(await_known({"stays", "exits", "removed"}, "RUNNING", 60s, &before));

  // The node misses a removal: it is down when the key goes.
  node.kill(SIGKILL);
  ASSERT_EQ(cluster({"rm", "removed"}).exit_code, 0);
  etcd_->stop_member(0, SIGKILL);
  auto outage_began = std::chrono::steady_clock::now();
  // berthd starts while etcd is away, and adopts what runs.
  ASSERT_TRUE(node.restart()) << node.log_text();
  auto ps = json::parse(node.ctl({"-o", "json", "ps"}).out);
  EXPECT_EQ(ps["tasks"].size(), 3u) << ps.dump();
  // A task exits during the outage.
  std::string exits_id = before["exits"]["taskId"];
  auto events = LineReader::spawn(node.ctl_argv({"-o", "json", "events", exits_id}));
  ASSERT_TRUE(events);
  auto killed = run_command({"ctr", "--address", env().containerd_socket(), "--namespace",
                             node.ns(), "task", "kill", "--signal", "SIGKILL", exits_id + "-main"});
  ASSERT_EQ(killed.exit_code, 0) << killed.err;
  bool stopped = false;
  while (auto line = events->next_line(30s)) {
    auto event = json::parse(*line, nullptr, false);
    if (event.value("container", "") == "" && event.value("status", "") == "STOPPED") {
      stopped = true;
      break;
    }
  }
  ::kill(events->pid(), SIGTERM);
  events->wait();
  ASSERT_TRUE(stopped) << node.log_text();
  EXPECT_NE(node.log_text().find("etcd: "), std::string::npos);

  // 30 s of outage in all: longer than the node's lease.
  std::this_thread::sleep_until(outage_began + 30s);
  ps = json::parse(node.ctl({"-o", "json", "ps"}).out);
  EXPECT_EQ(ps["tasks"].size(), 2u) << "a running task was touched: " << ps.dump();
  ASSERT_TRUE(etcd_->start_member(0));
  auto back = std::chrono::steady_clock::now();
  std::map<std::string, json> after;
  ASSERT_TRUE(await_keys(
      key("status/island/"),
      [&](const Keys& k) {
        after = statuses(k);
        return !after.contains("removed") && after.contains("exits") &&
               after["exits"]["knownStatus"] == "STOPPED";
      },
      10s))
      << node.log_text();
  auto caught_up = std::chrono::steady_clock::now() - back;
  EXPECT_LE(caught_up, 5s);
  std::cout << "status caught up "
            << std::chrono::duration_cast<std::chrono::milliseconds>(caught_up).count()
            << " ms after etcd came back\n";
  EXPECT_EQ(after["exits"]["containers"][0]["exitCode"], 137);
  EXPECT_EQ(after["stays"]["knownStatus"], "RUNNING");
  EXPECT_EQ(after["stays"]["taskId"], before["stays"]["taskId"]);
  ASSERT_TRUE(await_keys(
      key("nodes/"), [](const Keys& k) { return k.size() == 1; }, 15s));
}

}  // namespace
}  // namespace berth::testing
