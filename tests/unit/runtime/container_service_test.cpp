// ContainerService and SandboxService against a fake containerd: what they
// make of containerd's answers.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "github.com/containerd/containerd/runtime/v2/runc/options/oci.pb.h"
#include "runtime/containerd.h"
#include "runtime/containerd_stubs.h"
#include "runtime/containers.h"
#include "runtime/fake_containerd.h"
#include "runtime/sandbox.h"

namespace berth::runtime {
namespace {

namespace fs = std::filesystem;
using containerd::v1::types::Process;
using testing::FakeContainerd;

class ContainerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "berth-fake-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    fake_ = std::make_unique<FakeContainerd>(dir_);
    ASSERT_TRUE(fake_->start());
    auto connected = Containerd::connect(fake_->socket_path(), "test", std::chrono::seconds(5));
    ASSERT_TRUE(connected) << connected.error().message();
    containerd_ = std::move(*connected);
    containers_ = std::make_unique<ContainerService>(
        *containerd_, ContainerRuntimeConfig{"/nonexistent/berth-logger", dir_ + "/logs", dir_});
  }
  void TearDown() override {
    containers_.reset();
    containerd_.reset();
    fake_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static Process process(containerd::v1::types::Status status, uint32_t pid) {
    Process p;
    p.set_status(status);
    p.set_pid(pid);
    return p;
  }

  std::string dir_;
  std::unique_ptr<FakeContainerd> fake_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ContainerService> containers_;
};

TEST(ProcessStateTest, NamesAreLowerCase) {
  EXPECT_EQ(process_state_name(ProcessState::kUnknown), "unknown");
  EXPECT_EQ(process_state_name(ProcessState::kCreated), "created");
  EXPECT_EQ(process_state_name(ProcessState::kRunning), "running");
  EXPECT_EQ(process_state_name(ProcessState::kStopped), "stopped");
  EXPECT_EQ(process_state_name(ProcessState::kPaused), "paused");
  EXPECT_EQ(process_state_name(ProcessState::kPausing), "pausing");
}

TEST(ProcessStateTest, FromContainerdStatus) {
  EXPECT_EQ(to_process_state(containerd::v1::types::UNKNOWN), ProcessState::kUnknown);
  EXPECT_EQ(to_process_state(containerd::v1::types::CREATED), ProcessState::kCreated);
  EXPECT_EQ(to_process_state(containerd::v1::types::RUNNING), ProcessState::kRunning);
  EXPECT_EQ(to_process_state(containerd::v1::types::STOPPED), ProcessState::kStopped);
  EXPECT_EQ(to_process_state(containerd::v1::types::PAUSED), ProcessState::kPaused);
  EXPECT_EQ(to_process_state(containerd::v1::types::PAUSING), ProcessState::kPausing);
  EXPECT_EQ(to_process_state(static_cast<containerd::v1::types::Status>(99)),
            ProcessState::kUnknown)
      << "a state newer than berth";
}

TEST_F(ContainerServiceTest, TaskStatusOfRunningTask) {
  fake_->set_task("c1", process(containerd::v1::types::RUNNING, 1234));
  auto state = containers_->task_status("c1");
  ASSERT_TRUE(state) << state.error().message();
  EXPECT_EQ(state->state, ProcessState::kRunning);
  EXPECT_EQ(state->pid, 1234u);
}

TEST_F(ContainerServiceTest, TaskStatusOfStoppedTaskHasItsExit) {
  Process stopped = process(containerd::v1::types::STOPPED, 77);
  stopped.set_exit_status(3);
  stopped.mutable_exited_at()->set_seconds(5);
  stopped.mutable_exited_at()->set_nanos(6);
  fake_->set_task("c1", stopped);
  auto state = containers_->task_status("c1");
  ASSERT_TRUE(state) << state.error().message();
  EXPECT_EQ(state->state, ProcessState::kStopped);
  EXPECT_EQ(state->pid, 77u);
  EXPECT_EQ(state->exit.code, 3u);
  EXPECT_EQ(state->exit.exited_at_unix_nanos, 5'000'000'006);
}

TEST_F(ContainerServiceTest, TaskStatusWithoutTaskIsNotFound) {
  auto state = containers_->task_status("absent");
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().code(), ErrorCode::kNotFound);
}

TEST_F(ContainerServiceTest, SandboxStatusIsTheTaskStatus) {
  SandboxService sandboxes(*containers_, SandboxConfig{"/nonexistent/berth-pause", dir_, dir_});
  fake_->set_task("t.sandbox", process(containerd::v1::types::CREATED, 9));
  auto state = sandboxes.status("t.sandbox");
  ASSERT_TRUE(state) << state.error().message();
  EXPECT_EQ(state->state, ProcessState::kCreated);
  EXPECT_EQ(state->pid, 9u);
  EXPECT_EQ(sandboxes.status("other").error().code(), ErrorCode::kNotFound);
}

// What containerd 1.6 answers when an earlier Create's bundle directory is
// still there: a plain error from the shim manager, which gRPC sends as
// UNKNOWN.
grpc::Status bundle_exists(const std::string& id) {
  return {grpc::StatusCode::UNKNOWN,
          "failed to start shim: mkdir /run/containerd/io.containerd.runtime.v2.task/test/" + id +
              ": file exists"};
}

TEST(CreateMaySettleTest, DecidesOnCodesAndTheFlagOnly) {
  EXPECT_TRUE(create_may_settle(grpc::StatusCode::ALREADY_EXISTS, false));
  EXPECT_FALSE(create_may_settle(grpc::StatusCode::UNKNOWN, false));
  EXPECT_FALSE(create_may_settle(grpc::StatusCode::INVALID_ARGUMENT, false));
  EXPECT_FALSE(create_may_settle(grpc::StatusCode::DEADLINE_EXCEEDED, false));
  EXPECT_TRUE(create_may_settle(grpc::StatusCode::UNKNOWN, true));
  EXPECT_TRUE(create_may_settle(grpc::StatusCode::FAILED_PRECONDITION, true));
}

TEST_F(ContainerServiceTest, CreateRetriesWhileTheEarlierTaskExists) {
  fake_->queue_create_results(
      {grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "task c1: already exists")});
  auto pid = containers_->create_without_image("c1", nlohmann::json::object(), {});
  ASSERT_TRUE(pid) << pid.error().message();
  EXPECT_EQ(*pid, FakeContainerd::kCreatedPid);
  EXPECT_EQ(fake_->create_calls(), 2);
  EXPECT_GE(fake_->delete_task_calls(), 1) << "the stale task is deleted before the retry";
}

