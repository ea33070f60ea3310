// A berthd that crashes (kill -9) adopts its running containers, finishes
// or rolls back what it was doing, and removes what no task owns.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "fixtures/task_fixture.h"
#include "runtime/containerd.h"
#include "runtime/exec_process.h"

namespace berth::testing {
namespace {

using nlohmann::json;

TEST_F(TaskTest, BerthdCrashAdoptsRunningContainersWithoutRestartingThem) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(run({{"family", "crash" + std::to_string(i)},
                       {"containerDefinitions", {busybox("main", {"sleep", "100000"})}}}));
  }
  std::map<std::string, int64_t> pids;
  for (const auto& id : ids) {
    json task = wait_status(id, "RUNNING");
    pids[id] = container(task, "main")["pid"].get<int64_t>();
    ASSERT_GT(pids[id], 0);
  }
  berthd_->kill(SIGKILL);
  // A container exits while berthd is down.
  ASSERT_EQ(::kill(static_cast<pid_t>(pids[ids[0]]), SIGKILL), 0);
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();

  json first = wait_status(ids[0], "STOPPED");
  EXPECT_EQ(container(first, "main")["exitCode"], 137);
  EXPECT_EQ(first["stopCode"], "EssentialContainerExited");
  for (size_t i = 1; i < ids.size(); ++i) {
    json task = describe(ids[i]);
    EXPECT_EQ(task["status"], "RUNNING");
    EXPECT_EQ(container(task, "main")["pid"].get<int64_t>(), pids[ids[i]])
        << "the container was restarted";
    EXPECT_EQ(::kill(static_cast<pid_t>(pids[ids[i]]), 0), 0) << "the container is gone";
  }
}

TEST_F(TaskTest, KillNineDuringStartUpAndTeardownIsFinishedOnRestart) {
  auto definition = [](int i) {
    return json{{"family", "crash10-" + std::to_string(i)},
                {"containerDefinitions",
                 {busybox("first", {"sleep", "100000"}), [] {
                    json second = busybox("second", {"sleep", "100000"});
                    second["dependsOn"] = {{{"containerName", "first"}, {"condition", "START"}}};
                    return second;
                  }()}}};
  };
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(run(definition(i)));
  // Start-up is under way for most of them: pulls, creates, starts.
  berthd_->kill(SIGKILL);
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  std::map<std::string, int64_t> pids;
  for (const auto& id : ids) {
    json task = wait_status(id, "RUNNING");
    for (const char* name : {"first", "second"}) {
      pids[id + name] = container(task, name)["pid"].get<int64_t>();
      EXPECT_GT(pids[id + name], 0) << id << " " << name;
    }
  }
  // Teardown under way for half of them.
  for (size_t i = 0; i < 5; ++i)
    ASSERT_EQ(berthd_->ctl({"stop", "--no-wait", ids[i]}).exit_code, 0);
  berthd_->kill(SIGKILL);
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i < 5) {
      json task = wait_status(ids[i], "STOPPED");
      EXPECT_EQ(task["stopCode"], "UserInitiated");
      EXPECT_EQ(container(task, "first")["exitCode"], 137);
    } else {
      json task = describe(ids[i]);
      EXPECT_EQ(task["status"], "RUNNING");
      for (const char* name : {"first", "second"}) {
        EXPECT_EQ(container(task, name)["pid"].get<int64_t>(), pids[ids[i] + name])
            << "a running container was restarted by a berthd restart";
        EXPECT_EQ(container(task, name)["restartCount"], 0);
      }
    }
  }
  // The log says what the restart had to finish.
  EXPECT_NE(berthd_->log_text().find("adopted container"), std::string::npos);
}

TEST_F(TaskTest, ContainersNoTaskOwnsAreRemovedAtStart) {
  std::string id =
      run({{"family", "orphan"}, {"containerDefinitions", {busybox("main", {"sleep", "100000"})}}});
  wait_status(id, "RUNNING");
  berthd_->kill(SIGKILL);
  // The checkpoint is lost: the container is nobody's now.
  std::filesystem::remove(berthd_->root() + "/tasks/" + id + ".json");
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  EXPECT_EQ(berthd_->leftovers(), "");
  EXPECT_NE(berthd_->log_text().find("no task owns it"), std::string::npos);
}

TEST_F(TaskTest, BerthdCrashAdoptsTheSandboxAndItsContainers) {
  json a = busybox("a", {"sleep", "100000"});
  json b = busybox("b", {"sleep", "100001"});
  std::string id = run({{"family", "sandboxcrash"},
                        {"pidMode", "task"},
                        {"ipcMode", "task"},
                        {"containerDefinitions", {a, b}}});
  json task = wait_status(id, "RUNNING");
  int64_t pid_a = container(task, "a")["pid"].get<int64_t>();
  int64_t pid_b = container(task, "b")["pid"].get<int64_t>();
  int64_t sandbox = containerd_pid(*berthd_, id + ".sandbox");
  ASSERT_GT(sandbox, 0);

  berthd_->kill(SIGKILL);
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  task = wait_status(id, "RUNNING");
  EXPECT_EQ(container(task, "a")["pid"].get<int64_t>(), pid_a);
  EXPECT_EQ(container(task, "b")["pid"].get<int64_t>(), pid_b);
  EXPECT_EQ(containerd_pid(*berthd_, id + ".sandbox"), sandbox) << "the sandbox was restarted";
  for (int64_t pid : {pid_a, pid_b, sandbox}) {
    EXPECT_EQ(::kill(static_cast<pid_t>(pid), 0), 0) << "pid " << pid << " is gone";
  }
  EXPECT_NE(berthd_->log_text().find("adopted its sandbox"), std::string::npos);

  ASSERT_EQ(berthd_->ctl({"stop", id}).exit_code, 0);
  EXPECT_EQ(berthd_->leftovers(), "");
}

TEST_F(TaskTest, KillNineDuringSandboxedStartUpIsFinishedOnRestart) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(run({{"family", "sandboxed" + std::to_string(i)},
                       {"pidMode", "task"},
                       {"ipcMode", "task"},
                       {"containerDefinitions", {busybox("main", {"sleep", "100000"})}}}));
  }
  // Kill berthd once the first sandbox exists: the others are being made.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (env().ctr(berthd_->ns(), {"containers", "ls", "-q"}).out.find(".sandbox") ==
             std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  berthd_->kill(SIGKILL);
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  for (const auto& id : ids) wait_status(id, "RUNNING");
  // One sandbox per task, however far its creation had come.
  auto listed = env().ctr(berthd_->ns(), {"containers", "ls", "-q"});
  for (const auto& id : ids) {
    EXPECT_GT(containerd_pid(*berthd_, id + ".sandbox"), 0) << id << "\n" << listed.out;
  }
  EXPECT_EQ(env().count(berthd_->ns(), {"containers", "ls", "-q"}), 2 * ids.size()) << listed.out;
  for (const auto& id : ids) ASSERT_EQ(berthd_->ctl({"stop", id}).exit_code, 0);
  EXPECT_EQ(berthd_->leftovers(), "");
  std::string sandboxes = berthd_->root() + "/../state/sandboxes";
  EXPECT_TRUE(!std::filesystem::exists(sandboxes) || std::filesystem::is_empty(sandboxes));
}

}  // namespace
}  // namespace berth::testing
