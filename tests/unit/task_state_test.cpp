// The reconciler's decisions, without containerd: plan_task, record_exit,
// record_health, task_health and the checkpoint format.
#include "agent/task_state.h"

#include <gtest/gtest.h>

namespace berth::agent {
namespace {

ContainerDefinition container(std::string name, bool essential = true) {
  ContainerDefinition c;
  c.name = std::move(name);
  c.image = "busybox";
  c.essential = essential;
  return c;
}

TaskDefinition definition(std::vector<ContainerDefinition> containers) {
  TaskDefinition d;
  d.family = "fam";
  d.containers = std::move(containers);
  return d;
}

std::vector<Action::Kind> kinds(const Plan& plan) {
  std::vector<Action::Kind> out;
  for (const auto& a : plan.actions) out.push_back(a.kind);
  return out;
}

class PlanTest : public ::testing::Test {
 protected:
  void make(std::vector<ContainerDefinition> containers) {
    def_ = definition(std::move(containers));
    task_ = new_task("t1", "", "{}", def_, 1000);
    busy_.assign(def_.containers.size(), false);
  }
  Plan plan(int64_t now) { return plan_task(task_, def_, busy_, now); }
  void set(size_t i, TaskStatus status, int64_t started = 0) {
    task_.containers[i].known = status;
    task_.containers[i].started_at_ms = started;
  }
  TaskDefinition def_;
  TaskRecord task_;
  std::vector<bool> busy_;
};

TEST_F(PlanTest, NewTaskPullsEveryContainerAtOnce) {
  make({container("a"), container("b")});
  Plan p = plan(1000);
  ASSERT_EQ(p.actions.size(), 2u);
  EXPECT_EQ(p.actions[0].kind, Action::Kind::kPull);
  EXPECT_EQ(p.actions[1].kind, Action::Kind::kPull);
  EXPECT_EQ(task_.known, TaskStatus::kPending);
  EXPECT_EQ(task_.name, "fam");
  EXPECT_EQ(task_.containers[1].containerd_id, "t1-b");
}

TEST_F(PlanTest, BusyContainersGetNoSecondAction) {
  make({container("a")});
  busy_[0] = true;
  EXPECT_TRUE(plan(1000).actions.empty());
}

TEST_F(PlanTest, StartWaitsForDependencyStart) {
  auto b = container("b");
  b.depends_on = {{"a", DependencyCondition::kStart}};
  make({container("a"), b});
  set(0, TaskStatus::kPulled);
  set(1, TaskStatus::kPulled);
  Plan p = plan(2000);
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].kind, Action::Kind::kStart);
  EXPECT_EQ(p.actions[0].container, 0u);
  set(0, TaskStatus::kRunning, 2100);
  p = plan(2200);
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].container, 1u);
}

TEST_F(PlanTest, CompleteAndSuccessWaitForTheExit) {
  auto b = container("b");
  b.depends_on = {{"init", DependencyCondition::kSuccess}};
  auto c = container("c");
  c.depends_on = {{"init", DependencyCondition::kComplete}};
  make({container("init", false), b, c});
  set(0, TaskStatus::kRunning, 1500);
  set(1, TaskStatus::kPulled);
  set(2, TaskStatus::kPulled);
  EXPECT_TRUE(plan(2000).actions.empty());
  record_exit(task_, def_, 0, 0, false, 2500);
  Plan p = plan(2600);
  EXPECT_EQ(kinds(p), (std::vector{Action::Kind::kStart, Action::Kind::kStart}));
}

TEST_F(PlanTest, SuccessFailsTheTaskOnANonZeroExit) {
  auto b = container("b");
  b.depends_on = {{"init", DependencyCondition::kSuccess}};
  make({container("init", false), b});
  set(0, TaskStatus::kRunning, 1500);
  set(1, TaskStatus::kPulled);
  record_exit(task_, def_, 0, 3, false, 2500);
  plan(2600);
  EXPECT_EQ(task_.desired, TaskStatus::kStopped);
  EXPECT_EQ(task_.stop_code, "TaskFailedToStart");
  EXPECT_NE(task_.stopped_reason.find("exited with 3"), std::string::npos) << task_.stopped_reason;
  // The container that never started is stopped without touching the host.
  EXPECT_EQ(task_.containers[1].known, TaskStatus::kStopped);
}

