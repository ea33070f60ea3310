// apply(): every change of a task's record, and what follows from it.
#include "agent/engine/apply.h"

#include <gtest/gtest.h>

#include "engine/harness.h"

namespace berth::agent::testing {
namespace {

using enum ResourceKind;

bool changed(const std::vector<Change>& changes, const std::string& container,
             const std::string& status) {
  for (const auto& c : changes) {
    if (c.container == container && c.status == status) return true;
  }
  return false;
}

TEST(Apply, AnIntentMarksTheResourceCreatingAndAContainerCreated) {
  Task task(definition({container("a")}), NetworkMode::kNone);
  task.apply(Intent{ensure(kImage)});
  EXPECT_EQ(task.record.containers[0].image_resource.phase, Phase::kCreating);
  task.finish(ensure(kImage), {.image_digest = "sha256:1"});
  EXPECT_EQ(task.record.containers[0].status, TaskStatus::kPulled);
  EXPECT_EQ(task.record.containers[0].pulled_at_ms, 1000);
  EXPECT_EQ(task.record.containers[0].image_digest, "sha256:1");
  task.apply(Intent{ensure(kContainer)});
  EXPECT_EQ(task.record.containers[0].runtime.phase, Phase::kCreating);
  EXPECT_EQ(task.record.containers[0].status, TaskStatus::kCreated);
  auto changes = task.finish(ensure(kContainer), {.pid = 42});
  EXPECT_EQ(task.record.containers[0].runtime.phase, Phase::kReady);
  EXPECT_EQ(task.record.containers[0].status, TaskStatus::kRunning);
  EXPECT_EQ(task.record.containers[0].pid, 42u);
  EXPECT_TRUE(changed(changes, "a", "RUNNING"));
}

TEST(Apply, TheTaskRunsOnceItsEssentialContainersRun) {
  Task task(definition({container("main"), container("side", false)}), NetworkMode::kNone);
  EXPECT_EQ(task.record.known, TaskStatus::kPending);
  task.step(ensure(kTaskCgroup));
  task.step(ensure(kImage, 0), {.image_digest = "d"});
  task.step(ensure(kImage, 1), {.image_digest = "d"});
  task.apply(Tick{});
  EXPECT_EQ(task.record.known, TaskStatus::kPulled);
  task.now = 2000;
  auto changes = task.step(ensure(kContainer, 0), {.pid = 1});
  EXPECT_EQ(task.record.known, TaskStatus::kRunning) << "the side container does not count";
  EXPECT_EQ(task.record.started_at_ms, 2000);
  EXPECT_TRUE(changed(changes, "", "RUNNING"));
}

TEST(Apply, AnExitIsRecordedWithItsCodeAndAnEssentialOneStopsTheTask) {
  Task task(definition({container("main"), container("side", false)}), NetworkMode::kNone);
  task.run_all();
  task.now = 5000;
  auto changes = task.exit(1, 0);
  EXPECT_EQ(task.record.containers[1].status, TaskStatus::kStopped);
  EXPECT_EQ(task.record.containers[1].exit_code, 0);
  EXPECT_EQ(task.record.containers[1].stopped_at_ms, 5000);
  EXPECT_EQ(task.record.desired, TaskStatus::kRunning) << "side is not essential";
  EXPECT_TRUE(changed(changes, "side", "STOPPED"));
  changes = task.exit(0, 3);
  EXPECT_EQ(task.record.desired, TaskStatus::kStopped);
  EXPECT_EQ(task.record.stop_code, "EssentialContainerExited");
  EXPECT_EQ(task.record.stopped_reason, "Essential container in task exited");
  EXPECT_TRUE(changed(changes, "", "STOPPING"));
}

TEST(Apply, AnExitOfAnotherPidIsIgnored) {
  Task task(definition({container("a")}), NetworkMode::kNone);
  task.run_all();
  task.apply(Exited{0, 9999, 1, false});
  EXPECT_EQ(task.record.containers[0].status, TaskStatus::kRunning);
}

TEST(Apply, OutOfMemoryIsTheReason) {
  Task task(definition({container("a")}), NetworkMode::kNone);
  task.run_all();
  task.exit(0, 137, /*oom=*/true);
  EXPECT_EQ(task.record.containers[0].reason,
            "OutOfMemoryError: Container killed due to memory usage");
  EXPECT_EQ(task.record.containers[0].exit_code, 137);
}

TEST(Apply, SuccessFailsTheTaskOnANonZeroExitWithoutStartingTheDependent) {
  auto b = container("b");
  b.depends_on = {{"init", DependencyCondition::kSuccess}};
  Task task(definition({container("init", false), b}), NetworkMode::kNone);
  task.run_all();
  task.exit(0, 3);
  EXPECT_EQ(task.record.desired, TaskStatus::kStopped);
  EXPECT_EQ(task.record.stop_code, "TaskFailedToStart");
  EXPECT_NE(task.record.stopped_reason.find("exited with 3"), std::string::npos)
      << task.record.stopped_reason;
  EXPECT_NE(task.record.stopped_reason.find("Dependency of container \"b\""), std::string::npos);
  // The container that never started is stopped without touching the host.
  EXPECT_EQ(task.record.containers[1].status, TaskStatus::kStopped);
  EXPECT_EQ(task.record.containers[1].runtime.phase, Phase::kReleased);
  EXPECT_EQ(task.record.containers[1].reason, task.record.stopped_reason);
}

TEST(Apply, AnUnhealthyDependencyFailsTheTask) {
  auto server = container("server");
  server.health_check = HealthCheck{{"CMD", "false"}, 5, 2, 1, 0};
  auto client = container("client");
  client.depends_on = {{"server", DependencyCondition::kHealthy}};
  Task task(definition({server, client}), NetworkMode::kNone);
  task.run_all();
  task.apply(HealthResult{0, false, "down"});
  EXPECT_EQ(task.record.containers[0].health, Health::kUnhealthy);
  EXPECT_EQ(task.record.stop_code, "TaskFailedToStart");
  EXPECT_NE(task.record.stopped_reason.find("UNHEALTHY"), std::string::npos);
}

TEST(Apply, StartConditionFailsWhenTheTargetStoppedWithoutStarting) {
  auto b = container("b");
  b.depends_on = {{"a", DependencyCondition::kStart}};
  Task task(definition({container("a", false), b}), NetworkMode::kNone);
  task.step(ensure(kTaskCgroup));
  task.step(ensure(kImage, 1), {.image_digest = "d"});
  task.fail(ensure(kImage, 0), "manifest unknown");
  EXPECT_EQ(task.record.containers[0].reason, "CannotPullContainerError: manifest unknown");
  EXPECT_EQ(task.record.stop_code, "TaskFailedToStart");
  EXPECT_NE(task.record.stopped_reason.find("stopped without starting"), std::string::npos);
}

TEST(Apply, ALinkToAStoppedContainerFailsTheTask) {
  auto client = container("client");
  client.links = {"server"};
  Task task(definition({container("server", false), client}), NetworkMode::kNone);
  task.step(ensure(kTaskCgroup));
  task.step(ensure(kImage, 1), {.image_digest = "d"});
  task.fail(ensure(kImage, 0), "no such image");
  EXPECT_EQ(task.record.stopped_reason,
            "Container \"client\" links to \"server\", which is not running");
}

// ECS: the dependency's startTimeout, counted from its start, bounds how
// long its dependents wait for COMPLETE, SUCCESS or HEALTHY.
TEST(Apply, ADependencysStartTimeoutStopsTheTaskWhenTimeMovesOn) {
  for (auto condition : {DependencyCondition::kComplete, DependencyCondition::kSuccess,
                         DependencyCondition::kHealthy}) {
    SCOPED_TRACE(std::string(condition_name(condition)));
    auto a = container("a", false);
    a.start_timeout_seconds = 5;
    if (condition == DependencyCondition::kHealthy)
      a.health_check = HealthCheck{{"CMD", "true"}, 5, 2, 1, 0};
    auto b = container("b");
    b.depends_on = {{"a", condition}};
    Task task(definition({a, b}), NetworkMode::kNone);
    task.now = 2000;
    task.run_all();
    EXPECT_EQ(task.record.containers[0].started_at_ms, 2000);
    EXPECT_EQ(task.plan().wake_at_ms, 7000);
    task.now = 6999;
    task.apply(Tick{});
    EXPECT_EQ(task.record.desired, TaskStatus::kRunning);
    task.now = 7000;
    auto changes = task.apply(Tick{});
    EXPECT_EQ(task.record.desired, TaskStatus::kStopped);
    EXPECT_EQ(task.record.stop_code, "TaskFailedToStart");
    EXPECT_EQ(task.record.stopped_reason,
              "Dependency of container \"b\" not met: container \"a\" did not reach " +
                  std::string(condition_name(condition)) + " within its startTimeout of 5s");
    EXPECT_EQ(task.record.containers[1].status, TaskStatus::kStopped);
    EXPECT_EQ(task.record.containers[1].started_at_ms, 0);
    EXPECT_TRUE(changed(changes, "", "STOPPING"));
    // The dependency is stopped as any container is.
    EXPECT_TRUE(has(task.next(), "signal container 0"));
  }
}

TEST(Apply, AStartTimeoutDoesNotBoundAStartDependencyNorItsOwnStart) {
  // START is met once the dependency started, whatever its startTimeout.
  auto a = container("a");
  a.start_timeout_seconds = 1;
  auto b = container("b");
  b.depends_on = {{"a", DependencyCondition::kStart}};
  b.start_timeout_seconds = 1;
  Task task(definition({a, b}), NetworkMode::kNone);
  task.run_all();
  task.now += 60000;
  task.apply(Tick{});
  EXPECT_EQ(task.record.desired, TaskStatus::kRunning);
  EXPECT_EQ(task.record.containers[1].status, TaskStatus::kRunning);
}

TEST(Apply, ANonEssentialDependentThatGivesUpStopsAloneAndTheTaskGoesOn) {
  auto a = container("a");
  a.start_timeout_seconds = 5;
  auto b = container("b", false);
  b.depends_on = {{"a", DependencyCondition::kComplete}};
  Task task(definition({a, b}), NetworkMode::kNone);
  task.now = 1000;
  task.run_all();
  task.now = 6000;
  auto changes = task.apply(Tick{});
  EXPECT_EQ(task.record.desired, TaskStatus::kRunning);
  EXPECT_EQ(task.record.known, TaskStatus::kRunning);
  EXPECT_EQ(task.record.containers[1].status, TaskStatus::kStopped);
  EXPECT_FALSE(task.record.containers[1].exit_code.has_value());
  EXPECT_NE(task.record.containers[1].reason.find("within its startTimeout of 5s"),
            std::string::npos);
  EXPECT_TRUE(changed(changes, "b", "STOPPED"));
  EXPECT_EQ(task.plan().wake_at_ms, 0);
  EXPECT_FALSE(has(task.next(), "ensure container 1"));
}

TEST(Apply, FailuresOfEachResourceStopTheTaskWithAReasonThatNamesIt) {
  struct Case {
    Action action;
    std::string reason_starts;
  };
  for (const auto& [action, starts] : std::vector<Case>{
           {ensure(kTaskNetwork), "ResourceInitializationError: "},
           {ensure(kTaskCgroup), "ResourceInitializationError: task cgroup: "},
           {ensure(kSandbox), "CannotStartSandboxError: "},
           {ensure(kImage), "CannotPullContainerError: "},
       }) {
    auto def = definition({container("a")});
    def.pid_mode = PidMode::kTask;
    Task task(def, NetworkMode::kAwsvpc);
    task.begin(action);
    task.fail(action, "failpoint 'x.before' injected an error");
    EXPECT_EQ(task.record.stop_code, "TaskFailedToStart") << text(action);
    EXPECT_EQ(task.record.stopped_reason, starts + "failpoint 'x.before' injected an error")
        << text(action);
  }
  // A container's own: network (bridge) and the container.
  for (const auto& [action, starts] : std::vector<Case>{
           {ensure(kContainerNetwork), "CannotStartContainerError: network: "},
           {ensure(kContainer), "CannotStartContainerError: "},
       }) {
    Task task(definition({container("a")}));
    task.begin(action);
    task.fail(action, "boom");
    EXPECT_EQ(task.record.containers[0].status, TaskStatus::kStopped) << text(action);
    EXPECT_EQ(task.record.containers[0].reason, starts + "boom");
    EXPECT_EQ(task.record.stopped_reason, starts + "boom");
  }
}

TEST(Apply, AFailedReleaseLeavesTheResourceToBeReleasedAgain) {
  Task task(definition({container("a")}), NetworkMode::kNone);
  task.run_all();
  task.apply(StopRequested{"UserInitiated", "x"});
  task.step(signal(0));
  task.exit(0, 0);
  task.begin(release(kContainer));
  task.fail(release(kContainer), "still busy");
  EXPECT_EQ(task.record.containers[0].runtime.phase, Phase::kReady);
  EXPECT_EQ(task.next(), std::vector<std::string>{"release container 0"});
}

TEST(Apply, APullThatEndsAfterTheTaskStoppedChangesNothing) {
  Task task(definition({container("a")}), NetworkMode::kNone);
  task.step(ensure(kTaskCgroup));
  task.begin(ensure(kImage));
  task.apply(StopRequested{"UserInitiated", "x"});
  EXPECT_EQ(task.record.containers[0].image_resource.phase, Phase::kReleased)
      << "an image has nothing to undo: the stop does not wait for a stalled registry";
  task.step(release(kTaskCgroup));
  EXPECT_EQ(task.record.known, TaskStatus::kStopped);
  task.finish(ensure(kImage), {.image_digest = "late"});
  EXPECT_EQ(task.record.containers[0].image_resource.phase, Phase::kReleased);
  EXPECT_EQ(task.record.containers[0].status, TaskStatus::kStopped);
}

TEST(Apply, TheFirstStopReasonWins) {
  Task task(definition({container("a")}), NetworkMode::kNone);
  task.run_all();
  task.apply(StopRequested{"EssentialContainerExited", "first"});
  task.apply(StopRequested{"UserInitiated", "second"});
  EXPECT_EQ(task.record.stopped_reason, "first");
  EXPECT_EQ(task.record.stop_code, "EssentialContainerExited");
}

TEST(Apply, ASandboxThatExitedStopsTheTask) {
  auto def = definition({container("a")});
  def.pid_mode = PidMode::kTask;
  Task task(def, NetworkMode::kNone);
  task.run_all();
  ASSERT_EQ(task.record.sandbox->phase, Phase::kReady);
  task.apply(SandboxExited{137});
  EXPECT_EQ(task.record.stop_code, "EssentialContainerExited");
  EXPECT_EQ(task.record.stopped_reason, "The task's sandbox exited: its process exited with 137");
  EXPECT_EQ(task.next(), std::vector<std::string>{"signal container 0"});
}

TEST(Apply, ANeverMadeSandboxNeedsNoRelease) {
  auto def = definition({container("a"), container("b")});
  def.pid_mode = PidMode::kTask;
  Task task(def, NetworkMode::kNone);
  EXPECT_EQ(task.record.sandbox_id, "t1.sandbox");
  task.step(ensure(kTaskCgroup));
  task.apply(StopRequested{"UserInitiated", "stop"});
  EXPECT_EQ(task.record.sandbox->phase, Phase::kReleased);
  EXPECT_EQ(task.next(), std::vector<std::string>{"release cgroup 0"});
}

class RestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = container("worker");
    c.restart_policy = RestartPolicy{true, {0, 42}, 60};
    task_.emplace(definition({c}), NetworkMode::kNone);
    task_->run_all();  // started at 1000
  }
  bool restarts(int code, int64_t at) {
    task_->now = at;
    task_->exit(0, code);
    return task_->record.containers[0].restart_pending;
  }
  std::optional<Task> task_;
};

