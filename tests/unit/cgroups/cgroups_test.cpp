// The cgroup library without root: mountinfo parsing for each layout, the
// limit conversions, and both cgroupfs backends against a directory tree
// that stands in for cgroupfs (a hook plays the kernel's part of filling a
// new cgroup with its control files).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "cgroups/cgroupfs.h"
#include "cgroups/cgroupfs_v1.h"
#include "cgroups/cgroupfs_v2.h"
#include "cgroups/layout.h"
#include "cgroups/limits.h"
#include "cgroups/manager.h"

namespace berth::cgroups {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMiB = uint64_t{1024} * 1024;

// This machine: v1 controllers each on their own mount, name=systemd, and
// an otherwise empty cgroup2 at /sys/fs/cgroup/unified.
constexpr std::string_view kHybridMountinfo =
    "22 1 0:21 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n"
    "23 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

// A classic v1 host (Debian 10): cpu and cpuacct co-mounted, optional fields.
constexpr std::string_view kV1Mountinfo =
    "25 30 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "28 25 0:26 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup "
    "cgroup rw,xattr,name=systemd\n"
    "32 25 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup "
    "cgroup rw,cpu,cpuacct\n"
    "33 25 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup "
    "cgroup rw,memory\n"
    "34 25 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup "
    "rw,pids\n"
    "35 25 0:33 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:17 - "
    "cgroup cgroup rw,net_cls,net_prio\n";

// A v2 host (Debian 12 default).
constexpr std::string_view kV2Mountinfo =
    "22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

TEST(CgroupLayoutTest, ParsesThisMachinesHybridLayout) {
  auto mounts = parse_mountinfo(kHybridMountinfo);
  ASSERT_TRUE(mounts) << mounts.error().message();
  ASSERT_EQ(mounts->size(), 10u);
  EXPECT_EQ((*mounts)[0].mount_point, "/sys/fs/cgroup/cpu");
  EXPECT_EQ((*mounts)[0].controllers, std::vector<std::string>{"cpu"});
  EXPECT_FALSE((*mounts)[0].v2);
  EXPECT_EQ((*mounts)[8].controllers, std::vector<std::string>{"name=systemd"});
  EXPECT_TRUE((*mounts)[9].v2);
  EXPECT_EQ((*mounts)[9].mount_point, "/sys/fs/cgroup/unified");

  auto layout = detect_layout(kHybridMountinfo, "");
  ASSERT_TRUE(layout) << layout.error().message();
  EXPECT_EQ(layout->kind, LayoutKind::kHybrid);
  EXPECT_EQ(layout->v1.at("cpu"), "/sys/fs/cgroup/cpu");
  EXPECT_EQ(layout->v1.at("cpuacct"), "/sys/fs/cgroup/cpuacct");
  EXPECT_EQ(layout->v1.at("memory"), "/sys/fs/cgroup/memory");
  EXPECT_EQ(layout->v1.at("pids"), "/sys/fs/cgroup/pids");
  EXPECT_EQ(layout->v1.at("name=systemd"), "/sys/fs/cgroup/systemd");
  EXPECT_EQ(layout->unified, "/sys/fs/cgroup/unified");
  EXPECT_EQ(layout_name(*layout), "cgroup v1 (hybrid: empty v2 at /sys/fs/cgroup/unified)");
  // The kernel gives v2 what v1 did not take (hugetlb on this machine).
  auto with_hugetlb = detect_layout(kHybridMountinfo, "hugetlb\n");
  ASSERT_TRUE(with_hugetlb);
  EXPECT_EQ(layout_name(*with_hugetlb),
            "cgroup v1 (hybrid: v2 at /sys/fs/cgroup/unified with hugetlb)");
}

TEST(CgroupLayoutTest, ParsesCoMountedV1Controllers) {
  auto layout = detect_layout(kV1Mountinfo, "");
  ASSERT_TRUE(layout) << layout.error().message();
  EXPECT_EQ(layout->kind, LayoutKind::kV1);
  EXPECT_EQ(layout->v1.at("cpu"), "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(layout->v1.at("cpuacct"), "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(layout->v1.at("net_prio"), "/sys/fs/cgroup/net_cls,net_prio");
  EXPECT_EQ(layout->v1.at("name=systemd"), "/sys/fs/cgroup/systemd");
  EXPECT_FALSE(layout->v1.contains("xattr"));
  EXPECT_TRUE(layout->unified.empty());
  EXPECT_EQ(layout_name(*layout), "cgroup v1");
}

TEST(CgroupLayoutTest, ParsesV2) {
  auto layout = detect_layout(kV2Mountinfo, "cpuset cpu io memory hugetlb pids rdma misc\n");
  ASSERT_TRUE(layout) << layout.error().message();
  EXPECT_EQ(layout->kind, LayoutKind::kV2);
  EXPECT_TRUE(layout->v1.empty());
  EXPECT_EQ(layout->unified, "/sys/fs/cgroup");
  EXPECT_EQ(layout->unified_controllers,
            (std::vector<std::string>{"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma",
                                      "misc"}));
  EXPECT_EQ(layout_name(*layout), "cgroup v2");
  auto manager = make_manager(*layout);
  ASSERT_TRUE(manager);
  EXPECT_EQ((*manager)->name(), "cgroupfs v2");
  auto hybrid = make_manager(*detect_layout(kHybridMountinfo, ""));
  ASSERT_TRUE(hybrid);
  EXPECT_EQ((*hybrid)->name(), "cgroupfs v1");
  EXPECT_EQ((*hybrid)->container_cgroups_path("t1", "t1-web"), "/berth/t1/t1-web");
}

TEST(CgroupLayoutTest, UnescapesMountPointsAndRejectsBadInput) {
  auto mounts =
      parse_mountinfo("40 31 0:37 / /tmp/my\\040cgroups rw,relatime - cgroup cgroup rw,memory\n");
  ASSERT_TRUE(mounts);
  ASSERT_EQ(mounts->size(), 1u);
  EXPECT_EQ((*mounts)[0].mount_point, "/tmp/my cgroups");
  auto bad = parse_mountinfo("40 31 0:37 /\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("line 1"), std::string::npos);
  auto none = detect_layout("22 1 0:21 / / rw - ext4 /dev/sda1 rw\n", "");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kFailedPrecondition);
}

TEST(CgroupLayoutTest, DetectsTheHostLayout) {
  auto layout = detect_host_layout();
  ASSERT_TRUE(layout) << layout.error().message();
  EXPECT_FALSE(layout_name(*layout).empty());
}

TEST(CgroupLimitsTest, CpuUnitsBecomeAQuotaOverA100msPeriod) {
  EXPECT_EQ(cfs_quota_us(256), 25000u);
  EXPECT_EQ(cfs_quota_us(1024), 100000u);
  EXPECT_EQ(cfs_quota_us(2048), 200000u);
  EXPECT_EQ(
      v1_task_files({.cpu_units = 256}),
      (std::vector<FileValue>{{"cpu.cfs_period_us", "100000"}, {"cpu.cfs_quota_us", "25000"}}));
  EXPECT_EQ(v2_task_files({.cpu_units = 1536}),
            (std::vector<FileValue>{{"cpu.max", "150000 100000"}}));
  EXPECT_TRUE(v2_task_files({}).empty());
}

TEST(CgroupLimitsTest, SharesAndWeightFollowRunc) {
  EXPECT_EQ(cpu_shares(0), 2u);
  EXPECT_EQ(cpu_shares(1), 2u);
  EXPECT_EQ(cpu_shares(512), 512u);
  EXPECT_EQ(cpu_shares(1u << 20), 262144u);
  EXPECT_EQ(cpu_weight_from_shares(2), 1u);
  EXPECT_EQ(cpu_weight_from_shares(1024), 39u);
  EXPECT_EQ(cpu_weight_from_shares(262144), 10000u);
  // Absent cpu leaves the kernel's default alone.
  EXPECT_TRUE(v1_container_files({}).empty());
  EXPECT_TRUE(v2_container_files({}).empty());
}

TEST(CgroupLimitsTest, ContainerMemoryAndSwapFiles) {
  ContainerLimits limits{.cpu_units = 512,
                         .memory_bytes = 128 * kMiB,
                         .memory_reservation_bytes = 64 * kMiB,
                         .max_swap_bytes = 32 * kMiB,
                         .swappiness = 10};
  EXPECT_EQ(v1_container_files(limits),
            (std::vector<FileValue>{{"cpu.shares", "512"},
                                    {"memory.limit_in_bytes", "134217728"},
                                    {"memory.soft_limit_in_bytes", "67108864"},
                                    {"memory.memsw.limit_in_bytes", "167772160", true},
                                    {"memory.swappiness", "10"}}));
  EXPECT_EQ(v2_container_files(limits),
            (std::vector<FileValue>{{"cpu.weight", "20"},
                                    {"memory.max", "134217728"},
                                    {"memory.low", "67108864"},
                                    {"memory.swap.max", "33554432", true}}));
  // maxSwap 0: no swap at all.
  ContainerLimits no_swap{.memory_bytes = 128 * kMiB, .max_swap_bytes = 0};
  EXPECT_EQ(v1_container_files(no_swap).back(),
            (FileValue{"memory.memsw.limit_in_bytes", "134217728", true}));
  EXPECT_EQ(v2_container_files(no_swap).back(), (FileValue{"memory.swap.max", "0", true}));
}

TEST(CgroupLimitsTest, ValidationNamesTheValue) {
  auto small = validate_memory("task memory", 5 * kMiB);
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(small.error().message().find("5242880"), std::string::npos);
  EXPECT_TRUE(validate_memory("task memory", 6 * kMiB));
  EXPECT_TRUE(validate_task_limits({.cpu_units = 256, .memory_bytes = 64 * kMiB, .pids = 100}));
  auto tiny_cpu = validate_task_limits({.cpu_units = 10});
  ASSERT_FALSE(tiny_cpu);
  EXPECT_NE(tiny_cpu.error().message().find("cpu 10 units"), std::string::npos);
  EXPECT_FALSE(validate_task_limits({.pids = 0}));
  auto reservation =
      validate_container_limits({.memory_bytes = 64 * kMiB, .memory_reservation_bytes = 65 * kMiB});
  ASSERT_FALSE(reservation);
  EXPECT_NE(reservation.error().message().find("68157440"), std::string::npos);
  EXPECT_FALSE(validate_container_limits({.max_swap_bytes = kMiB}));
  EXPECT_FALSE(validate_container_limits({.swappiness = 101}));
  EXPECT_TRUE(validate_container_limits({.swappiness = 100}));
}

TEST(CgroupLimitsTest, ParsesStatFiles) {
  std::string_view oom_control = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
  EXPECT_EQ(keyed_value(oom_control, "oom_kill"), 3u);
  EXPECT_EQ(keyed_value(oom_control, "oom"), std::nullopt);
  EXPECT_EQ(keyed_value("usage_usec 1500\nuser_usec 1000\n", "usage_usec"), 1500u);
  EXPECT_EQ(parse_number("4096\n", "x"), 4096u);
  EXPECT_FALSE(parse_number("max\n", "x"));
}

// ---------------------------------------------------------------------------
// A directory tree standing in for cgroupfs.

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string value = text.str();
  while (!value.empty() && value.back() == '\n') value.pop_back();
  return value;
}

void write(const std::string& path, const std::string& value) { std::ofstream(path) << value; }

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "berth-cgroups-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : "";
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// True when any directory below `root` (at any depth) is named `name`.
bool tree_has_dir(const std::string& root, const std::string& name) {
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_directory() && entry.path().filename() == name) return true;
  }
  return false;
}

