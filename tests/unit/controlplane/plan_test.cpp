// The node's decisions: what to run and stop for the desired tasks.
#include "controlplane/node/plan.h"

#include <gtest/gtest.h>

#include "controlplane/node/write_budget.h"

namespace berth::controlplane {
namespace {

using Kind = NodeAction::Kind;

DesiredEntry entry(const std::string& name, Desired desired, int64_t created = 10,
                   const std::string& definition = R"({"family":"f"})") {
  DesiredEntry e;
  e.name = name;
  e.create_revision = created;
  e.mod_revision = created;
  e.task = DesiredTask{name, desired, definition, 0};
  return e;
}

LocalTask local(const std::string& id, const std::string& name, const std::string& digest,
                bool stopped = false, bool stop_requested = false) {
  return {id, name, digest, stopped, stop_requested, 0};
}

TEST(NodePlan, RunsADesiredTaskOncePerValue) {
  std::map<std::string, DesiredEntry> desired = {{"web", entry("web", Desired::kRunning)}};
  auto actions = plan_node(desired, {}, {});
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, Kind::kRun);
  std::string digest = desired_digest(desired["web"]);
  // Running, or stopped on its own: nothing (an ECS task is not restarted).
  EXPECT_TRUE(plan_node(desired, {local("t1", "web", digest)}, {}).empty());
  EXPECT_TRUE(plan_node(desired, {local("t1", "web", digest, true)}, {}).empty());
  // Refused for this value: not tried again.
  EXPECT_TRUE(plan_node(desired, {}, {{"web", {digest, "RESOURCE:CPU"}}}).empty());
  // Its record gone (retention), but etcd says it ran to its end for this
  // value: not run again; for an older value, it is.
  EXPECT_TRUE(plan_node(desired, {}, {}, {{"web", 10}}).empty());
  EXPECT_EQ(plan_node(desired, {}, {}, {{"web", 9}}).size(), 1u);
}

TEST(NodePlan, ANewValueStopsTheOldTaskFirst) {
  std::map<std::string, DesiredEntry> desired = {
      {"web", entry("web", Desired::kRunning, 10, R"({"family":"v2"})")}};
  auto actions = plan_node(desired, {local("t1", "web", "10:old")}, {});
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, Kind::kStop);
  EXPECT_EQ(actions[0].task_id, "t1");
  // While it stops, nothing more; once stopped, the new one runs.
  EXPECT_TRUE(plan_node(desired, {local("t1", "web", "10:old", false, true)}, {}).empty());
  auto next = plan_node(desired, {local("t1", "web", "10:old", true, true)}, {});
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].kind, Kind::kRun);
  // Written again under the same name after a delete: a new create revision.
  EXPECT_NE(desired_digest(entry("web", Desired::kRunning, 10)),
            desired_digest(entry("web", Desired::kRunning, 11)));
}

TEST(NodePlan, StoppedOrRemovedStopsAndAnUnreadableValueChangesNothing) {
  std::map<std::string, DesiredEntry> desired = {{"a", entry("a", Desired::kStopped)}};
  DesiredEntry broken;
  broken.name = "b";
  broken.error = "desired task: not valid JSON";
  desired["b"] = broken;
  auto actions = plan_node(desired,
                           {local("t1", "a", "x"), local("t2", "b", "y"), local("t3", "gone", "z"),
                            local("t4", "gone2", "z", true)},
                           {});
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].task_id, "t1");
  EXPECT_EQ(actions[0].reason, "desired status is STOPPED");
  EXPECT_EQ(actions[1].task_id, "t3");
  EXPECT_EQ(actions[1].reason, "desired task removed");
}

TEST(NodePlan, StatusComesFromTheNewestTaskOfAName) {
  Keys keys("c");
  std::map<std::string, DesiredEntry> desired = {{"web", entry("web", Desired::kRunning)}};
  DesiredEntry broken;
  broken.name = "bad";
  broken.mod_revision = 7;
  broken.error = "desired task: not valid JSON";
  desired["bad"] = broken;
  std::vector<agent::TaskView> views(3);
  views[0].record.id = "old";
  views[0].record.name = "web";
  views[0].record.manifest = task_source(keys, "n", "web");
  views[0].record.created_at_ms = 1;
  views[0].record.known = agent::TaskStatus::kStopped;
  views[1].record.id = "new";
  views[1].record.name = "web";
  views[1].record.manifest = task_source(keys, "n", "web");
  views[1].record.created_at_ms = 2;
  views[1].record.known = agent::TaskStatus::kRunning;
  views[1].record.containers.push_back({});
  views[1].record.containers[0].name = "main";
  views[1].record.containers[0].status = agent::TaskStatus::kRunning;
  views[2].record.id = "orphan";
  views[2].record.name = "gone";
  views[2].record.manifest = task_source(keys, "n", "gone");
  views[2].record.known = agent::TaskStatus::kRunning;
  auto statuses = build_statuses(desired, views, keys, "n", {});
  ASSERT_EQ(statuses.size(), 3u);
  EXPECT_EQ(statuses["web"].task_id, "new");
  EXPECT_EQ(statuses["web"].known, "RUNNING");
  EXPECT_EQ(statuses["web"].containers.at(0).status, "RUNNING");
  EXPECT_EQ(statuses["bad"].known, "REFUSED");
  EXPECT_EQ(statuses["bad"].desired_revision, 7);
  EXPECT_EQ(statuses["bad"].error, "desired task: not valid JSON");
  EXPECT_EQ(statuses["gone"].task_id, "orphan");  // reported until it stopped
  EXPECT_EQ(local_tasks(views, keys, "n").size(), 3u);
  EXPECT_TRUE(local_tasks(views, keys, "other").empty());
}

}  // namespace
}  // namespace berth::controlplane

namespace berth::controlplane {
namespace {

TEST(WriteBudget, ABurstGoesAtOnceThenOnePerInterval) {
  using namespace std::chrono_literals;
  WriteBudget budget(3, 200ms);
  auto t0 = WriteBudget::Clock::time_point{} + 1h;
  EXPECT_TRUE(budget.take("k", t0));
  EXPECT_TRUE(budget.take("k", t0 + 1ms));
  EXPECT_TRUE(budget.take("k", t0 + 2ms));
  EXPECT_FALSE(budget.take("k", t0 + 3ms));
  EXPECT_TRUE(budget.take("other", t0 + 3ms));  // per key
  auto next = budget.next("k", t0 + 3ms);
  EXPECT_GT(next, t0 + 150ms);
  EXPECT_LE(next, t0 + 203ms);
  EXPECT_TRUE(budget.take("k", next));
  // A flapping key: 100 changes in a second are at most 3 + 5 writes.
  int writes = 0;
  for (int i = 0; i < 100; ++i) writes += budget.take("flap", t0 + i * 10ms) ? 1 : 0;
  EXPECT_LE(writes, 8);
  EXPECT_GE(writes, 7);
  budget.forget("k");
  EXPECT_EQ(budget.next("k", t0), t0);
}

}  // namespace
}  // namespace berth::controlplane
