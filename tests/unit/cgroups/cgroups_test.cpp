// The cgroup library without root: mountinfo parsing for each layout and
// the limit conversions. The cgroupfs backends are in cgroupfs_test.cpp.
#include <gtest/gtest.h>

#include "cgroups/cgroupfs.h"
#include "cgroups/layout.h"
#include "cgroups/limits.h"
#include "cgroups/manager.h"

namespace berth::cgroups {
namespace {

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

}  // namespace
}  // namespace berth::cgroups
