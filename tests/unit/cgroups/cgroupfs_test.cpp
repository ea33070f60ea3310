// Both cgroupfs backends without root, against a directory tree that
// stands in for cgroupfs (fake_cgroupfs.h). Stats are in
// cgroupfs_stats_test.cpp.
#include "cgroups/cgroupfs.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "cgroups/cgroupfs_v1.h"
#include "cgroups/cgroupfs_v2.h"
#include "cgroups/fake_cgroupfs.h"
#include "cgroups/limits.h"
#include "cgroups/manager.h"

namespace berth::cgroups {
namespace {

using fake::CgroupfsV1Test;
using fake::CgroupfsV2Test;
using fake::kMiB;
using fake::read;
using fake::tree_has_dir;
using fake::write;
namespace fs = std::filesystem;

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