TEST_F(ContainerServiceTest, CreateDoesNotRetryOnMessageText) {
  // Without an interrupted earlier Create, a bundle in the way is an error
  // to report, whatever its message says.
  fake_->queue_create_results({bundle_exists("c1")});
  auto pid = containers_->create_without_image("c1", nlohmann::json::object(), {});
  ASSERT_FALSE(pid);
  EXPECT_EQ(pid.error().code(), ErrorCode::kInternal);
  EXPECT_NE(pid.error().message().find("file exists"), std::string::npos);
  EXPECT_EQ(fake_->create_calls(), 1);
}

TEST_F(ContainerServiceTest, CreateAfterInterruptedCreateRetriesAnyFailure) {
  fake_->queue_create_results(
      {bundle_exists("c1"), grpc::Status(grpc::StatusCode::UNKNOWN, "runc: container exists")});
  auto pid = containers_->create_without_image("c1", nlohmann::json::object(), {},
                                               /*after_interrupted_create=*/true);
  ASSERT_TRUE(pid) << pid.error().message();
  EXPECT_EQ(*pid, FakeContainerd::kCreatedPid);
  EXPECT_EQ(fake_->create_calls(), 3);
}

TEST_F(ContainerServiceTest, CreateDoesNotRetryOtherFailures) {
  fake_->queue_create_results(
      {grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad spec"), grpc::Status::OK});
  auto pid = containers_->create_without_image("c1", nlohmann::json::object(), {});
  ASSERT_FALSE(pid);
  EXPECT_EQ(pid.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(fake_->create_calls(), 1);
}

TEST_F(ContainerServiceTest, ASystemdCgroupsPathRunsRuncInItsSystemdCgroupMode) {
  auto spec = nlohmann::json::object();
  ASSERT_TRUE(containers_->create_without_image("c1", spec, {}, false,
                                                "berth-0123456789ab.slice:berth:c1"));
  auto options = fake_->last_create_options();
  EXPECT_EQ(options.type_url(), "containerd.runc.v1.Options");
  containerd::runc::v1::Options runc;
  ASSERT_TRUE(runc.ParseFromString(options.value()));
  EXPECT_TRUE(runc.systemd_cgroup());
  EXPECT_EQ(runc.binary_name(), "") << "plain runc";

  ASSERT_TRUE(containers_->create_without_image("c2", spec, {}, false, "/berth/t/c2"));
  EXPECT_EQ(fake_->last_create_options().type_url(), "") << "cgroupfs: the shim's defaults";
}

}  // namespace
}  // namespace berth::runtime
