// EventMonitor against a fake containerd: events reach the sink and the
// waiters, and containerd going away and coming back is reported and
// followed by a reconciliation.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "github.com/containerd/containerd/api/events/task.pb.h"
#include "runtime/events.h"
#include "runtime/fake_containerd.h"

namespace berth::runtime {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using testing::FakeContainerd;

constexpr seconds kPatience{5};

// What the monitor reported, in order.
class RecordingSink final : public EventSink {
 public:
  void on_task_event(const TaskEvent& event) override {
    std::lock_guard lock(mu_);
    events_.push_back(event);
    log_.push_back("event " + event.container_id);
    cv_.notify_all();
  }
  void on_connection(bool connected, const std::string& detail) override {
    std::lock_guard lock(mu_);
    connections_.emplace_back(connected, detail);
    log_.emplace_back(connected ? "connected" : "lost");
    cv_.notify_all();
  }

  // The connection reports once there are `count` of them; empty on timeout.
  std::vector<std::pair<bool, std::string>> wait_connections(size_t count) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, kPatience, [&] { return connections_.size() >= count; })) return {};
    return connections_;
  }
  std::vector<TaskEvent> wait_events(size_t count) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, kPatience, [&] { return events_.size() >= count; })) return {};
    return events_;
  }
  std::vector<TaskEvent> events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  std::vector<std::string> log() {
    std::lock_guard lock(mu_);
    return log_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<TaskEvent> events_;
  std::vector<std::pair<bool, std::string>> connections_;
  std::vector<std::string> log_;
};

containerd::events::TaskExit task_exit(const std::string& container_id, const std::string& id,
                                       uint32_t pid, uint32_t status) {
  containerd::events::TaskExit exit;
  exit.set_container_id(container_id);
  exit.set_id(id);
  exit.set_pid(pid);
  exit.set_exit_status(status);
  exit.mutable_exited_at()->set_seconds(1);
  return exit;
}

class EventMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "berth-events-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    fake_ = std::make_unique<FakeContainerd>(dir_);
    ASSERT_TRUE(fake_->start());
    auto connected = Containerd::connect(fake_->socket_path(), "test", seconds(5));
    ASSERT_TRUE(connected) << connected.error().message();
    containerd_ = std::move(*connected);
    containers_ = std::make_unique<ContainerService>(
        *containerd_, ContainerRuntimeConfig{"/nonexistent/berth-logger", dir_ + "/logs", dir_});
    monitor_ = std::make_unique<EventMonitor>(*containerd_, *containers_);
    monitor_->set_sink(&sink_);
  }
  void TearDown() override {
    monitor_.reset();
    containers_.reset();
    containerd_.reset();
    fake_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void start_and_wait_connected() {
    monitor_->start();
    auto connections = sink_.wait_connections(1);
    ASSERT_EQ(connections.size(), 1u);
    ASSERT_TRUE(connections[0].first) << connections[0].second;
  }

  void publish_exit(const containerd::events::TaskExit& exit) {
    fake_->publish("/tasks/exit", "containerd.events.TaskExit", exit);
  }

  std::string dir_;
  std::unique_ptr<FakeContainerd> fake_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ContainerService> containers_;
  RecordingSink sink_;
  std::unique_ptr<EventMonitor> monitor_;
};

TEST_F(EventMonitorTest, FirstSubscriptionIsReportedConnected) {
  start_and_wait_connected();
  EXPECT_EQ(monitor_->subscriptions(), 1);
  EXPECT_TRUE(monitor_->wait_subscriptions(1, steady_clock::now()));
}

TEST_F(EventMonitorTest, ExitsAndOomsReachSinkAndWaiters) {
  monitor_->watch("c1");
  start_and_wait_connected();

  containerd::events::TaskOOM oom;
  oom.set_container_id("c1");
  fake_->publish("/tasks/oom", "containerd.events.TaskOOM", oom);
  // An exec's exit is reported but does not end the container.
  publish_exit(task_exit("c1", "exec-1", 11, 1));
  publish_exit(task_exit("c1", "c1", 10, 7));

  bool killed_for_memory = false;
  auto exit = monitor_->wait_exit("c1", steady_clock::now() + kPatience, &killed_for_memory);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->code, 7u);
  EXPECT_EQ(exit->exited_at_unix_nanos, 1'000'000'000);
  EXPECT_TRUE(killed_for_memory);

  auto events = sink_.wait_events(3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kind, TaskEvent::Kind::kOom);
  EXPECT_EQ(events[1].exec_id, "exec-1");
  EXPECT_EQ(events[2].kind, TaskEvent::Kind::kExit);
  EXPECT_EQ(events[2].exec_id, "");
  EXPECT_EQ(events[2].pid, 10u);
}

TEST_F(EventMonitorTest, LossAndReturnOfContainerdAreReportedAndMissedExitsReconciled) {
  monitor_->watch("c1");
  start_and_wait_connected();

  fake_->stop();
  auto connections = sink_.wait_connections(2);
  ASSERT_EQ(connections.size(), 2u);
  EXPECT_FALSE(connections[1].first);
  EXPECT_FALSE(connections[1].second.empty());

  // The container exits while containerd (and so its event) is away.
  containerd::v1::types::Process stopped;
  stopped.set_status(containerd::v1::types::STOPPED);
  stopped.set_pid(10);
  stopped.set_exit_status(9);
  fake_->set_task("c1", stopped);
  std::this_thread::sleep_for(milliseconds(1500));  // a few failed attempts

  auto back = steady_clock::now();
  ASSERT_TRUE(fake_->start());
  connections = sink_.wait_connections(3);
  ASSERT_EQ(connections.size(), 3u);
  EXPECT_TRUE(connections[2].first) << connections[2].second;
  // The channel retries at most a second apart, the monitor follows it.
  EXPECT_LT(steady_clock::now() - back, seconds(3));
  EXPECT_EQ(monitor_->subscriptions(), 2);

  auto exit = monitor_->wait_exit("c1", steady_clock::now() + kPatience);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->code, 9u);
  // Reconciled before the subscription is reported back.
  EXPECT_EQ(sink_.log(), (std::vector<std::string>{"connected", "lost", "event c1", "connected"}));
}

TEST_F(EventMonitorTest, DetachedSinkIsNotCalled) {
  monitor_->watch("c1");
  start_and_wait_connected();
  monitor_->set_sink(nullptr);
  publish_exit(task_exit("c1", "c1", 10, 0));
  ASSERT_TRUE(monitor_->wait_exit("c1", steady_clock::now() + kPatience));
  EXPECT_TRUE(sink_.events().empty());
}

TEST_F(EventMonitorTest, StopEndsTheMonitorWhileContainerdIsAway) {
  start_and_wait_connected();
  fake_->stop();
  ASSERT_EQ(sink_.wait_connections(2).size(), 2u);
  auto stopping = steady_clock::now();
  monitor_->stop();
  EXPECT_LT(steady_clock::now() - stopping, seconds(2));
}

TEST_F(EventMonitorTest, ContainerdReachableFollowsTheConnection) {
  EXPECT_TRUE(containerd_->reachable(milliseconds(0)));
  fake_->stop();
  EXPECT_FALSE(containerd_->reachable(milliseconds(200)));
  ASSERT_TRUE(fake_->start());
  EXPECT_TRUE(containerd_->reachable(seconds(3)));
}

}  // namespace
}  // namespace berth::runtime