// v1: one directory per hierarchy as on this machine; `omit` names control
// files the fake kernel does not create (to make a write fail half-way).
class CgroupfsV1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    for (const char* hierarchy : {"cpu", "cpuacct", "memory", "pids", "devices", "systemd"}) {
      fs::create_directories(tmp_.path() + "/" + hierarchy);
      std::string controller = hierarchy == std::string("systemd") ? "name=systemd" : hierarchy;
      roots_[controller] = tmp_.path() + "/" + hierarchy;
    }
  }

  // The kernel's part: the control files of a new cgroup of each hierarchy.
  void populate(const std::string& dir) {
    std::string hierarchy = fs::relative(dir, tmp_.path()).begin()->string();
    std::map<std::string, std::string> files{{"cgroup.procs", ""}, {"tasks", ""}};
    if (hierarchy == "cpu") {
      files.insert(
          {{"cpu.shares", "1024"}, {"cpu.cfs_quota_us", "-1"}, {"cpu.cfs_period_us", "100000"}});
    } else if (hierarchy == "cpuacct") {
      files.insert({"cpuacct.usage", "0"});
    } else if (hierarchy == "memory") {
      files.insert({{"memory.limit_in_bytes", "9223372036854771712"},
                    {"memory.soft_limit_in_bytes", "9223372036854771712"},
                    {"memory.swappiness", "60"},
                    {"memory.usage_in_bytes", "0"},
                    {"memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"}});
      if (swap_accounting_) files.insert({"memory.memsw.limit_in_bytes", "9223372036854771712"});
    } else if (hierarchy == "pids") {
      files.insert({"pids.max", "max"});
    }
    for (const auto& [name, value] : files) {
      if (!omit_.contains(name)) write(dir + "/" + name, value);
    }
  }

  CgroupfsV1Manager manager(std::string parent = "berth") {
    return CgroupfsV1Manager(roots_, std::move(parent),
                             [this](const std::string& dir) { populate(dir); });
  }
  std::string at(const std::string& hierarchy, const std::string& relative) const {
    return tmp_.path() + "/" + hierarchy + "/" + relative;
  }

  TempDir tmp_;
  V1Roots roots_;
  std::set<std::string> omit_;
  bool swap_accounting_ = true;
};

