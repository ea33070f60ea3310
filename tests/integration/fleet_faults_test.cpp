// A fleet when etcd fails: a leader killed in a 3-member cluster, and nodes
// given an endpoint, CA or password that cannot work.
#include <signal.h>

#include "fixtures/fleet_fixture.h"

namespace berth::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

class FleetFailoverTest : public FleetTest {
 protected:
  size_t etcd_members() const override { return 3; }
};

TEST_F(FleetFailoverTest, NodesKeepHeartbeatingThroughTheOthersWhenTheLeaderDies) {
  for (const char* name : {"f-a", "f-b"}) start_node(name);
  ASSERT_TRUE(await_keys(
      key("nodes/"), [](const Keys& k) { return k.size() == 2; }, 15s));
  ASSERT_EQ(place(sleeper("before"), "before").exit_code, 0);
  ASSERT_TRUE(await_known({"before"}, "RUNNING", 60s));
  auto leader = etcd_->leader();
  ASSERT_TRUE(leader);
  etcd_->stop_member(*leader, SIGKILL);

  // Work goes on through the other members: a new placement runs.
  ASSERT_EQ(place(sleeper("after"), "after").exit_code, 0);
  ASSERT_TRUE(await_known({"after"}, "RUNNING", 60s))
      << nodes_["f-a"]->log_text() << nodes_["f-b"]->log_text();
  // No node record lapses for two and a half TTLs: the leases were kept
  // alive (a new leader gives every lease one TTL more, no more).
  bool lapsed = await_keys(
      key("nodes/"), [](const Keys& k) { return k.size() < 2; }, 25s);
  EXPECT_FALSE(lapsed) << nodes_["f-a"]->log_text();
}

TEST_F(FleetTest, ANodeThatCannotReachEtcdSaysWhyOnceAndKeepsWorkingLocally) {
  std::string dead = "https://127.0.0.1:" + std::to_string(free_loopback_port());
  auto& unreachable = start_node("lost", {"--etcd-endpoints", dead});
  ASSERT_TRUE(unreachable.ok());
  ASSERT_TRUE(wait_for_file_content(unreachable.log(), "no endpoint answered (" + dead + ")", 15s))
      << unreachable.log_text();
  // The embedded engine works without etcd.
  EXPECT_EQ(unreachable.ctl({"version"}).exit_code, 0);

  auto& wrong_ca = start_node("distrust", {"--etcd-cacert", etcd_->other_ca()});
  ASSERT_TRUE(wait_for_file_content(wrong_ca.log(), "certificate verify failed", 15s))
      << wrong_ca.log_text();

  auto& wrong_password = start_node("forgot", {"--etcd-user", "root:wrong"});
  ASSERT_TRUE(wait_for_file_content(wrong_password.log(), "invalid user ID or password", 15s))
      << wrong_password.log_text();
  // Once per cause, not once per retry.
  std::string text = wrong_password.log_text();
  size_t first = text.find("invalid user ID or password");
  EXPECT_EQ(text.find("invalid user ID or password", first + 1), std::string::npos);
  auto nodes = etcd_client_->get(key("nodes/"), true);
  ASSERT_TRUE(nodes);
  EXPECT_TRUE(nodes->kvs.empty());

  // A bad option stops berthd at once, by name.
  auto& bad_url = start_node("bad-url", {"--etcd-endpoints", "ftp://127.0.0.1:1"}, true, false);
  EXPECT_NE(bad_url.log_text().find("ftp://127.0.0.1:1"), std::string::npos);
  auto& no_ca = start_node("no-ca", {"--etcd-cacert", etcd_->dir() + "/missing.pem"}, true, false);
  EXPECT_NE(no_ca.log_text().find("missing.pem"), std::string::npos);
  nodes_.erase("bad-url");
  nodes_.erase("no-ca");
}

}  // namespace
}  // namespace berth::testing
