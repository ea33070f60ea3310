// The cgroup managers against the kernel: root, no containerd. The v1 test
// uses this machine's real hierarchies under a private parent
// "berth-test-<pid>"; the v2 test mounts cgroup2 on a temp directory.
//
// What the kernel allows for v2 on this hybrid host: mounting cgroup2
// anywhere gives the same hierarchy as /sys/fs/cgroup/unified, whose
// cgroup.controllers lists only hugetlb (cpu, memory and pids are bound to
// v1), and "+cpu" in cgroup.subtree_control fails with ENOENT. Child
// cgroups can be made, processes moved in and cgroups removed, so the v2
// test covers the directory lifecycle (listing, removal, a busy cgroup) and
// the error naming the missing controllers; limits on v2 are covered by
// the unit tests' stand-in tree. TearDown removes the parent in every
// hierarchy and unmounts, so nothing is left behind.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cgroups/cgroupfs.h"
#include "cgroups/cgroupfs_v1.h"
#include "cgroups/cgroupfs_v2.h"
#include "cgroups/layout.h"

extern char** environ;

namespace berth::cgroups {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMiB = uint64_t{1024} * 1024;

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string value = text.str();
  while (!value.empty() && value.back() == '\n') value.pop_back();
  return value;
}

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
  ~Sleeper() { stop(); }
  pid_t pid() const { return pid_; }
  // Killed and reaped: the kernel has taken it out of its cgroups.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

bool move_into(const std::string& cgroup_dir, pid_t pid) {
  return write_control(cgroup_dir + "/cgroup.procs", std::to_string(pid)).has_value();
}

class CgroupV1KernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (cgroups)";
    auto layout = detect_host_layout();
    ASSERT_TRUE(layout) << layout.error().message();
    if (layout->kind == LayoutKind::kV2) GTEST_SKIP() << "no cgroup v1 on this host";
    roots_ = layout->v1;
    for (const char* controller : {"cpu", "cpuacct", "memory", "pids"}) {
      if (!roots_.contains(controller))
        GTEST_SKIP() << "cgroup v1 " << controller << " not mounted";
    }
  }

  void TearDown() override {
    for (const auto& [controller, mount] : roots_) {
      auto removed = remove_cgroup_tree(mount + "/" + parent_);
      EXPECT_TRUE(removed) << removed.error().message();
      EXPECT_FALSE(fs::exists(mount + "/" + parent_)) << "left behind in " << mount;
    }
  }

  std::string at(const std::string& controller, const std::string& relative) const {
    return roots_.at(controller) + "/" + parent_ + "/" + relative;
  }

  V1Roots roots_;
  std::string parent_ = "berth-test-" + std::to_string(::getpid());
};

TEST_F(CgroupV1KernelTest, TaskLimitsReachTheKernelAndRemovalWaitsForProcesses) {
  CgroupfsV1Manager cgroups(roots_, parent_);
  auto created =
      cgroups.create_task("t1", {.cpu_units = 256, .memory_bytes = 64 * kMiB, .pids = 100});
  ASSERT_TRUE(created) << created.error().message();
  EXPECT_EQ(read(at("cpu", "t1/cpu.cfs_quota_us")), "25000");
  EXPECT_EQ(read(at("cpu", "t1/cpu.cfs_period_us")), "100000");
  EXPECT_EQ(read(at("memory", "t1/memory.limit_in_bytes")), "67108864");
  EXPECT_EQ(read(at("pids", "t1/pids.max")), "100");

  auto set = cgroups.set_container_limits("t1", "c1",
                                          {.cpu_units = 512,
                                           .memory_bytes = 32 * kMiB,
                                           .memory_reservation_bytes = 16 * kMiB,
                                           .max_swap_bytes = 16 * kMiB,
                                           .swappiness = 10});
  ASSERT_TRUE(set) << set.error().message();
  EXPECT_EQ(read(at("cpu", "t1/c1/cpu.shares")), "512");
  EXPECT_EQ(read(at("memory", "t1/c1/memory.limit_in_bytes")), "33554432");
  EXPECT_EQ(read(at("memory", "t1/c1/memory.soft_limit_in_bytes")), "16777216");
  EXPECT_EQ(read(at("memory", "t1/c1/memory.swappiness")), "10");
  if (fs::exists(at("memory", "t1/c1/memory.memsw.limit_in_bytes"))) {
    EXPECT_EQ(read(at("memory", "t1/c1/memory.memsw.limit_in_bytes")), "50331648");
  }
  EXPECT_EQ(*cgroups.list_tasks(), std::vector<std::string>{"t1"});

  Sleeper sleeper;
  ASSERT_GT(sleeper.pid(), 0);
  for (const char* controller : {"cpu", "cpuacct", "memory", "pids"}) {
    ASSERT_TRUE(move_into(at(controller, "t1/c1"), sleeper.pid())) << controller;
  }
  auto stats = cgroups.stats("t1");
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_GT(stats->memory_usage_bytes, 0u);

  auto busy = cgroups.remove_task("t1");
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(busy.error().message().find(parent_ + "/t1/c1' still has processes"), std::string::npos)
      << busy.error().message();

  sleeper.stop();
  auto removed = cgroups.remove_task("t1");
  ASSERT_TRUE(removed) << removed.error().message();
  for (const auto& [controller, mount] : roots_) {
    EXPECT_FALSE(fs::exists(mount + "/" + parent_ + "/t1")) << controller;
  }
  EXPECT_TRUE(cgroups.list_tasks()->empty());
}

