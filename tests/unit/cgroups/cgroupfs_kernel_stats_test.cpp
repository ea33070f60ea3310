// TaskStats from the real cgroup v1 hierarchies of a v1 or hybrid host:
// root only (skipped otherwise, and on a v2 host, whose stats the stand-in
// tree covers). Everything lives under a private parent
// "berth-unit-stats-<pid>" that TearDown removes from every hierarchy.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "cgroups/cgroupfs.h"
#include "cgroups/cgroupfs_v1.h"
#include "cgroups/layout.h"

extern char** environ;

namespace berth::cgroups {
namespace {

constexpr uint64_t kMiB = uint64_t{1024} * 1024;

// A `sleep` child, killed and reaped when it goes out of scope.
class Sleeper {
 public:
  Sleeper() {
    const char* argv[] = {"sleep", "600", nullptr};
    if (::posix_spawnp(&pid_, "sleep", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
      pid_ = -1;
    }
  }
  Sleeper(const Sleeper&) = delete;
  Sleeper& operator=(const Sleeper&) = delete;
  ~Sleeper() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

class CgroupV1KernelStatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (cgroups)";
    auto layout = detect_host_layout();
    ASSERT_TRUE(layout) << layout.error().message();
    if (layout->kind == LayoutKind::kV2) GTEST_SKIP() << "no cgroup v1 on this host";
    for (const char* controller : {"cpu", "cpuacct", "memory", "pids"}) {
      if (!layout->v1.contains(controller)) GTEST_SKIP() << "cgroup v1 " << controller << " absent";
    }
    roots_ = layout->v1;
  }

  void TearDown() override {
    for (const auto& [controller, mount] : roots_) {
      auto removed = remove_cgroup_tree(mount + "/" + parent_);
      EXPECT_TRUE(removed) << removed.error().message();
      EXPECT_FALSE(std::filesystem::exists(mount + "/" + parent_)) << "left in " << mount;
    }
  }

  V1Roots roots_;
  std::string parent_ = "berth-unit-stats-" + std::to_string(::getpid());
};

TEST_F(CgroupV1KernelStatsTest, ReadsTheKernelsFiles) {
  CgroupfsV1Manager cgroups(roots_, parent_);
  auto created =
      cgroups.create_task("t1", {.cpu_units = 256, .memory_bytes = 64 * kMiB, .pids = 100});
  ASSERT_TRUE(created) << created.error().message();
  ASSERT_TRUE(cgroups.set_container_limits("t1", "c1", {.cpu_units = 512}));
  {
    Sleeper sleeper;
    ASSERT_GT(sleeper.pid(), 0);
    for (const char* controller : {"cpu", "cpuacct", "memory", "pids"}) {
      std::string procs = roots_.at(controller) + "/" + parent_ + "/t1/c1/cgroup.procs";
      ASSERT_TRUE(write_control(procs, std::to_string(sleeper.pid()))) << controller;
    }
    auto task = cgroups.stats("t1");
    ASSERT_TRUE(task) << task.error().message();
    EXPECT_EQ(task->cpu_quota_us, 25000);
    EXPECT_EQ(task->cpu_period_us, 100000u);
    EXPECT_EQ(task->cpu_shares, 1024u);
    EXPECT_EQ(task->memory_limit_bytes, 64 * kMiB);
    EXPECT_EQ(task->pids_limit, 100u);
    EXPECT_GE(task->pids_current, 1u);
    EXPECT_GT(task->memory_usage_bytes, 0u);
    EXPECT_LE(task->memory_working_set_bytes, task->memory_usage_bytes);
    EXPECT_GE(task->memory_max_usage_bytes, task->memory_usage_bytes);
    EXPECT_EQ(task->oom_events, 0u);

    auto container = cgroups.container_stats("t1", "c1");
    ASSERT_TRUE(container) << container.error().message();
    EXPECT_EQ(container->cpu_shares, 512u);
    EXPECT_EQ(container->cpu_quota_us, -1);
    EXPECT_EQ(container->memory_limit_bytes, std::nullopt) << "the kernel's unlimited value";
    EXPECT_EQ(container->pids_limit, std::nullopt);
    EXPECT_EQ(container->pids_current, 1u);
  }
  auto missing = cgroups.container_stats("t1", "c2");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(cgroups.remove_task("t1"));
}

}  // namespace
}  // namespace berth::cgroups