TEST_F(PlanTest, HealthyWaitsForTheHealthCheck) {
  auto server = container("server");
  server.health_check = HealthCheck{{"CMD", "true"}};
  auto client = container("client");
  client.depends_on = {{"server", DependencyCondition::kHealthy}};
  make({server, client});
  set(0, TaskStatus::kRunning, 1500);
  set(1, TaskStatus::kPulled);
  EXPECT_TRUE(plan(2000).actions.empty());
  record_health(task_.containers[0], *server.health_check, true, "ok", 2100);
  Plan p = plan(2200);
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].container, 1u);
}

TEST_F(PlanTest, StartTimeoutStopsTheTask) {
  auto b = container("b");
  b.depends_on = {{"a", DependencyCondition::kComplete}};
  b.start_timeout_seconds = 5;
  make({container("a"), b});
  set(0, TaskStatus::kRunning, 1500);
  set(1, TaskStatus::kPulled);
  task_.containers[1].pulled_at_ms = 2000;
  Plan p = plan(3000);
  EXPECT_EQ(p.wake_at_ms, 7000);
  EXPECT_EQ(task_.desired, TaskStatus::kRunning);
  p = plan(7000);
  EXPECT_EQ(task_.desired, TaskStatus::kStopped);
  EXPECT_NE(task_.stopped_reason.find("startTimeout"), std::string::npos);
  // Stopping: the running container gets SIGTERM.
  EXPECT_EQ(kinds(p), (std::vector{Action::Kind::kSignal}));
}

TEST_F(PlanTest, EssentialExitStopsTheOthersWithSigtermThenSigkill) {
  auto side = container("side", false);
  side.stop_timeout_seconds = 2;
  make({container("main"), side});
  set(0, TaskStatus::kRunning, 1000);
  set(1, TaskStatus::kRunning, 1000);
  EXPECT_FALSE(record_exit(task_, def_, 0, 1, false, 5000));
  Plan p = plan(5000);
  EXPECT_EQ(task_.stop_code, "EssentialContainerExited");
  EXPECT_EQ(task_.stopped_reason, "Essential container in task exited");
  EXPECT_EQ(kinds(p), (std::vector{Action::Kind::kRemove, Action::Kind::kSignal}));
  EXPECT_EQ(p.wake_at_ms, 7000);
  busy_ = {true, false};  // the remove is in flight
  p = plan(6000);
  EXPECT_TRUE(p.actions.empty());
  p = plan(7000);
  EXPECT_EQ(kinds(p), (std::vector{Action::Kind::kKill}));
  p = plan(8000);
  EXPECT_TRUE(p.actions.empty()) << "SIGKILL is sent once";
}

TEST_F(PlanTest, NonEssentialExitKeepsTheTaskRunning) {
  make({container("main"), container("side", false)});
  set(0, TaskStatus::kRunning, 1000);
  set(1, TaskStatus::kRunning, 1000);
  record_exit(task_, def_, 1, 0, false, 5000);
  Plan p = plan(5000);
  EXPECT_EQ(task_.desired, TaskStatus::kRunning);
  EXPECT_TRUE(p.actions.empty());
  EXPECT_EQ(task_.known, TaskStatus::kRunning);
}

TEST_F(PlanTest, DependentsStopBeforeWhatTheyDependOn) {
  auto client = container("client");
  client.depends_on = {{"server", DependencyCondition::kStart}};
  make({container("server"), client});
  set(0, TaskStatus::kRunning, 1000);
  set(1, TaskStatus::kRunning, 1100);
  request_stop(task_, "UserInitiated", "stopped by the user");
  Plan p = plan(2000);
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].container, 1u);
  record_exit(task_, def_, 1, 143, false, 2100);
  p = plan(2100);
  EXPECT_EQ(kinds(p), (std::vector{Action::Kind::kSignal, Action::Kind::kRemove}));
  EXPECT_EQ(p.actions[0].container, 0u);
}