TEST_F(CgroupfsV1Test, CreateTaskWritesTheTaskLimits) {
  auto cgroups = manager();
  auto created =
      cgroups.create_task("t1", {.cpu_units = 256, .memory_bytes = 64 * kMiB, .pids = 100});
  ASSERT_TRUE(created) << created.error().message();
  EXPECT_EQ(read(at("cpu", "berth/t1/cpu.cfs_quota_us")), "25000");
  EXPECT_EQ(read(at("cpu", "berth/t1/cpu.cfs_period_us")), "100000");
  EXPECT_EQ(read(at("cpu", "berth/t1/cpu.shares")), "1024");
  EXPECT_EQ(read(at("memory", "berth/t1/memory.limit_in_bytes")), "67108864");
  EXPECT_EQ(read(at("pids", "berth/t1/pids.max")), "100");
  EXPECT_TRUE(fs::is_directory(at("cpuacct", "berth/t1")));
  // The runtime makes the other hierarchies' directories, not berth.
  EXPECT_FALSE(fs::exists(at("devices", "berth")));
  EXPECT_EQ(cgroups.container_cgroups_path("t1", "t1-web"), "/berth/t1/t1-web");
  // Creating again reuses the cgroup.
  EXPECT_TRUE(cgroups.create_task("t1", {.cpu_units = 512}));
  EXPECT_EQ(read(at("cpu", "berth/t1/cpu.cfs_quota_us")), "50000");
}

