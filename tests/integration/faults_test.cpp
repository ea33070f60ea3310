// Faults other than a crash, survived rather than amplified: damaged
// checkpoints are quarantined and their containers left running; a full
// disk holds steps back until a checkpoint can be written, never tears
// one; containerd going away for a minute fails no task.
#include <signal.h>
#include <sys/mount.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "fixtures/task_fixture.h"

namespace berth::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

json sleeper(const std::string& family) {
  return {{"family", family},
          {"networkMode", "none"},
          {"containerDefinitions",
           {{{"name", "main"},
             {"image", "busybox:latest"},
             {"command", {"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"}}}}}};
}

class FaultsTest : public TaskTest {};

TEST_F(FaultsTest, DamagedCheckpointsAreQuarantinedAndTheirContainersKeepRunning) {
  std::map<std::string, int64_t> pids;
  std::vector<std::string> ids;
  for (const char* family : {"intact", "truncated", "garbled"}) {
    ids.push_back(run(sleeper(family)));
    pids[ids.back()] = container(wait_status(ids.back(), "RUNNING"), "main")["pid"];
  }
  berthd_->kill(SIGKILL);
  std::string truncated = berthd_->root() + "/tasks/" + ids[1] + ".json";
  std::string whole = read_file(truncated);
  std::ofstream(truncated, std::ios::trunc) << whole.substr(0, whole.size() / 2);
  std::ofstream(berthd_->root() + "/tasks/" + ids[2] + ".json", std::ios::trunc)
      << "\x01\x02 not a checkpoint";
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();

  json intact = wait_status(ids[0], "RUNNING");
  EXPECT_EQ(container(intact, "main")["pid"], pids[ids[0]]) << "adopted, not restarted";
  for (size_t i = 1; i < 3; ++i) {
    json task = describe(ids[i]);
    EXPECT_EQ(task["status"], "QUARANTINED") << task.dump(2);
    EXPECT_FALSE(task["quarantineReason"].get<std::string>().empty());
    EXPECT_TRUE(fs::exists(task["quarantineFile"].get<std::string>())) << "the file is kept";
    EXPECT_EQ(::kill(static_cast<pid_t>(pids[ids[i]]), 0), 0)
        << "its container was removed as unowned";
  }
  auto ps = berthd_->ctl({"ps"});
  EXPECT_NE(ps.out.find("QUARANTINED"), std::string::npos) << ps.out;
  auto stop = berthd_->ctl({"stop", ids[1]});
  EXPECT_NE(stop.exit_code, 0) << "berth does not manage a quarantined task";
  EXPECT_NE(stop.err.find("quarantined"), std::string::npos) << stop.err;
  // A second restart still keeps them aside and running.
  berthd_->kill(SIGKILL);
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  EXPECT_EQ(describe(ids[1])["status"], "QUARANTINED");
  EXPECT_EQ(::kill(static_cast<pid_t>(pids[ids[1]]), 0), 0);
  // rm clears a quarantined task with everything it held.
  for (size_t i = 1; i < 3; ++i) {
    auto rm = berthd_->ctl({"rm", ids[i]});
    EXPECT_EQ(rm.exit_code, 0) << rm.err;
    EXPECT_NE(describe(ids[i]).value("error", ""), "");
  }
  EXPECT_EQ(describe(ids[0])["status"], "RUNNING");
}

// The checkpoint directory on a small filesystem of the test's own, filled
// up while a task runs.
class FullDiskTest : public TaskTest {
 protected:
  void SetUp() override {
    TaskTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    // berthd keeps running from this root on a 16 MiB tmpfs: stop it, mount
    // one over its root with what it holds, start it again.
    berthd_->kill(SIGTERM);
    root_ = berthd_->root();
    std::string saved = root_ + ".saved";
    fs::rename(root_, saved);
    fs::create_directories(root_);
    ASSERT_EQ(::mount("tmpfs", root_.c_str(), "tmpfs", 0, "size=16m,mode=0700"), 0);
    mounted_ = true;
    fs::copy(saved, root_, fs::copy_options::recursive);
    fs::remove_all(saved);
    ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  }
  void TearDown() override {
    release_space();
    TaskTest::TearDown();
    if (mounted_) ::umount2(root_.c_str(), MNT_DETACH);
  }
  void fill() {
    std::ofstream filler(root_ + "/filler", std::ios::binary);
    std::string chunk(1 << 16, 'x');
    while (filler.write(chunk.data(), static_cast<std::streamsize>(chunk.size()))) {
    }
  }
  void release_space() { fs::remove(root_ + "/filler"); }
  std::string root_;
  bool mounted_ = false;
};

