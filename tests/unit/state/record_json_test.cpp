// The checkpoint format: every field survives a round trip, version 1
// files (berth before the engine's reshape) are converted, and a damaged
// record is an error that says what is wrong.
#include "agent/state/record_json.h"

#include <gtest/gtest.h>

namespace berth::agent {
namespace {

TaskDefinition two_containers(PidMode pid_mode = PidMode::kDefault) {
  TaskDefinition d;
  d.family = "fam";
  d.pid_mode = pid_mode;
  for (const char* name : {"a", "b"}) {
    ContainerDefinition c;
    c.name = name;
    c.image = "busybox";
    d.containers.push_back(c);
  }
  return d;
}

TEST(RecordJson, EveryFieldRoundTrips) {
  auto task = new_task("0123456789ab", "web", R"({"family":"fam"})", two_containers(PidMode::kTask),
                       123, NetworkMode::kAwsvpc);
  task.desired = TaskStatus::kStopped;
  task.stop_code = "UserInitiated";
  task.foreground = true;
  task.remove_on_exit = true;
  task.network_resource->phase = Phase::kReady;
  task.network = NetworkAttachment{"/run/berth/netns/t9", "eth0", {"10.213.0.5", "fd00::5"},
                                   "10.213.0.1",          "eth5", {{80, 49153, "tcp"}}};
  task.eni = "eth5";
  task.cgroup.phase = Phase::kCreating;
  task.sandbox->phase = Phase::kReleased;
  task.sandbox->reason = "gone";
  task.sandbox_pid = 77;
  auto& c = task.containers[0];
  c.status = TaskStatus::kRunning;
  c.pid = 4242;
  c.exit_code = 3;
  c.health = Health::kHealthy;
  c.restart_pending = true;
  c.image_resource.phase = Phase::kReady;
  c.image_digest = "sha256:1";
  c.runtime.phase = Phase::kReady;
  auto back = task_from_json(to_json(task));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(to_json(*back), to_json(task));
  EXPECT_EQ(back->network_mode, NetworkMode::kAwsvpc);
  EXPECT_EQ(back->network->addresses[1], "fd00::5");
  EXPECT_EQ(back->network->ports[0].host_port, 49153U);
  EXPECT_EQ(back->sandbox->reason, "gone");
  EXPECT_EQ(back->cgroup.phase, Phase::kCreating);
  EXPECT_TRUE(back->containers[0].restart_pending);
  EXPECT_FALSE(back->containers[1].exit_code.has_value());
  EXPECT_TRUE(back->foreground);
  EXPECT_EQ(to_json(task)["version"], 2);
}

TEST(RecordJson, BridgeContainerNetworksRoundTrip) {
  auto task = new_task("0123456789ab", "", "{}", two_containers(), 1, NetworkMode::kBridge);
  ASSERT_TRUE(task.containers[1].network_resource);
  EXPECT_FALSE(task.network_resource);
  task.containers[1].network_resource->phase = Phase::kReady;
  task.containers[1].network = NetworkAttachment{"/ns", "eth0", {"10.0.0.9"}};
  auto back = task_from_json(to_json(task));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->containers[1].network->addresses[0], "10.0.0.9");
  EXPECT_EQ(back->containers[1].network_resource->phase, Phase::kReady);
}

// A running awsvpc task and a task stopping in bridge mode as berth wrote
// them before version 2.
TEST(RecordJson, VersionOneRecordsAreConverted) {
  auto v1 = nlohmann::json::parse(R"({
    "id": "aaaaaaaaaaaa", "name": "web", "family": "web", "definition": "{}",
    "desired": "RUNNING", "known": "RUNNING", "createdAt": 5, "networkMode": "awsvpc",
    "network": {"known": "RUNNING", "creating": false, "removed": false,
                "netns": "/run/berth/netns/aaaaaaaaaaaa", "interface": "eth0",
                "addresses": ["10.0.0.5"], "gateway": "", "eni": "", "ports": [], "reason": ""},
    "sandbox": {"containerdId": "aaaaaaaaaaaa.sandbox", "known": "RUNNING", "pid": 9,
                "creating": false, "removed": false, "reason": ""},
    "cgroupRemoved": false,
    "containers": [
      {"name": "a", "containerdId": "aaaaaaaaaaaa-a", "image": "busybox",
       "imageDigest": "sha256:1", "known": "RUNNING", "pid": 10, "startedAt": 6,
       "creating": false, "removed": false},
      {"name": "b", "containerdId": "aaaaaaaaaaaa-b", "image": "busybox",
       "imageDigest": "", "known": "PENDING", "creating": false, "removed": false}
    ]})");
  auto task = task_from_json(v1);
  ASSERT_TRUE(task) << task.error().message();
  EXPECT_EQ(task->network_resource->phase, Phase::kReady);
  EXPECT_EQ(task->network->addresses[0], "10.0.0.5");
  EXPECT_EQ(task->cgroup.phase, Phase::kReady);
  EXPECT_EQ(task->sandbox->phase, Phase::kReady);
  EXPECT_EQ(task->sandbox_pid, 9u);
  EXPECT_EQ(task->containers[0].runtime.phase, Phase::kReady);
  EXPECT_EQ(task->containers[0].image_resource.phase, Phase::kReady);
  EXPECT_EQ(task->containers[0].pid, 10u);
  EXPECT_EQ(task->containers[1].runtime.phase, Phase::kPending);
  EXPECT_EQ(task->containers[1].image_resource.phase, Phase::kPending);

  auto stopping = nlohmann::json::parse(R"({
    "id": "bbbbbbbbbbbb", "name": "b", "family": "b", "definition": "{}",
    "desired": "STOPPED", "known": "RUNNING", "networkMode": "bridge", "cgroupRemoved": false,
    "containers": [
      {"name": "a", "containerdId": "bbbbbbbbbbbb-a", "image": "busybox", "imageDigest": "d",
       "known": "STOPPED", "exitCode": 143, "startedAt": 3, "creating": false, "removed": false,
       "network": {"known": "RUNNING", "netns": "/ns", "addresses": ["10.0.0.2"], "ports": []}}
    ]})");
  auto b = task_from_json(stopping);
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->containers[0].runtime.phase, Phase::kReady) << "still to be removed";
  EXPECT_EQ(b->containers[0].network_resource->phase, Phase::kReady);
  EXPECT_EQ(b->containers[0].exit_code, 143);
}

TEST(RecordJson, ADamagedRecordIsAnErrorThatSaysWhat) {
  auto missing = task_from_json(nlohmann::json{{"version", 2}, {"id", 3}});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("task record"), std::string::npos);
  EXPECT_EQ(missing.error().code(), ErrorCode::kDataLoss);
  auto bad_enum =
      to_json(new_task("0123456789ab", "", "{}", two_containers(), 1, NetworkMode::kNone));
  bad_enum["known"] = "SLEEPING";
  auto bad = task_from_json(bad_enum);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("known: unknown value 'SLEEPING'"), std::string::npos)
      << bad.error().message();
  auto newer = task_from_json(nlohmann::json{{"version", 9}});
  ASSERT_FALSE(newer);
  EXPECT_NE(newer.error().message().find("newer"), std::string::npos);
  EXPECT_FALSE(task_from_json(nlohmann::json::array()));
}

}  // namespace
}  // namespace berth::agent