TEST_F(CgroupfsV1Test, ContainerLimitsAreNestedInTheTask) {
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {.memory_bytes = 256 * kMiB}));
  auto set = cgroups.set_container_limits("t1", "web",
                                          {.cpu_units = 512,
                                           .memory_bytes = 128 * kMiB,
                                           .memory_reservation_bytes = 64 * kMiB,
                                           .max_swap_bytes = 32 * kMiB,
                                           .swappiness = 10});
  ASSERT_TRUE(set) << set.error().message();
  EXPECT_EQ(read(at("cpu", "berth/t1/web/cpu.shares")), "512");
  EXPECT_EQ(read(at("memory", "berth/t1/web/memory.limit_in_bytes")), "134217728");
  EXPECT_EQ(read(at("memory", "berth/t1/web/memory.soft_limit_in_bytes")), "67108864");
  EXPECT_EQ(read(at("memory", "berth/t1/web/memory.memsw.limit_in_bytes")), "167772160");
  EXPECT_EQ(read(at("memory", "berth/t1/web/memory.swappiness")), "10");
  EXPECT_EQ(read(at("memory", "berth/t1/memory.limit_in_bytes")), "268435456");

  auto no_task = cgroups.set_container_limits("t2", "web", {.cpu_units = 512});
  ASSERT_FALSE(no_task);
  EXPECT_EQ(no_task.error().code(), ErrorCode::kNotFound);
}