TEST_F(PlanTest, TaskIsStoppedOnceEveryContainerIsRemoved) {
  make({container("a")});
  set(0, TaskStatus::kRunning, 1000);
  request_stop(task_, "UserInitiated", "stopped by the user");
  plan(2000);
  record_exit(task_, def_, 0, 143, false, 2100);
  Plan p = plan(2100);
  EXPECT_EQ(kinds(p), (std::vector{Action::Kind::kRemove}));
  EXPECT_EQ(task_.known, TaskStatus::kRunning);
  task_.containers[0].removed = true;
  p = plan(2200);
  EXPECT_EQ(kinds(p), (std::vector{Action::Kind::kRemoveCgroup}));
  EXPECT_EQ(task_.known, TaskStatus::kRunning) << "not before its cgroup is gone";
  // Not issued again while the removal is in flight.
  EXPECT_TRUE(
      plan_task(task_, def_, {false}, 2250, false, false, /*cgroup_busy=*/true).actions.empty());
  task_.cgroup_removed = true;
  plan(2300);
  EXPECT_EQ(task_.known, TaskStatus::kStopped);
  EXPECT_EQ(task_.stopped_at_ms, 2300);
  EXPECT_EQ(task_.stop_code, "UserInitiated");
}

TEST_F(PlanTest, FirstStopReasonWins) {
  make({container("a")});
  request_stop(task_, "EssentialContainerExited", "first");
  request_stop(task_, "UserInitiated", "second");
  EXPECT_EQ(task_.stopped_reason, "first");
}

class RestartTest : public PlanTest {
 protected:
  void SetUp() override {
    auto c = container("worker");
    c.restart_policy = RestartPolicy{true, {0, 42}, 60};
    make({c});
    set(0, TaskStatus::kRunning, 1000);
  }
};

