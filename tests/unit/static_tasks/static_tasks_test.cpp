// Static tasks' decisions, without a directory or an engine.
#include "agent/static_tasks/static_tasks.h"

#include <gtest/gtest.h>

namespace berth::agent {
namespace {

using std::chrono::milliseconds;
using Kind = StaticAction::Kind;

StaticTaskState task(std::string id, std::string manifest, std::string digest, bool stopped,
                     int64_t created, int64_t started = 0, int64_t stopped_at = 0) {
  return {std::move(id), std::move(manifest), std::move(digest), stopped, stopped, created,
          started,       stopped_at};
}

TEST(StaticTaskPlanner, RunsEachNewValidFileOnce) {
  StaticTaskPlanner planner;
  auto actions = planner.plan({{"/m/a.json", "d1", true}, {"/m/bad.json", "d2", false}}, {}, 1000);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, Kind::kRun);
  EXPECT_EQ(actions[0].manifest, "/m/a.json");
  // Once its task exists (running), nothing more.
  EXPECT_TRUE(
      planner.plan({{"/m/a.json", "d1", true}}, {task("t1", "/m/a.json", "d1", false, 1000)}, 2000)
          .empty());
}

TEST(StaticTaskPlanner, AChangedFileStopsTheOldTaskThenRunsTheNewOne) {
  StaticTaskPlanner planner;
  auto actions =
      planner.plan({{"/m/a.json", "d2", true}}, {task("t1", "/m/a.json", "d1", false, 1000)}, 2000);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, Kind::kStop);
  EXPECT_EQ(actions[0].task_id, "t1");
  // While it stops: no second stop and no overlap.
  StaticTaskState stopping = task("t1", "/m/a.json", "d1", false, 1000);
  stopping.stop_requested = true;
  EXPECT_TRUE(planner.plan({{"/m/a.json", "d2", true}}, {stopping}, 2500).empty());
  // Stopped: the new version runs at once, without a back-off.
  actions = planner.plan({{"/m/a.json", "d2", true}},
                         {task("t1", "/m/a.json", "d1", true, 1000, 1100, 2600)}, 2700);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, Kind::kRun);
}

TEST(StaticTaskPlanner, ARefusedNewVersionLeavesTheRunningTaskAlone) {
  StaticTaskPlanner planner;
  EXPECT_TRUE(
      planner.plan({{"/m/a.json", "d2", false}}, {task("t1", "/m/a.json", "d1", false, 1000)}, 2000)
          .empty());
}

TEST(StaticTaskPlanner, ARemovedFileStopsItsTask) {
  StaticTaskPlanner planner;
  auto actions = planner.plan({}, {task("t1", "/m/a.json", "d1", false, 1000)}, 2000);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, Kind::kStop);
  EXPECT_NE(actions[0].reason.find("removed"), std::string::npos);
  // Stopped tasks of removed files are history, not work.
  EXPECT_TRUE(
      planner.plan({}, {task("t1", "/m/a.json", "d1", true, 1000, 1100, 1500)}, 2000).empty());
}

TEST(StaticTaskPlanner, AStoppedTaskRestartsAfterABackOffThatDoubles) {
  StaticTaskPlanner planner(milliseconds(100), milliseconds(350), milliseconds(10000));
  std::vector<ManifestFile> files = {{"/m/a.json", "d1", true}};
  // t1 stopped at 1000: the first restart waits 100 ms.
  std::vector<StaticTaskState> tasks = {task("t1", "/m/a.json", "d1", true, 500, 600, 1000)};
  EXPECT_TRUE(planner.plan(files, tasks, 1050).empty());
  EXPECT_EQ(planner.next_restart_ms(), 1100);
  ASSERT_EQ(planner.plan(files, tasks, 1100).size(), 1u);
  // t2 stopped at 2000 after a short run: 200 ms, then 350 (the cap).
  tasks.push_back(task("t2", "/m/a.json", "d1", true, 1100, 1200, 2000));
  EXPECT_TRUE(planner.plan(files, tasks, 2150).empty());
  EXPECT_EQ(planner.next_restart_ms(), 2200);
  ASSERT_EQ(planner.plan(files, tasks, 2200).size(), 1u);
  tasks.push_back(task("t3", "/m/a.json", "d1", true, 2200, 2300, 3000));
  EXPECT_TRUE(planner.plan(files, tasks, 3300).empty());
  EXPECT_EQ(planner.next_restart_ms(), 3350);
  // A task that ran long enough resets the back-off.
  tasks.push_back(task("t4", "/m/a.json", "d1", true, 3350, 3400, 20000));
  EXPECT_TRUE(planner.plan(files, tasks, 20050).empty());
  EXPECT_EQ(planner.next_restart_ms(), 20100);
}

}  // namespace
}  // namespace berth::agent