TEST_F(CgroupfsV1Test, MaxSwapIsSkippedWithoutSwapAccounting) {
  swap_accounting_ = false;
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {}));
  auto set = cgroups.set_container_limits(
      "t1", "web", {.memory_bytes = 128 * kMiB, .max_swap_bytes = 32 * kMiB});
  ASSERT_TRUE(set) << set.error().message();
  EXPECT_FALSE(fs::exists(at("memory", "berth/t1/web/memory.memsw.limit_in_bytes")));
  EXPECT_EQ(read(at("memory", "berth/t1/web/memory.limit_in_bytes")), "134217728");
}

TEST_F(CgroupfsV1Test, RemoveTaskRemovesEveryHierarchysDirectory) {
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {.pids = 10}));
  ASSERT_TRUE(cgroups.set_container_limits("t1", "web", {.cpu_units = 128}));
  // As the runtime does for a container: every hierarchy, named ones too.
  for (const char* hierarchy : {"devices", "systemd"}) {
    fs::create_directories(at(hierarchy, "berth/t1/web"));
    write(at(hierarchy, "berth/t1/web/cgroup.procs"), "");
  }
  auto removed = cgroups.remove_task("t1");
  ASSERT_TRUE(removed) << removed.error().message();
  for (const char* hierarchy : {"cpu", "cpuacct", "memory", "pids", "devices", "systemd"}) {
    EXPECT_FALSE(fs::exists(at(hierarchy, "berth/t1"))) << hierarchy;
  }
  EXPECT_TRUE(cgroups.list_tasks()->empty());
  EXPECT_TRUE(cgroups.remove_task("t1")) << "removing a removed task is not an error";
}

TEST_F(CgroupfsV1Test, ListTasksFindsLeftoversInAnyHierarchy) {
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("keep", {}));
  fs::create_directories(at("pids", "berth/leftover"));
  fs::create_directories(at("systemd", "berth/stray/c1"));
  auto tasks = cgroups.list_tasks();
  ASSERT_TRUE(tasks) << tasks.error().message();
  EXPECT_EQ(*tasks, (std::vector<std::string>{"keep", "leftover", "stray"}));

  auto removed = remove_unowned_tasks(cgroups, {"keep"});
  ASSERT_TRUE(removed) << removed.error().message();
  EXPECT_EQ(*removed, (std::vector<std::string>{"leftover", "stray"}));
  EXPECT_EQ(*cgroups.list_tasks(), std::vector<std::string>{"keep"});
  EXPECT_TRUE(fs::exists(at("memory", "berth/keep")));
}

TEST_F(CgroupfsV1Test, AHybridHostsV2TreeIsListedAndCleanedButNotWritten) {
  fs::create_directories(tmp_.path() + "/unified");
  roots_[std::string(kUnifiedKey)] = tmp_.path() + "/unified";
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {.pids = 10}));
  EXPECT_FALSE(fs::exists(at("unified", "berth")));
  fs::create_directories(at("unified", "berth/t1/web"));
  fs::create_directories(at("unified", "berth/t2/web"));
  EXPECT_EQ(*cgroups.list_tasks(), (std::vector<std::string>{"t1", "t2"}));
  ASSERT_TRUE(cgroups.remove_task("t1"));
  ASSERT_TRUE(cgroups.remove_task("t2"));
  EXPECT_FALSE(tree_has_dir(tmp_.path(), "web"));
}

TEST_F(CgroupfsV1Test, AFailureHalfWayLeavesNothing) {
  omit_ = {"pids.max"};  // the last file written
  auto cgroups = manager();
  auto created =
      cgroups.create_task("t1", {.cpu_units = 256, .memory_bytes = 64 * kMiB, .pids = 100});
  ASSERT_FALSE(created);
  EXPECT_NE(created.error().message().find("pids.max"), std::string::npos)
      << created.error().message();
  EXPECT_NE(created.error().message().find("create task cgroup 'berth/t1'"), std::string::npos);
  for (const auto& [controller, root] : roots_) {
    EXPECT_FALSE(fs::exists(root + "/berth")) << root;
  }

  // A parent that existed before stays; only what the call made goes.
  fs::create_directories(at("cpu", "berth"));
  ASSERT_FALSE(cgroups.create_task("t1", {.pids = 100}));
  EXPECT_TRUE(fs::exists(at("cpu", "berth")));
  EXPECT_FALSE(tree_has_dir(tmp_.path(), "t1"));
}

