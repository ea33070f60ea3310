// ContainerService and SandboxService against a fake containerd: what they
// make of containerd's answers.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "runtime/containerd.h"
#include "runtime/containers.h"
#include "runtime/sandbox.h"
#include "unit/fake_containerd.h"

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

}  // namespace
}  // namespace berth::runtime
