// The etcd client against a real etcd (TLS, client certificates, auth).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "controlplane/etcd/client.h"
#include "fixtures/etcd_cluster.h"

namespace berth::testing {
namespace {

#define BERTH_REQUIRE_ROOT_ETCD() \
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (the fixtures run as root)"

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    std::string why;
    cluster_ = EtcdCluster::start(1, &why).release();
    ASSERT_NE(cluster_, nullptr) << why;
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    BERTH_REQUIRE_ROOT_ETCD();
    ASSERT_NE(cluster_, nullptr);
  }

  static etcd::Options options(std::string user = "root",
                               std::string password = EtcdCluster::root_password()) {
    etcd::Options o;
    o.endpoints = {cluster_->endpoint(0)};
    o.ca_file = cluster_->ca();
    o.cert_file = cluster_->client_cert();
    o.key_file = cluster_->client_key();
    o.user = std::move(user);
    o.password = std::move(password);
    o.call_timeout = std::chrono::seconds(3);
    return o;
  }
  static std::unique_ptr<etcd::Client> root() {
    auto client = etcd::Client::connect(options());
    EXPECT_TRUE(client) << client.error().message();
    return client ? std::move(*client) : nullptr;
  }

  static EtcdCluster* cluster_;
};

EtcdCluster* EtcdClientTest::cluster_ = nullptr;

TEST_F(EtcdClientTest, PutGetPrefixDeleteAndTransactions) {
  auto client = root();
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->put("/t/kv/a", "1"));
  ASSERT_TRUE(client->put("/t/kv/b", "2"));
  ASSERT_TRUE(client->put("/t/kvx", "not under /t/kv/"));
  auto one = client->get("/t/kv/a");
  ASSERT_TRUE(one) << one.error().message();
  ASSERT_EQ(one->kvs.size(), 1u);
  EXPECT_EQ(one->kvs[0].value, "1");
  auto under = client->get("/t/kv/", true);
  ASSERT_TRUE(under);
  ASSERT_EQ(under->kvs.size(), 2u);
  EXPECT_EQ(under->kvs[1].key, "/t/kv/b");

  // A transaction that holds only if /t/kv/ is unchanged since it was read.
  using etcd::Compare;
  using etcd::Operation;
  std::vector<Compare> unchanged = {
      {"/t/kv/", Compare::Target::kModRevision, Compare::Op::kLess, under->revision + 1, "", true}};
  auto first = client->txn(unchanged, {{Operation::Kind::kPut, "/t/kv/c", "3"}},
                           {{Operation::Kind::kGet, "/t/kv/", "", 0, true}});
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_TRUE(first->succeeded);
  auto second = client->txn(unchanged, {{Operation::Kind::kPut, "/t/kv/d", "4"}},
                            {{Operation::Kind::kGet, "/t/kv/", "", 0, true}});
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->succeeded) << "a stale read must not win";
  ASSERT_EQ(second->gets.size(), 1u);
  EXPECT_EQ(second->gets[0].kvs.size(), 3u);

  auto removed = client->remove("/t/kv/", true);
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 3);
  EXPECT_EQ(client->get("/t/kvx")->kvs.size(), 1u);
}

TEST_F(EtcdClientTest, ALeasedKeyLivesWhileKeptAliveAndGoesWithItsLease) {
  auto client = root();
  ASSERT_TRUE(client);
  auto lease = client->grant_lease(std::chrono::seconds(5));
  ASSERT_TRUE(lease) << lease.error().message();
  ASSERT_TRUE(client->put("/t/lease/node", "up", *lease));
  auto ttl = client->keep_alive(*lease);
  ASSERT_TRUE(ttl) << ttl.error().message();
  EXPECT_GT(*ttl, 3);
  EXPECT_EQ(client->get("/t/lease/node")->kvs.at(0).lease, *lease);
  ASSERT_TRUE(client->revoke_lease(*lease));
  EXPECT_TRUE(client->get("/t/lease/node")->kvs.empty());
  auto expired = client->keep_alive(*lease);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code(), ErrorCode::kNotFound);
}

TEST_F(EtcdClientTest, AWatchSeesChangesFromARevisionAndStopsWhenCancelled) {
  auto client = root();
  ASSERT_TRUE(client);
  auto base = client->put("/t/watch/a", "before");
  ASSERT_TRUE(base);
  ASSERT_TRUE(client->put("/t/watch/b", "also before"));
  std::mutex mu;
  std::condition_variable cv;
  std::vector<etcd::WatchEvent> seen;
  etcd::WatchCanceller canceller;
  Status ended;
  std::thread watcher([&] {
    ended = client->watch(
        "/t/watch/", true, *base + 1,
        [&](int64_t, const std::vector<etcd::WatchEvent>& events) {
          std::lock_guard lock(mu);
          seen.insert(seen.end(), events.begin(), events.end());
          cv.notify_all();
        },
        canceller);
  });
  ASSERT_TRUE(client->remove("/t/watch/a"));
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return seen.size() >= 2; }));
    EXPECT_EQ(seen[0].kv.key, "/t/watch/b");  // from the start revision on
    EXPECT_EQ(seen[0].type, etcd::WatchEvent::Type::kPut);
    EXPECT_EQ(seen[1].kv.key, "/t/watch/a");
    EXPECT_EQ(seen[1].type, etcd::WatchEvent::Type::kDelete);
  }
  canceller.cancel();
  watcher.join();
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().code(), ErrorCode::kCancelled);
}