TEST_F(RestartTest, RestartsAfterTheAttemptPeriod) { EXPECT_TRUE(restarts(1, 61'000)); }

TEST_F(RestartTest, NoRestartBeforeTheAttemptPeriod) {
  EXPECT_FALSE(restarts(1, 60'999));
  EXPECT_EQ(task_->record.desired, TaskStatus::kStopped) << "then it is an essential exit";
}

TEST_F(RestartTest, IgnoredExitCodesAreNotRestarted) { EXPECT_FALSE(restarts(42, 100'000)); }

TEST_F(RestartTest, PeriodCountsFromTheLastRestart) {
  ASSERT_TRUE(restarts(1, 100'000));
  task_->run_all();  // restarted at 100 000
  EXPECT_EQ(task_->record.containers[0].restart_count, 1u);
  EXPECT_FALSE(restarts(1, 150'000));
}

TEST_F(RestartTest, AStoppingTaskIsNotRestarted) {
  task_->apply(StopRequested{"UserInitiated", "stop"});
  EXPECT_FALSE(restarts(1, 100'000));
}

TEST(Recovery, AnAdoptedContainerThatWasBeingMadeRunsOn) {
  Task task(definition({container("a")}), NetworkMode::kNone);
  task.step(ensure(kTaskCgroup));
  task.step(ensure(kImage), {.image_digest = "d"});
  task.apply(Intent{ensure(kContainer)});  // the crash came before its result
  task.apply(Recovered{{kContainer, 0}, Recovery::kAdopted, 321});
  EXPECT_EQ(task.record.containers[0].status, TaskStatus::kRunning);
  EXPECT_EQ(task.record.containers[0].pid, 321u);
  EXPECT_EQ(task.record.containers[0].runtime.phase, Phase::kReady);
  EXPECT_EQ(task.record.known, TaskStatus::kRunning);
}

TEST(Recovery, AStopSignalOrKillThatACrashMayHaveCutOffIsSentAgain) {
  auto c = container("a");
  c.stop_timeout_seconds = 10;
  Task task(definition({c}), NetworkMode::kNone);
  task.run_all();
  task.apply(StopRequested{"UserInitiated", "stop"});
  task.now = 2000;
  task.apply(Intent{signal(0)});  // marked, then berthd died
  task.apply(Recovered{{kContainer, 0}, Recovery::kAdopted, 100});
  EXPECT_EQ(task.next(), std::vector<std::string>{"signal container 0"});
  task.step(signal(0));
  task.now = 12'000;
  task.apply(Intent{kill(0)});  // marked, then berthd died again
  task.apply(Recovered{{kContainer, 0}, Recovery::kAdopted, 100});
  EXPECT_EQ(task.next(), std::vector<std::string>{"kill container 0"}) << "at once";
}

TEST(Recovery, ARolledBackContainerIsMadeAgain) {
  Task task(definition({container("a")}), NetworkMode::kNone);
  task.step(ensure(kTaskCgroup));
  task.step(ensure(kImage), {.image_digest = "d"});
  task.apply(Intent{ensure(kContainer)});
  task.apply(Recovered{{kContainer, 0}, Recovery::kRolledBack});
  EXPECT_EQ(task.record.containers[0].status, TaskStatus::kPulled);
  EXPECT_EQ(task.next(), std::vector<std::string>{"ensure container 0"});
}

TEST(Recovery, AContainerThatExitedWhileBerthdWasAwayStopsWithItsCode) {
  Task task(definition({container("a")}), NetworkMode::kNone);
  task.run_all();
  task.apply(Recovered{{kContainer, 0}, Recovery::kExited, 0, 137, true});
  EXPECT_EQ(task.record.containers[0].exit_code, 137);
  EXPECT_EQ(task.record.containers[0].reason,
            "OutOfMemoryError: Container killed due to memory usage");
  EXPECT_EQ(task.record.stop_code, "EssentialContainerExited");
}

TEST(Recovery, AContainerThatStartedAndExitedBeforeItsStartWasRecordedKeepsItsCode) {
  Task task(definition({container("a")}), NetworkMode::kNone);
  task.step(ensure(kTaskCgroup));
  task.step(ensure(kImage), {.image_digest = "d"});
  task.apply(Intent{ensure(kContainer)});  // started; berthd died before the result
  task.now = 5000;
  task.apply(Recovered{{kContainer, 0}, Recovery::kExited, 0, 0});
  const ContainerRecord& c = task.record.containers[0];
  EXPECT_EQ(c.status, TaskStatus::kStopped);
  EXPECT_EQ(c.exit_code, 0);
  EXPECT_EQ(c.started_at_ms, 5000);
  EXPECT_EQ(c.runtime.phase, Phase::kReady);
  EXPECT_EQ(task.record.stop_code, "EssentialContainerExited");
}

TEST(Recovery, WhatTheHostLostStopsTheTaskWithTheReason) {
  {
    Task task(definition({container("a")}), NetworkMode::kAwsvpc);
    task.run_all();
    task.apply(
        Recovered{{kTaskNetwork, 0}, Recovery::kGone, 0, 0, false, "its namespace was gone"});
    EXPECT_EQ(task.record.stopped_reason,
              "ResourceInitializationError: the task's network is gone: its namespace was gone");
  }
  {
    Task task(definition({container("a")}), NetworkMode::kNone);
    task.run_all();
    task.apply(Recovered{{kContainer, 0}, Recovery::kGone, 0, 0, false, "task gone"});
    EXPECT_EQ(task.record.containers[0].status, TaskStatus::kStopped);
    EXPECT_EQ(task.record.containers[0].reason, "task gone");
    EXPECT_EQ(task.next(), std::vector<std::string>{"release container 0"})
        << "its container record may still be there";
  }
}

TEST(Health, RetriesAndStartPeriod) {
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

TEST(Health, TaskHealthFollowsEssentialContainers) {
  auto a = container("a");
  a.health_check = HealthCheck{{"CMD", "true"}};
  auto b = container("b", false);
  b.health_check = HealthCheck{{"CMD", "true"}};
  auto def = definition({a, b});
  auto task = new_task("t", "", "{}", def, 0, NetworkMode::kNone);
  task.containers[0].status = TaskStatus::kRunning;
  EXPECT_EQ(task_health(task, def), Health::kUnknown);
  task.containers[1].health = Health::kUnhealthy;  // not essential
  EXPECT_EQ(task_health(task, def), Health::kUnknown);
  task.containers[0].health = Health::kHealthy;
  EXPECT_EQ(task_health(task, def), Health::kHealthy);
  task.containers[0].health = Health::kUnhealthy;
  EXPECT_EQ(task_health(task, def), Health::kUnhealthy);
  task.containers[0].status = TaskStatus::kStopped;
  EXPECT_EQ(task_health(task, def), Health::kUnknown);
}

}  // namespace
}  // namespace berth::agent::testing