TEST_F(CgroupfsV1Test, MissingControllersAndBadNamesAreErrors) {
  roots_.erase("pids");
  roots_.erase("cpuacct");
  auto cgroups = manager();
  auto created = cgroups.create_task("t1", {});
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(created.error().message().find("not mounted: cpuacct pids"), std::string::npos)
      << created.error().message();
  EXPECT_FALSE(tree_has_dir(tmp_.path(), "berth"));

  for (const char* bad : {"", ".", "..", "../etc", "a/b"}) {
    auto result = manager().create_task(bad, {});
    ASSERT_FALSE(result) << bad;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_FALSE(manager().remove_task(bad)) << bad;
  }
  auto low = manager().create_task("t1", {.memory_bytes = kMiB});
  ASSERT_FALSE(low);
  EXPECT_NE(low.error().message().find("1048576"), std::string::npos);
}

TEST_F(CgroupfsV1Test, StatsReadUsageAndOomKills) {
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {}));
  write(at("cpuacct", "berth/t1/cpuacct.usage"), "123456789\n");
  write(at("memory", "berth/t1/memory.usage_in_bytes"), "4096\n");
  write(at("memory", "berth/t1/memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  auto stats = cgroups.stats("t1");
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->cpu_usage_ns, 123456789u);
  EXPECT_EQ(stats->memory_usage_bytes, 4096u);
  EXPECT_EQ(stats->oom_kills, 2u);
  EXPECT_FALSE(cgroups.stats("missing"));
}

// v2: one tree; a new cgroup's cgroup.controllers is what its parent
// enabled in cgroup.subtree_control, and controller files exist only for
// available controllers, as the kernel does.
class CgroupfsV2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    write(tmp_.path() + "/cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
    write(tmp_.path() + "/cgroup.subtree_control", "");
  }

  void populate(const std::string& dir) {
    std::string parent_enabled =
        read(fs::path(dir).parent_path().string() + "/cgroup.subtree_control");
    std::string controllers;
    std::set<std::string> available;
    for (std::string word : split_words(parent_enabled)) {
      if (word.starts_with('+')) word.erase(0, 1);
      controllers += (controllers.empty() ? "" : " ") + word;
      available.insert(word);
    }
    std::map<std::string, std::string> files{{"cgroup.controllers", controllers},
                                             {"cgroup.subtree_control", ""},
                                             {"cgroup.procs", ""},
                                             {"cgroup.events", "populated 0\nfrozen 0\n"},
                                             {"cpu.stat", "usage_usec 0\nuser_usec 0\n"}};
    if (available.contains("cpu")) {
      files.insert({{"cpu.max", "max 100000"}, {"cpu.weight", "100"}});
    }
    if (available.contains("memory")) {
      files.insert({{"memory.max", "max"},
                    {"memory.low", "0"},
                    {"memory.swap.max", "max"},
                    {"memory.current", "0"},
                    {"memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"}});
    }
    if (available.contains("pids")) files.insert({"pids.max", "max"});
    for (const auto& [name, value] : files) {
      if (!omit_.contains(name)) write(dir + "/" + name, value);
    }
  }

  CgroupfsV2Manager manager(std::string parent = "berth") {
    return CgroupfsV2Manager(tmp_.path(), std::move(parent),
                             [this](const std::string& dir) { populate(dir); });
  }
  std::string at(const std::string& relative) const { return tmp_.path() + "/" + relative; }

  TempDir tmp_;
  std::set<std::string> omit_;
};

TEST_F(CgroupfsV2Test, CreateTaskEnablesControllersAndWritesTheTaskLimits) {
  auto cgroups = manager();
  auto created =
      cgroups.create_task("t1", {.cpu_units = 256, .memory_bytes = 64 * kMiB, .pids = 100});
  ASSERT_TRUE(created) << created.error().message();
  EXPECT_EQ(read(at("cgroup.subtree_control")), "+cpu +memory +pids");
  EXPECT_EQ(read(at("berth/cgroup.subtree_control")), "+cpu +memory +pids");
  EXPECT_EQ(read(at("berth/t1/cgroup.subtree_control")), "+cpu +memory +pids");
  EXPECT_EQ(read(at("berth/t1/cpu.max")), "25000 100000");
  EXPECT_EQ(read(at("berth/t1/memory.max")), "67108864");
  EXPECT_EQ(read(at("berth/t1/pids.max")), "100");
  EXPECT_EQ(cgroups.container_cgroups_path("t1", "t1-web"), "/berth/t1/t1-web");
}