TEST_F(FullDiskTest, RunsAreRefusedStopsWaitForSpaceAndNothingIsHalfWritten) {
  std::string id = run(sleeper("full"));
  int64_t pid = container(wait_status(id, "RUNNING"), "main")["pid"];
  std::string checkpoint = root_ + "/tasks/" + id + ".json";
  fill();

  // A new task is refused, with the reason, and nothing of it is made.
  std::ofstream(berthd_->dir() + "/more.json") << sleeper("more").dump();
  auto refused = berthd_->ctl({"run", "-f", berthd_->dir() + "/more.json"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("No space left on device"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("checkpoint"), std::string::npos) << refused.err;
  // Reads are served.
  auto ps = berthd_->ctl({"-o", "json", "ps", "-a"});
  ASSERT_EQ(ps.exit_code, 0) << ps.err;
  EXPECT_EQ(json::parse(ps.out)["tasks"].size(), 1u) << ps.out;

  // A stop cannot be made durable: berthctl says so, and nothing is done
  // that a crash could misread (the container still runs).
  auto stop = berthd_->ctl({"stop", "--no-wait", id});
  EXPECT_NE(stop.exit_code, 0);
  EXPECT_NE(stop.err.find("not yet durable"), std::string::npos) << stop.err;
  json task = describe(id);
  EXPECT_NE(task["checkpointError"].get<std::string>().find("No space left on device"),
            std::string::npos);
  EXPECT_EQ(container(task, "main")["status"], "RUNNING");
  EXPECT_EQ(::kill(static_cast<pid_t>(pid), 0), 0);
  // The checkpoint on disk is whole: the last one that was written.
  auto on_disk = json::parse(read_file(checkpoint), nullptr, false);
  ASSERT_FALSE(on_disk.is_discarded()) << read_file(checkpoint);
  EXPECT_EQ(on_disk["desired"], "RUNNING");
  EXPECT_FALSE(fs::exists(checkpoint + ".tmp"));

  // Space comes back: the stop becomes durable without being asked again.
  release_space();
  ASSERT_TRUE(wait_for_file_content(checkpoint, "UserInitiated", std::chrono::seconds(30)))
      << berthd_->log_text();
  // A crash now: the restarted berthd reads the stop as the user's.
  berthd_->kill(SIGKILL);
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  task = wait_status(id, "STOPPED");
  EXPECT_EQ(task["stopCode"], "UserInitiated");
  EXPECT_EQ(task["stoppedReason"], "Task stopped by the user");
  EXPECT_EQ(task["checkpointError"], "");
}

TEST_F(FaultsTest, ContainerdAwayForAMinuteFailsNoTask) {
  std::string steady = run(sleeper("steady"));
  std::string exiting = run(sleeper("exiting"));
  int64_t steady_pid = container(wait_status(steady, "RUNNING"), "main")["pid"];
  int64_t exiting_pid = container(wait_status(exiting, "RUNNING"), "main")["pid"];

  ASSERT_TRUE(env().stop_containerd());
  ASSERT_TRUE(wait_for_file_content(berthd_->log(), "lost containerd", std::chrono::seconds(10)))
      << berthd_->log_text();
  // Tasks submitted while it is away are taken.
  std::vector<std::string> late;
  for (int i = 0; i < 2; ++i) late.push_back(run(sleeper("late" + std::to_string(i))));
  // A container exits while nobody can hear it.
  ASSERT_EQ(::kill(static_cast<pid_t>(exiting_pid), SIGKILL), 0);
  // The outage is the scenario: a minute without containerd.
  std::this_thread::sleep_for(std::chrono::seconds(60));
  for (const auto& id : late) EXPECT_NE(describe(id)["status"], "STOPPED") << describe(id).dump(2);

  auto returned = std::chrono::steady_clock::now();
  ASSERT_TRUE(env().start_containerd());
  json first = wait_status(late[0], "RUNNING");
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - returned);
  std::cout << "first late task RUNNING " << took.count() << " ms after containerd's return\n";
  wait_status(late[1], "RUNNING");
  // A bound that gRPC's own reconnect back-off (20 s and more) would break;
  // bench/ measures, not this.
  EXPECT_LT(took, std::chrono::seconds(5));

  json still = describe(steady);
  EXPECT_EQ(still["status"], "RUNNING");
  EXPECT_EQ(container(still, "main")["pid"], steady_pid);
  json ended = wait_status(exiting, "STOPPED");
  EXPECT_EQ(container(ended, "main")["exitCode"], 137) << "the exit during the outage counts";
  EXPECT_NE(berthd_->log_text().find("containerd is back after"), std::string::npos);
}

}  // namespace
}  // namespace berth::testing