TEST_F(CgroupV1KernelTest, TheKernelRefusesAHalfWayValueAndNothingIsLeft) {
  CgroupfsV1Manager cgroups(roots_, parent_);
  // 2^63 pids: the kernel takes "max" or a number up to PID_MAX_LIMIT.
  auto created = cgroups.create_task("t1", {.cpu_units = 256, .pids = uint64_t{1} << 63});
  ASSERT_FALSE(created);
  EXPECT_NE(created.error().message().find("pids.max"), std::string::npos)
      << created.error().message();
  for (const auto& [controller, mount] : roots_) {
    EXPECT_FALSE(fs::exists(mount + "/" + parent_)) << controller;
  }
}

TEST_F(CgroupV1KernelTest, LeftoversAreFoundAndRemovedAtStart) {
  // A runtime's container cgroup in a hierarchy berth does not write.
  ASSERT_TRUE(fs::create_directories(at("devices", "stray/c1")));
  CgroupfsV1Manager cgroups(roots_, parent_);
  ASSERT_TRUE(cgroups.create_task("keep", {.pids = 10}));
  EXPECT_EQ(*cgroups.list_tasks(), (std::vector<std::string>{"keep", "stray"}));
  auto removed = remove_unowned_tasks(cgroups, {"keep"});
  ASSERT_TRUE(removed) << removed.error().message();
  EXPECT_EQ(*removed, std::vector<std::string>{"stray"});
  EXPECT_FALSE(fs::exists(at("devices", "stray")));
  EXPECT_TRUE(fs::exists(at("pids", "keep")));
}

class CgroupV2KernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mount cgroup2)";
    std::string pattern = (fs::temp_directory_path() / "berth-cgroup2-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    if (::mount("none", dir_.c_str(), "cgroup2", 0, nullptr) != 0) {
      int error = errno;
      ::rmdir(dir_.c_str());
      dir_.clear();
      GTEST_SKIP() << "the kernel refuses to mount cgroup2: " << std::strerror(error);
    }
    mounted_ = true;
    controllers_ = read(dir_ + "/cgroup.controllers");
    RecordProperty("cgroup2_controllers", controllers_);
  }

  void TearDown() override {
    if (dir_.empty()) return;
    if (mounted_) {
      auto removed = remove_cgroup_tree(dir_ + "/" + parent_);
      EXPECT_TRUE(removed) << removed.error().message();
      EXPECT_EQ(::umount(dir_.c_str()), 0) << std::strerror(errno);
    }
    EXPECT_EQ(::rmdir(dir_.c_str()), 0) << std::strerror(errno);
  }

  bool has_task_controllers() const {
    std::vector<std::string> words = split_words(controllers_);
    auto has = [&](const char* c) {
      return std::find(words.begin(), words.end(), c) != words.end();
    };
    return has("cpu") && has("memory") && has("pids");
  }

  std::string dir_;
  bool mounted_ = false;
  std::string controllers_;
  std::string parent_ = "berth-test-" + std::to_string(::getpid());
};

TEST_F(CgroupV2KernelTest, CreateTaskNamesTheControllersV1Holds) {
  CgroupfsV2Manager cgroups(dir_, parent_);
  auto created =
      cgroups.create_task("t1", {.cpu_units = 256, .memory_bytes = 64 * kMiB, .pids = 100});
  if (has_task_controllers()) {
    // A v2 host: the limits reach the kernel.
    ASSERT_TRUE(created) << created.error().message();
    EXPECT_EQ(read(dir_ + "/" + parent_ + "/t1/cpu.max"), "25000 100000");
    EXPECT_EQ(read(dir_ + "/" + parent_ + "/t1/memory.max"), "67108864");
    EXPECT_EQ(read(dir_ + "/" + parent_ + "/t1/pids.max"), "100");
    EXPECT_TRUE(cgroups.remove_task("t1"));
    return;
  }
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(
      created.error().message().find("are not available in '" + dir_ + "/cgroup.controllers'"),
      std::string::npos)
      << created.error().message();
  EXPECT_NE(created.error().message().find("cpu memory pids"), std::string::npos)
      << created.error().message();
  EXPECT_FALSE(fs::exists(dir_ + "/" + parent_));
  EXPECT_EQ(read(dir_ + "/cgroup.subtree_control"), "") << "nothing was enabled";
}

TEST_F(CgroupV2KernelTest, CgroupLifecycleOnTheRealHierarchy) {
  // What a runtime would make for a container of task t1.
  std::string container = dir_ + "/" + parent_ + "/t1/c1";
  ASSERT_TRUE(fs::create_directories(container));
  ASSERT_TRUE(fs::exists(container + "/cgroup.procs")) << "the kernel fills a new cgroup";
  CgroupfsV2Manager cgroups(dir_, parent_);
  EXPECT_EQ(*cgroups.list_tasks(), std::vector<std::string>{"t1"});

  Sleeper sleeper;
  ASSERT_GT(sleeper.pid(), 0);
  ASSERT_TRUE(move_into(container, sleeper.pid()));
  auto busy = cgroups.remove_task("t1");
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(busy.error().message().find("'" + container + "' still has processes"),
            std::string::npos)
      << busy.error().message();

  sleeper.stop();
  auto removed = cgroups.remove_task("t1");
  ASSERT_TRUE(removed) << removed.error().message();
  EXPECT_FALSE(fs::exists(dir_ + "/" + parent_ + "/t1"));
  EXPECT_TRUE(cgroups.list_tasks()->empty());
}

}  // namespace
}  // namespace berth::cgroups