TEST_F(CgroupfsV2Test, AlreadyEnabledControllersAreNotWrittenAgain) {
  write(at("cgroup.subtree_control"), "cpu memory pids");  // as systemd leaves it
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {.cpu_units = 1024}));
  EXPECT_EQ(read(at("cgroup.subtree_control")), "cpu memory pids");
  EXPECT_EQ(read(at("berth/t1/cpu.max")), "100000 100000");
}

TEST_F(CgroupfsV2Test, ContainerLimitsAreNestedInTheTask) {
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {.memory_bytes = 256 * kMiB}));
  auto set = cgroups.set_container_limits("t1", "web",
                                          {.cpu_units = 1024,
                                           .memory_bytes = 128 * kMiB,
                                           .memory_reservation_bytes = 64 * kMiB,
                                           .max_swap_bytes = 32 * kMiB,
                                           .swappiness = 10});
  ASSERT_TRUE(set) << set.error().message();
  EXPECT_EQ(read(at("berth/t1/web/cpu.weight")), "39");
  EXPECT_EQ(read(at("berth/t1/web/memory.max")), "134217728");
  EXPECT_EQ(read(at("berth/t1/web/memory.low")), "67108864");
  EXPECT_EQ(read(at("berth/t1/web/memory.swap.max")), "33554432");
  EXPECT_FALSE(fs::exists(at("berth/t1/web/memory.swappiness")));
}

TEST_F(CgroupfsV2Test, MissingControllersAreNamedAndNothingIsMade) {
  write(at("cgroup.controllers"), "hugetlb\n");  // a hybrid host's cgroup2
  auto cgroups = manager();
  auto created = cgroups.create_task("t1", {.pids = 10});
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(created.error().message().find("controllers cpu memory pids are not available"),
            std::string::npos)
      << created.error().message();
  EXPECT_NE(created.error().message().find("'hugetlb'"), std::string::npos);
  EXPECT_FALSE(fs::exists(at("berth")));
}

TEST_F(CgroupfsV2Test, RemoveAndListTasks) {
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {}));
  ASSERT_TRUE(cgroups.create_task("t2", {}));
  ASSERT_TRUE(cgroups.set_container_limits("t1", "web", {.memory_bytes = 64 * kMiB}));
  EXPECT_EQ(*cgroups.list_tasks(), (std::vector<std::string>{"t1", "t2"}));
  auto removed = cgroups.remove_task("t1");
  ASSERT_TRUE(removed) << removed.error().message();
  EXPECT_FALSE(fs::exists(at("berth/t1")));
  EXPECT_EQ(*cgroups.list_tasks(), std::vector<std::string>{"t2"});
  auto unowned = remove_unowned_tasks(cgroups, {});
  ASSERT_TRUE(unowned);
  EXPECT_EQ(*unowned, std::vector<std::string>{"t2"});
  EXPECT_TRUE(cgroups.list_tasks()->empty());
}

TEST_F(CgroupfsV2Test, AFailureHalfWayLeavesNothing) {
  omit_ = {"pids.max"};
  auto cgroups = manager("berth/nested");
  auto created = cgroups.create_task("t1", {.cpu_units = 256, .pids = 100});
  ASSERT_FALSE(created);
  EXPECT_NE(created.error().message().find("pids.max"), std::string::npos)
      << created.error().message();
  EXPECT_FALSE(fs::exists(at("berth")));
}

TEST_F(CgroupfsV2Test, StatsReadUsageAndOomKills) {
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {}));
  write(at("berth/t1/cpu.stat"), "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
  write(at("berth/t1/memory.current"), "8192\n");
  write(at("berth/t1/memory.events"), "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n");
  auto stats = cgroups.stats("t1");
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->cpu_usage_ns, 1500000u);
  EXPECT_EQ(stats->memory_usage_bytes, 8192u);
  EXPECT_EQ(stats->oom_kills, 1u);
}

}  // namespace
}  // namespace berth::cgroups
