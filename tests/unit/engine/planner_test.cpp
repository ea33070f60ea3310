// The planner: which steps come next, in which order, and never twice.
#include "agent/engine/planner.h"

#include <gtest/gtest.h>

#include "engine/harness.h"

namespace berth::agent::testing {
namespace {

using enum ResourceKind;

TEST(Planner, ABridgeTaskMakesItsCgroupAndEveryImageAndNetworkAtOnce) {
  Task task(definition({container("a"), container("b")}));
  EXPECT_EQ(task.next(), (std::vector<std::string>{"ensure cgroup 0", "ensure image 0",
                                                   "ensure container network 0", "ensure image 1",
                                                   "ensure container network 1"}));
  EXPECT_EQ(task.record.containers[1].containerd_id, "t1-b");
  EXPECT_EQ(task.record.known, TaskStatus::kPending);
}

TEST(Planner, AnAwsvpcTaskMakesItsNetworkFirstThenItsSandboxThenItsContainers) {
  auto def = definition({container("a")});
  def.pid_mode = PidMode::kTask;
  Task task(def, NetworkMode::kAwsvpc);
  EXPECT_FALSE(task.record.containers[0].network_resource) << "awsvpc containers share the task's";
  EXPECT_EQ(task.next(),
            (std::vector<std::string>{"ensure network 0", "ensure cgroup 0", "ensure image 0"}));
  task.step(ensure(kImage), {.image_digest = "sha256:abc"});
  task.step(ensure(kTaskCgroup));
  EXPECT_EQ(task.next(), std::vector<std::string>{"ensure network 0"})
      << "the sandbox and the container join the network: not before it is made";
  task.begin(ensure(kTaskNetwork));
  EXPECT_TRUE(task.next().empty()) << "nothing twice while the network is made";
  task.finish(ensure(kTaskNetwork), {.network = NetworkAttachment{"/ns", "eth0", {"10.0.0.5"}}});
  EXPECT_EQ(task.next(), std::vector<std::string>{"ensure sandbox 0"});
  task.begin(ensure(kSandbox));
  EXPECT_TRUE(task.next().empty()) << "nothing while the sandbox is made";
  task.finish(ensure(kSandbox), {.pid = 99});
  EXPECT_EQ(task.record.sandbox_pid, 99u);
  EXPECT_EQ(task.next(), std::vector<std::string>{"ensure container 0"});
}

TEST(Planner, StartWaitsForADependencyToStart) {
  auto b = container("b");
  b.depends_on = {{"a", DependencyCondition::kStart}};
  Task task(definition({container("a"), b}), NetworkMode::kNone);
  task.step(ensure(kTaskCgroup));
  task.step(ensure(kImage, 0), {.image_digest = "d"});
  task.step(ensure(kImage, 1), {.image_digest = "d"});
  EXPECT_EQ(task.next(), std::vector<std::string>{"ensure container 0"});
  task.step(ensure(kContainer, 0), {.pid = 10});
  EXPECT_EQ(task.next(), std::vector<std::string>{"ensure container 1"});
}

TEST(Planner, CompleteAndSuccessWaitForTheExit) {
  auto b = container("b");
  b.depends_on = {{"init", DependencyCondition::kSuccess}};
  auto c = container("c");
  c.depends_on = {{"init", DependencyCondition::kComplete}};
  Task task(definition({container("init", false), b, c}), NetworkMode::kNone);
  task.run_all();
  EXPECT_EQ(task.record.containers[0].status, TaskStatus::kRunning);
  EXPECT_EQ(task.record.containers[1].status, TaskStatus::kPulled);
  EXPECT_TRUE(task.next().empty());
  task.exit(0, 0);
  EXPECT_EQ(task.next(), (std::vector<std::string>{"ensure container 1", "ensure container 2"}));
}

TEST(Planner, HealthyWaitsForTheHealthCheck) {
  auto server = container("server");
  server.health_check = HealthCheck{{"CMD", "true"}};
  auto client = container("client");
  client.depends_on = {{"server", DependencyCondition::kHealthy}};
  Task task(definition({server, client}), NetworkMode::kNone);
  task.run_all();
  EXPECT_EQ(task.record.containers[1].status, TaskStatus::kPulled);
  task.apply(HealthResult{0, true, "ok"});
  EXPECT_EQ(task.next(), std::vector<std::string>{"ensure container 1"});
}

TEST(Planner, ALinkWaitsForItsTargetToRun) {
  auto client = container("client");
  client.links = {"server:db"};
  Task task(definition({container("server"), client}));
  task.step(ensure(kTaskCgroup));
  for (size_t i = 0; i < 2; ++i) {
    task.step(ensure(kImage, i), {.image_digest = "d"});
    task.step(ensure(kContainerNetwork, i), {.network = NetworkAttachment{"/ns", "eth0"}});
  }
  task.begin(ensure(kContainer, 0));
  EXPECT_TRUE(task.next().empty()) << "the server is CREATED, not running";
  task.finish(ensure(kContainer, 0), {.pid = 5});
  EXPECT_EQ(task.next(), std::vector<std::string>{"ensure container 1"});
}

TEST(Planner, DependentsStopBeforeWhatTheyDependOn) {
  auto client = container("client");
  client.depends_on = {{"server", DependencyCondition::kStart}};
  Task task(definition({container("server"), client}), NetworkMode::kNone);
  task.run_all();
  task.apply(StopRequested{"UserInitiated", "stopped by the user"});
  EXPECT_EQ(task.next(), std::vector<std::string>{"signal container 1"});
  task.step(signal(1));
  EXPECT_TRUE(task.next().empty()) << "the server waits for its client to stop";
  task.exit(1, 143);
  EXPECT_EQ(task.next(), (std::vector<std::string>{"signal container 0", "release container 1"}));
}

// The stop a node shutdown asks of every task.
void shut_down(Task& task) {
  task.apply(StopRequested{std::string(kNodeShutdownStopCode), "Node is shutting down"});
}

TEST(Planner, ANodeShutdownStopsEssentialContainersLast) {
  Task task(definition({container("main"), container("side", false), container("log", false)}),
            NetworkMode::kNone);
  task.run_all();
  shut_down(task);
  EXPECT_EQ(task.next(), (std::vector<std::string>{"signal container 1", "signal container 2"}));
  task.step(signal(1));
  task.step(signal(2));
  task.exit(1, 143);
  EXPECT_FALSE(has(task.next(), "signal container 0")) << "one non-essential container still runs";
  task.exit(2, 143);
  EXPECT_TRUE(has(task.next(), "signal container 0"));
}

TEST(Planner, AnEssentialContainerWaitsAtMostHalfTheOthersStopTimeout) {
  auto side = container("side", false);
  side.stop_timeout_seconds = 10;
  Task task(definition({container("main"), side}), NetworkMode::kNone);
  task.run_all();
  task.now = 1000;
  shut_down(task);
  EXPECT_EQ(task.next(), std::vector<std::string>{"signal container 1"});
  task.step(signal(1));
  auto plan = task.plan();
  EXPECT_EQ(plan.wake_at_ms, 6000) << "half of side's 10 s";
  task.now = 5999;
  EXPECT_FALSE(has(task.next(), "signal container 0"));
  task.now = 6000;
  EXPECT_TRUE(has(task.next(), "signal container 0")) << "side ignores its signal: main goes on";
}

TEST(Planner, AUserStopSignalsEssentialAndOtherContainersAlike) {
  Task task(definition({container("main"), container("side", false)}), NetworkMode::kNone);
  task.run_all();
  task.apply(StopRequested{"UserInitiated", "stopped by the user"});
  EXPECT_EQ(task.next(), (std::vector<std::string>{"signal container 0", "signal container 1"}));
}

TEST(Planner, EssentialLastNeverWaitsInACircleWithDependsOn) {
  // side (non-essential) waits for main, its dependent, to stop first; main
  // therefore does not wait for side.
  auto main = container("main");
  main.depends_on = {{"side", DependencyCondition::kStart}};
  Task task(definition({main, container("side", false)}), NetworkMode::kNone);
  task.run_all();
  shut_down(task);
  EXPECT_EQ(task.next(), std::vector<std::string>{"signal container 0"});
}

TEST(Planner, AStopSignalsThenKillsAfterStopTimeoutOnce) {
  auto side = container("side", false);
  side.stop_timeout_seconds = 2;
  Task task(definition({container("main"), side}), NetworkMode::kNone);
  task.run_all();
  task.now = 5000;
  task.exit(0, 1);
  EXPECT_EQ(task.record.stop_code, "EssentialContainerExited");
  EXPECT_EQ(task.next(), (std::vector<std::string>{"release container 0", "signal container 1"}));
  task.step(signal(1));
  EXPECT_EQ(task.record.containers[1].stop_signalled_at_ms, 5000);
  auto plan = task.plan();
  EXPECT_EQ(plan.wake_at_ms, 7000) << "SIGKILL is due after the 2 s stopTimeout";
  task.now = 6999;
  EXPECT_FALSE(has(task.next(), "kill container 1"));
  task.now = 7000;
  EXPECT_TRUE(has(task.next(), "kill container 1"));
  task.step(kill(1));
  task.now = 9000;
  EXPECT_FALSE(has(task.next(), "kill container 1")) << "SIGKILL is sent once";
}

TEST(Planner, TheDefaultStopTimeoutIsThirtySeconds) {
  EXPECT_EQ(stop_timeout_ms(container("a")), 30'000);
}

TEST(Planner, TeardownRunsInReverseOrderAndTheTaskStopsLast) {
  auto def = definition({container("a")});
  def.ipc_mode = IpcMode::kTask;
  Task task(def, NetworkMode::kAwsvpc);
  task.run_all();
  ASSERT_EQ(task.record.known, TaskStatus::kRunning);
  task.apply(StopRequested{"UserInitiated", "test"});
  EXPECT_EQ(task.next(), std::vector<std::string>{"signal container 0"});
  task.step(signal(0));
  task.exit(0, 143);
  EXPECT_EQ(task.next(), std::vector<std::string>{"release container 0"});
  task.step(release(kContainer, 0));
  EXPECT_EQ(task.next(), (std::vector<std::string>{"release image 0", "release sandbox 0"}));
  task.step(release(kImage, 0));
  task.begin(release(kSandbox));
  EXPECT_TRUE(task.next().empty()) << "nothing more while the sandbox goes";
  task.finish(release(kSandbox));
  EXPECT_EQ(task.next(), std::vector<std::string>{"release cgroup 0"});
  task.step(release(kTaskCgroup));
  EXPECT_NE(task.record.known, TaskStatus::kStopped) << "not before its network is gone";
  EXPECT_EQ(task.next(), std::vector<std::string>{"release network 0"});
  auto changes = task.step(release(kTaskNetwork));
  EXPECT_EQ(task.record.known, TaskStatus::kStopped);
  EXPECT_TRUE(task.next().empty());
  ASSERT_FALSE(changes.empty());
  EXPECT_EQ(changes.back().status, "STOPPED");
}

TEST(Planner, ABridgeContainersNetworkGoesAfterItsContainer) {
  Task task(definition({container("a")}));
  task.run_all();
  task.apply(StopRequested{"UserInitiated", "test"});
  task.step(signal(0));
  task.exit(0, 0);
  EXPECT_EQ(task.next(), std::vector<std::string>{"release container 0"});
  task.step(release(kContainer, 0));
  EXPECT_EQ(task.next(),
            (std::vector<std::string>{"release container network 0", "release image 0"}));
}

TEST(Planner, AContainerBeingStartedIsStoppedOnceItRuns) {
  Task task(definition({container("a")}), NetworkMode::kNone);
  task.step(ensure(kTaskCgroup));
  task.step(ensure(kImage), {.image_digest = "d"});
  task.begin(ensure(kContainer));
  task.apply(StopRequested{"UserInitiated", "stop during start"});
  EXPECT_TRUE(task.next().empty()) << "the start is in flight";
  task.finish(ensure(kContainer), {.pid = 7});
  EXPECT_EQ(task.next(), std::vector<std::string>{"signal container 0"});
}

TEST(Planner, ARestartReleasesTheExitedContainerThenMakesItAgain) {
  auto c = container("worker");
  c.restart_policy = RestartPolicy{true, {}, 60};
  Task task(definition({c}));
  task.run_all();
  task.now = 100'000;
  task.exit(0, 1);
  ASSERT_TRUE(task.record.containers[0].restart_pending);
  EXPECT_EQ(task.record.desired, TaskStatus::kRunning) << "a restart is not an essential exit";
  EXPECT_EQ(task.next(), std::vector<std::string>{"release container 0"})
      << "its network and image stay";
  task.step(release(kContainer, 0));
  EXPECT_EQ(task.next(), std::vector<std::string>{"ensure container 0"});
  task.begin(ensure(kContainer, 0));
  EXPECT_EQ(task.record.containers[0].restart_count, 1u);
  EXPECT_EQ(task.record.containers[0].last_restart_at_ms, 100'000);
  EXPECT_FALSE(task.record.containers[0].restart_pending);
  EXPECT_EQ(task.record.containers[0].status, TaskStatus::kCreated);
}

TEST(Planner, AStoppedTaskPlansNothing) {
  Task task(definition({container("a")}), NetworkMode::kNone);
  task.apply(StopRequested{"UserInitiated", "at once"});
  EXPECT_EQ(task.next(), std::vector<std::string>{}) << "nothing was made";
  EXPECT_EQ(task.record.known, TaskStatus::kStopped);
}

}  // namespace
}  // namespace berth::agent::testing
