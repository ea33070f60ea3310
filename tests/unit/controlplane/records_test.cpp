// The fleet's values: JSON both ways, and errors that name the field.
#include "controlplane/records.h"

#include <gtest/gtest.h>

#include "controlplane/join.h"
#include "controlplane/placement.h"

namespace berth::controlplane {
namespace {

TEST(Records, NamesAreKeySegments) {
  EXPECT_TRUE(check_name("node", "edge-a.rack_1"));
  for (const char* bad : {"", ".hidden", "a/b", "a b", "ü"}) {
    auto checked = check_name("node", bad);
    ASSERT_FALSE(checked) << bad;
    EXPECT_NE(checked.error().message().find("node '"), std::string::npos);
  }
  EXPECT_FALSE(check_name("node", std::string(64, 'a')));
}

TEST(Records, KeysLayOutTheClusterByKindThenNode) {
  Keys keys("prod");
  EXPECT_EQ(keys.node("a"), "/berth/prod/nodes/a");
  EXPECT_EQ(keys.desired("a", "web"), "/berth/prod/desired/a/web");
  EXPECT_EQ(keys.status("a"), "/berth/prod/status/a/");
  EXPECT_EQ(Keys::last_segment(keys.status("a", "web")), "web");
}

TEST(Records, ADesiredTaskRoundTripsAndItsErrorsNameTheField) {
  DesiredTask task{"web", Desired::kStopped, R"({"family":"web"})", 42};
  auto back = parse_desired(to_json(task));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->name, "web");
  EXPECT_EQ(back->desired, Desired::kStopped);
  EXPECT_EQ(back->definition_json, R"({"family":"web"})");
  EXPECT_EQ(back->created_at_ms, 42);

  auto not_json = parse_desired("{\"name\": ");
  ASSERT_FALSE(not_json);
  EXPECT_EQ(not_json.error().message(), "desired task: not valid JSON");
  auto no_definition = parse_desired(R"({"name":"x"})");
  ASSERT_FALSE(no_definition);
  EXPECT_EQ(no_definition.error().message(), "desired task: taskDefinition is required");
  auto wrong_type = parse_desired(R"({"name":5,"taskDefinition":{}})");
  ASSERT_FALSE(wrong_type);
  EXPECT_EQ(wrong_type.error().message(), "desired task: name must be a string, not number");
  auto paused = parse_desired(R"({"desiredStatus":"PAUSED","taskDefinition":{}})");
  ASSERT_FALSE(paused);
  EXPECT_NE(paused.error().message().find("desiredStatus 'PAUSED' must be RUNNING or STOPPED"),
            std::string::npos);
}

TEST(Records, NodeAndStatusRecordsRoundTrip) {
  NodeRecord node;
  node.name = "a";
  node.allocatable = {2048, 1000};
  node.remaining = {1024, 500};
  node.attributes = {{"rack", "r1"}};
  node.tasks = 3;
  node.shutting_down = true;
  auto n = parse_node(to_json(node));
  ASSERT_TRUE(n);
  EXPECT_EQ(n->remaining.cpu_units, 1024);
  EXPECT_TRUE(n->shutting_down);
  EXPECT_FALSE(parse_node(R"({"name": "old"})")->shutting_down) << "a record from before it";
  EXPECT_EQ(n->attributes.at("rack"), "r1");

  TaskStatusRecord status;
  status.name = "web";
  status.known = "STOPPED";
  status.containers.push_back({"main", "STOPPED", 137, "OutOfMemoryError", "UNKNOWN", 1, 2});
  auto s = parse_status(to_json(status));
  ASSERT_TRUE(s);
  ASSERT_EQ(s->containers.size(), 1u);
  EXPECT_EQ(s->containers[0].exit_code, 137);
  EXPECT_EQ(s->containers[0].reason, "OutOfMemoryError");
}

TEST(Records, AUsedTokenKeepsNoPassword) {
  JoinToken token{"c", "n", "berth-c-node-n", "secret", 99, false};
  EXPECT_NE(to_json(token).find("secret"), std::string::npos);
  token.used = true;
  token.password.clear();
  EXPECT_EQ(to_json(token).find("password"), std::string::npos);
  auto back = parse_token(to_json(token));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->used);
}

TEST(JoinTokens, TheTextIsAnIdAndASecret) {
  auto token = parse_join_token("abc123.0123456789abcdef");
  ASSERT_TRUE(token);
  EXPECT_EQ(token->id, "abc123");
  for (const char* bad : {"", "abc123", "abc12.0123456789abcdef", "ABC123.0123456789abcdef",
                          "abc123.0123456789abcde!"}) {
    EXPECT_FALSE(parse_join_token(bad)) << bad;
  }
}

NodeState node(std::string name, int64_t cpu, int64_t used_cpu, int64_t tasks, bool ready = true,
               bool cordoned = false) {
  return {std::move(name), ready, cordoned, {cpu, 4096}, {used_cpu, 0}, tasks};
}

TEST(Placement, SpreadsOverReadyNodesWithRoom) {
  std::vector<NodeState> nodes = {node("a", 2048, 0, 2), node("b", 2048, 0, 1),
                                  node("c", 2048, 2000, 0), node("d", 2048, 0, 0, false),
                                  node("e", 2048, 0, 0, true, true)};
  auto picked = place(nodes, {256, 128});
  ASSERT_TRUE(picked);
  EXPECT_EQ(*picked, "b");  // c has no room, d is NOTREADY, e drained
  auto none = place(nodes, {4096, 128});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("no node can take a task of 4096 CPU units"),
            std::string::npos);
  EXPECT_NE(none.error().message().find("d: NOTREADY"), std::string::npos);
  EXPECT_NE(none.error().message().find("e: drained"), std::string::npos);
  EXPECT_EQ(place(nodes, {32, 1}, "c").value_or(""), "c");
  EXPECT_FALSE(place(nodes, {256, 1}, "c"));
  EXPECT_EQ(place(nodes, {1, 1}, "zz").error().code(), ErrorCode::kNotFound);
}

TEST(Placement, ANodeThatShutsDownTakesNoTask) {
  NodeState going = node("a", 2048, 0, 0);
  going.shutting_down = true;
  std::vector<NodeState> nodes = {going, node("b", 2048, 0, 5)};
  EXPECT_EQ(place(nodes, {256, 128}).value_or(""), "b");
  auto refused = place(nodes, {256, 128}, "a");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("shutting down"), std::string::npos);
}

}  // namespace
}  // namespace berth::controlplane