TEST_F(RestartTest, RestartsAfterTheAttemptPeriod) {
  EXPECT_TRUE(record_exit(task_, def_, 0, 1, false, 61'000));
}

TEST_F(RestartTest, NoRestartBeforeTheAttemptPeriod) {
  EXPECT_FALSE(record_exit(task_, def_, 0, 1, false, 60'999));
}

TEST_F(RestartTest, IgnoredExitCodesAreNotRestarted) {
  EXPECT_FALSE(record_exit(task_, def_, 0, 42, false, 100'000));
  EXPECT_FALSE(record_exit(task_, def_, 0, 0, false, 100'000));
}

TEST_F(RestartTest, PeriodCountsFromTheLastRestart) {
  task_.containers[0].last_restart_at_ms = 90'000;
  EXPECT_FALSE(record_exit(task_, def_, 0, 1, false, 100'000));
  EXPECT_TRUE(record_exit(task_, def_, 0, 1, false, 150'000));
}

TEST_F(RestartTest, AStoppingTaskIsNotRestarted) {
  request_stop(task_, "UserInitiated", "stop");
  EXPECT_FALSE(record_exit(task_, def_, 0, 1, false, 100'000));
}

TEST(RecordExitTest, OomIsTheReason) {
  auto def = definition({container("a")});
  auto task = new_task("t", "", "{}", def, 0);
  task.containers[0].known = TaskStatus::kRunning;
  record_exit(task, def, 0, 137, true, 10);
  EXPECT_EQ(task.containers[0].reason, "OutOfMemoryError: Container killed due to memory usage");
  EXPECT_EQ(task.containers[0].exit_code, 137);
}

TEST(HealthTest, RetriesAndStartPeriod) {
  HealthCheck check{{"CMD-SHELL", "exit 1"}, 5, 2, 2, 10};
  ContainerRecord c;
  c.started_at_ms = 0;
  record_health(c, check, false, "no", 5'000);  // in the start period: not counted
  EXPECT_EQ(c.health, Health::kUnknown);
  EXPECT_EQ(c.health_failures, 0u);
  record_health(c, check, false, "no", 11'000);
  EXPECT_EQ(c.health, Health::kUnknown);
  record_health(c, check, false, "still no", 16'000);
  EXPECT_EQ(c.health, Health::kUnhealthy);
  EXPECT_EQ(c.health_output, "still no");
  record_health(c, check, true, "yes", 21'000);
  EXPECT_EQ(c.health, Health::kHealthy);
  EXPECT_EQ(c.health_failures, 0u);
}

TEST(HealthTest, TaskHealthFollowsEssentialContainers) {
  auto a = container("a");
  a.health_check = HealthCheck{{"CMD", "true"}};
  auto b = container("b", false);
  b.health_check = HealthCheck{{"CMD", "true"}};
  auto def = definition({a, b});
  auto task = new_task("t", "", "{}", def, 0);
  task.containers[0].known = TaskStatus::kRunning;
  EXPECT_EQ(task_health(task, def), Health::kUnknown);
  task.containers[1].health = Health::kUnhealthy;  // not essential
  EXPECT_EQ(task_health(task, def), Health::kUnknown);
  task.containers[0].health = Health::kHealthy;
  EXPECT_EQ(task_health(task, def), Health::kHealthy);
  task.containers[0].health = Health::kUnhealthy;
  EXPECT_EQ(task_health(task, def), Health::kUnhealthy);
  task.containers[0].known = TaskStatus::kStopped;
  EXPECT_EQ(task_health(task, def), Health::kUnknown);
}

TEST(CheckpointTest, RoundTrips) {
  auto def = definition({container("a"), container("b")});
  auto task = new_task("t9", "web", R"({"family":"fam"})", def, 123);
  task.desired = TaskStatus::kStopped;
  task.stop_code = "UserInitiated";
  task.containers[0].known = TaskStatus::kRunning;
  task.containers[0].pid = 4242;
  task.containers[0].exit_code = 3;
  task.containers[0].health = Health::kHealthy;
  task.containers[1].creating = true;
  task.cgroup_removed = true;
  auto back = task_from_json(to_json(task));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(to_json(*back), to_json(task));
  EXPECT_TRUE(back->cgroup_removed);
  EXPECT_EQ(back->containers[0].exit_code, 3);
  EXPECT_FALSE(back->containers[1].exit_code.has_value());
}

TEST(NetworkPlanTest, AwsvpcNetworkComesFirstAndGoesLast) {
  auto def = definition({container("a")});
  def.network_mode = NetworkMode::kAwsvpc;
  def.pid_mode = PidMode::kTask;
  auto task = new_task("t1", "", "{}", def, 1000, "awsvpc");
  ASSERT_TRUE(task.network.has_value());
  std::vector<bool> busy = {false};
  task.containers[0].known = TaskStatus::kPulled;
  // Only the network is made: the sandbox and the container join it.
  EXPECT_EQ(kinds(plan_task(task, def, busy, 1000)),
            std::vector<Action::Kind>{Action::Kind::kCreateNetwork});
  EXPECT_TRUE(kinds(plan_task(task, def, busy, 1000, false, /*network_busy=*/true)).empty());
  task.network->known = TaskStatus::kRunning;
  EXPECT_EQ(kinds(plan_task(task, def, busy, 1000)),
            std::vector<Action::Kind>{Action::Kind::kCreateSandbox});
  task.sandbox->known = TaskStatus::kRunning;
  EXPECT_EQ(kinds(plan_task(task, def, busy, 1000)),
            std::vector<Action::Kind>{Action::Kind::kStart});

  // Teardown: the container, then the sandbox, then the network.
  task.containers[0].known = TaskStatus::kStopped;
  request_stop(task, "UserInitiated", "test");
  EXPECT_EQ(kinds(plan_task(task, def, busy, 2000)),
            std::vector<Action::Kind>{Action::Kind::kRemove});
  task.containers[0].removed = true;
  EXPECT_EQ(kinds(plan_task(task, def, busy, 2000)),
            std::vector<Action::Kind>{Action::Kind::kRemoveSandbox});
  task.sandbox->known = TaskStatus::kStopped;
  task.sandbox->removed = true;
  EXPECT_EQ(kinds(plan_task(task, def, busy, 2000)),
            std::vector<Action::Kind>{Action::Kind::kRemoveNetwork});
  EXPECT_NE(task.known, TaskStatus::kStopped);
  task.network->known = TaskStatus::kStopped;
  task.network->removed = true;
  EXPECT_EQ(kinds(plan_task(task, def, busy, 2000)),
            std::vector<Action::Kind>{Action::Kind::kRemoveCgroup});
  task.cgroup_removed = true;
  EXPECT_TRUE(plan_task(task, def, busy, 2000).actions.empty());
  EXPECT_EQ(task.known, TaskStatus::kStopped);
}

TEST(NetworkPlanTest, ANetworkThatCouldNotBeMadeStopsTheTask) {
  auto def = definition({container("a")});
  auto task = new_task("t1", "", "{}", def, 1000, "awsvpc");
  std::vector<bool> busy = {false};
  task.network->known = TaskStatus::kStopped;
  task.network->removed = true;
  task.network->reason = "CNI plugin 'bridge' failed";
  auto plan = plan_task(task, def, busy, 1000);
  EXPECT_EQ(task.desired, TaskStatus::kStopped);
  EXPECT_EQ(task.stop_code, "TaskFailedToStart");
  EXPECT_NE(task.stopped_reason.find("CNI plugin 'bridge' failed"), std::string::npos);
}

TEST(NetworkPlanTest, ALinkWaitsForItsTargetToRun) {
  auto server = container("server");
  auto client = container("client");
  client.links = {"server:db"};
  auto def = definition({server, client});
  auto task = new_task("t1", "", "{}", def, 1000, "bridge");
  EXPECT_FALSE(task.network.has_value()) << "bridge containers have networks of their own";
  std::vector<bool> busy = {true, false};  // the server's start is in flight
  task.containers[0].known = TaskStatus::kCreated;
  task.containers[1].known = TaskStatus::kPulled;
  EXPECT_TRUE(plan_task(task, def, busy, 1000).actions.empty());
  busy[0] = false;
  task.containers[0].known = TaskStatus::kRunning;
  EXPECT_EQ(kinds(plan_task(task, def, busy, 1000)),
            std::vector<Action::Kind>{Action::Kind::kStart});
}

TEST(CheckpointTest, NetworkRecordsRoundTrip) {
  auto def = definition({container("a")});
  auto task = new_task("t9", "web", "{}", def, 123, "awsvpc");
  task.network->known = TaskStatus::kRunning;
  task.network->netns = "/run/berth/netns/t9";
  task.network->interface = "eth0";
  task.network->addresses = {"10.213.0.5", "fd00::5"};
  task.network->eni = "eth5";
  task.containers[0].network = NetworkRecord{};
  task.containers[0].network->ports = {{80, 49153, "tcp"}};
  auto back = task_from_json(to_json(task));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(to_json(*back), to_json(task));
  EXPECT_EQ(back->network_mode, "awsvpc");
  EXPECT_EQ(back->network->addresses[1], "fd00::5");
  EXPECT_EQ(back->containers[0].network->ports[0].host_port, 49153U);
}

TEST(CheckpointTest, MalformedRecordIsAnError) {
  auto back = task_from_json(nlohmann::json{{"id", 3}});
  ASSERT_FALSE(back);
  EXPECT_NE(back.error().message().find("task record"), std::string::npos);
}

}  // namespace
}  // namespace berth::agent
