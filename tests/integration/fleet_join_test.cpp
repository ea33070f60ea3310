// Anywhere nodes join with a single-use token and are confined by etcd's
// auth to their own keys.
#include <sys/stat.h>

#include "fixtures/fleet_fixture.h"

namespace berth::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

class FleetJoinTest : public FleetTest {
 protected:
  json create_token(std::vector<std::string> args) {
    std::vector<std::string> all = {"token", "create", "-o", "json"};
    all.insert(all.end(), args.begin(), args.end());
    auto made = cluster(all);
    EXPECT_EQ(made.exit_code, 0) << made.err;
    return json::parse(made.out, nullptr, false);
  }
  // A client with a node's own credentials, as its identity file holds them.
  std::unique_ptr<etcd::Client> as_node(const Berthd& node) {
    auto identity = json::parse(read_file(node.root() + "/etcd-identity.json"), nullptr, false);
    EXPECT_TRUE(identity.is_object());
    etcd::Options options;
    options.endpoints = {etcd_->endpoint(0)};
    options.ca_file = etcd_->ca();
    options.cert_file = etcd_->client_cert();
    options.key_file = etcd_->client_key();
    options.user = identity.value("user", "");
    options.password = identity.value("password", "");
    auto client = etcd::Client::connect(options);
    EXPECT_TRUE(client) << client.error().message();
    return client ? std::move(*client) : nullptr;
  }
};

TEST_F(FleetJoinTest, ANodeJoinsWithATokenAndReachesOnlyItsOwnKeys) {
  json token_a = create_token({"--ttl", "1h", "--node", "edge-a"});
  ASSERT_EQ(token_a["node"], "edge-a");
  auto& a = start_node("edge-a", {"--join-token", token_a["token"]}, /*root_credentials=*/false);
  ASSERT_TRUE(a.ok());
  // A token for no node in particular names one.
  json token_b = create_token({"--ttl", "10m"});
  std::string b_name = token_b["node"];
  ASSERT_TRUE(b_name.starts_with("node-")) << b_name;
  auto& b = start_node(b_name, {"--join-token", token_b["token"]}, false);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(await_keys(
      key("nodes/"), [](const Keys& k) { return k.size() == 2; }, 15s));

  struct stat st {};
  ASSERT_EQ(::stat((a.root() + "/etcd-identity.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Its role is enough for the whole of a node's work.
  ASSERT_EQ(place(sleeper("edge"), "edge-task", {"--node", "edge-a"}).exit_code, 0);
  ASSERT_TRUE(await_known({"edge-task"}, "RUNNING", 60s)) << a.log_text();

  // Node A can neither read nor write node B's keys.
  auto node_a = as_node(a);
  ASSERT_TRUE(node_a);
  EXPECT_TRUE(node_a->get(key("desired/edge-a/"), true));
  EXPECT_TRUE(node_a->put(key("status/edge-a/probe"), "{}"));
  EXPECT_TRUE(node_a->remove(key("status/edge-a/probe")));
  auto denied = [](const auto& result) {
    return !result && result.error().code() == ErrorCode::kPermissionDenied;
  };
  EXPECT_TRUE(denied(node_a->get(key("desired/" + b_name + "/"), true)));
  EXPECT_TRUE(denied(node_a->get(key("status/" + b_name + "/"), true)));
  EXPECT_TRUE(denied(node_a->put(key("status/" + b_name + "/x"), "{}")));
  EXPECT_TRUE(denied(node_a->put(key("nodes/" + b_name), "{}")));
  EXPECT_TRUE(denied(node_a->put(key("desired/edge-a/self-made"), "{}")));
  EXPECT_TRUE(denied(node_a->get(key("tokens/"), true)));
  etcd::WatchCanceller canceller;
  EXPECT_TRUE(denied(node_a->watch(
      key("desired/" + b_name + "/"), true, 0, [](int64_t, const auto&) {}, canceller)));

  // A token is single-use.
  auto& reused = start_node("edge-c", {"--join-token", token_a["token"]}, false,
                            /*expect_ready=*/false);
  EXPECT_NE(reused.log_text().find("was already used"), std::string::npos) << reused.log_text();

  // An expired token is refused.
  json short_lived = create_token({"--ttl", "1", "--node", "edge-d"});
  std::string id = short_lived["token"].get<std::string>().substr(0, 6);
  ASSERT_TRUE(await_keys(
      key("tokens/"), [&](const Keys& k) { return !k.contains(key("tokens/" + id)); }, 10s));
  auto& late = start_node("edge-d", {"--join-token", short_lived["token"]}, false, false);
  EXPECT_NE(late.log_text().find("has expired"), std::string::npos) << late.log_text();

  // A malformed token says what a token looks like.
  auto& garbled = start_node("edge-e", {"--join-token", "not-a-token"}, false, false);
  EXPECT_NE(garbled.log_text().find("join token: expected"), std::string::npos);

  // A restart with the same command line keeps the identity it was given.
  a.kill(SIGKILL);
  ASSERT_TRUE(a.restart()) << a.log_text();
  ASSERT_TRUE(await_known({"edge-task"}, "RUNNING", 30s));
  nodes_.erase("edge-c");
  nodes_.erase("edge-d");
  nodes_.erase("edge-e");
}

}  // namespace
}  // namespace berth::testing