TEST_F(EtcdClientTest, AWatchFromACompactedRevisionSaysToListAgain) {
  auto client = root();
  ASSERT_TRUE(client);
  auto old = client->put("/t/compact/a", "1");
  ASSERT_TRUE(old);
  auto now = client->put("/t/compact/a", "2");
  ASSERT_TRUE(now);
  auto compacted = cluster_->etcdctl({"compact", std::to_string(*now)});
  ASSERT_EQ(compacted.exit_code, 0) << compacted.err;
  etcd::WatchCanceller canceller;
  int64_t oldest = 0;
  auto ended = client->watch(
      "/t/compact/", true, *old, [](int64_t, const auto&) {}, canceller, &oldest);
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().code(), ErrorCode::kFailedPrecondition) << ended.error().message();
  EXPECT_EQ(oldest, *now);
}

TEST_F(EtcdClientTest, AUserReadsAndWritesOnlyWhatItsRoleGrants) {
  auto client = root();
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->add_role("t-node-a"));
  ASSERT_TRUE(
      client->grant_permission("t-node-a", "/t/rbac/a/", true, etcd::Permission::kReadWrite));
  ASSERT_TRUE(client->add_user("t-node-a", "pw-a"));
  ASSERT_TRUE(client->grant_role("t-node-a", "t-node-a"));
  ASSERT_TRUE(client->put("/t/rbac/b/secret", "b's"));

  auto node_a = etcd::Client::connect(options("t-node-a", "pw-a"));
  ASSERT_TRUE(node_a) << node_a.error().message();
  EXPECT_TRUE((*node_a)->put("/t/rbac/a/x", "mine"));
  auto read_b = (*node_a)->get("/t/rbac/b/secret");
  ASSERT_FALSE(read_b);
  EXPECT_EQ(read_b.error().code(), ErrorCode::kPermissionDenied) << read_b.error().message();
  auto write_b = (*node_a)->put("/t/rbac/b/secret", "overwritten");
  ASSERT_FALSE(write_b);
  EXPECT_EQ(write_b.error().code(), ErrorCode::kPermissionDenied);
  etcd::WatchCanceller canceller;
  auto watch_b = (*node_a)->watch(
      "/t/rbac/b/", true, 0, [](int64_t, const auto&) {}, canceller);
  ASSERT_FALSE(watch_b);
  EXPECT_EQ(watch_b.error().code(), ErrorCode::kPermissionDenied) << watch_b.error().message();
  EXPECT_EQ(client->get("/t/rbac/b/secret")->kvs.at(0).value, "b's");
  EXPECT_TRUE(client->delete_user("t-node-a"));
  EXPECT_TRUE(client->delete_role("t-node-a"));
}

TEST_F(EtcdClientTest, BadCredentialsAndEndpointsGiveOneClearError) {
  auto wrong_password = etcd::Client::connect(options("root", "not-the-password"));
  ASSERT_FALSE(wrong_password);
  EXPECT_EQ(wrong_password.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(wrong_password.error().message().find("authenticate 'root'"), std::string::npos)
      << wrong_password.error().message();
  EXPECT_NE(wrong_password.error().message().find("invalid user ID or password"),
            std::string::npos);

  auto wrong_ca = options();
  wrong_ca.ca_file = cluster_->other_ca();
  auto refused = etcd::Client::connect(wrong_ca);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(refused.error().message().find("certificate verify failed"), std::string::npos)
      << refused.error().message();
  EXPECT_NE(refused.error().message().find(cluster_->endpoint(0)), std::string::npos)
      << refused.error().message();

  auto unreachable = options();
  unreachable.endpoints = {"https://127.0.0.1:" + std::to_string(free_loopback_port())};
  auto nobody = etcd::Client::connect(unreachable);
  ASSERT_FALSE(nobody);
  EXPECT_EQ(nobody.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(nobody.error().message().find(unreachable.endpoints[0]), std::string::npos);

  auto missing_ca = options();
  missing_ca.ca_file = cluster_->dir() + "/no-such-ca.pem";
  auto no_file = etcd::Client::connect(missing_ca);
  ASSERT_FALSE(no_file);
  EXPECT_NE(no_file.error().message().find("no-such-ca.pem"), std::string::npos);

  auto bad_url = options();
  bad_url.endpoints = {"ftp://127.0.0.1:1"};
  auto bad = etcd::Client::connect(bad_url);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(EtcdClientTest, ADeadEndpointIsSkippedForALiveOne) {
  auto o = options();
  std::string dead = "https://127.0.0.1:" + std::to_string(free_loopback_port());
  o.endpoints = {dead, cluster_->endpoint(0)};
  auto client = etcd::Client::connect(o);
  ASSERT_TRUE(client) << client.error().message();
  EXPECT_TRUE((*client)->put("/t/failover", "ok"));
  EXPECT_EQ((*client)->endpoint(), cluster_->endpoint(0));
}

}  // namespace
}  // namespace berth::testing
