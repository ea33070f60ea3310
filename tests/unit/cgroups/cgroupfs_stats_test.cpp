// TaskStats from both cgroupfs backends, against the stand-in trees of
// fake_cgroupfs.h: every field, unlimited values, files an older kernel
// lacks, and a missing cgroup.
#include <gtest/gtest.h>
#include <unistd.h>

#include "cgroups/fake_cgroupfs.h"
#include "cgroups/limits.h"
#include "cgroups/manager.h"
#include "cgroups/stats.h"

namespace berth::cgroups {
namespace {

using fake::kMiB;
using fake::write;

class CgroupfsV1StatsTest : public fake::CgroupfsV1Test {};
class CgroupfsV2StatsTest : public fake::CgroupfsV2Test {};

uint64_t user_hz() { return static_cast<uint64_t>(::sysconf(_SC_CLK_TCK)); }

TEST_F(CgroupfsV1StatsTest, ReadsEveryCounter) {
  auto cgroups = manager();
  ASSERT_TRUE(
      cgroups.create_task("t1", {.cpu_units = 256, .memory_bytes = 64 * kMiB, .pids = 100}));
  write(at("cpuacct", "berth/t1/cpuacct.usage"), "123456789\n");
  write(at("cpuacct", "berth/t1/cpuacct.stat"), "user 250\nsystem 50\n");
  write(at("cpu", "berth/t1/cpu.stat"),
        "nr_periods 40\nnr_throttled 7\nthrottled_time 3500000\nnr_bursts 0\nburst_time 0\n");
  write(at("memory", "berth/t1/memory.usage_in_bytes"), "10485760\n");
  write(at("memory", "berth/t1/memory.max_usage_in_bytes"), "20971520\n");
  write(at("memory", "berth/t1/memory.failcnt"), "3\n");
  // The local keys differ from the total_* ones, which cover children too.
  write(at("memory", "berth/t1/memory.stat"),
        "cache 1\nrss 2\ninactive_file 3\nhierarchical_memory_limit 67108864\n"
        "total_cache 4194304\ntotal_rss 5242880\ntotal_inactive_file 1048576\n"
        "total_active_file 2097152\n");
  write(at("memory", "berth/t1/memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  write(at("pids", "berth/t1/pids.current"), "12\n");

  auto stats = cgroups.stats("t1");
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->cpu_usage_ns, 123456789u);
  EXPECT_EQ(stats->cpu_user_ns, uint64_t{250} * 1'000'000'000 / user_hz());
  EXPECT_EQ(stats->cpu_system_ns, uint64_t{50} * 1'000'000'000 / user_hz());
  EXPECT_EQ(stats->cpu_periods, 40u);
  EXPECT_EQ(stats->cpu_throttled_periods, 7u);
  EXPECT_EQ(stats->cpu_throttled_ns, 3500000u);
  EXPECT_EQ(stats->cpu_quota_us, 25000);
  EXPECT_EQ(stats->cpu_period_us, 100000u);
  EXPECT_EQ(stats->cpu_shares, 1024u);
  EXPECT_EQ(stats->memory_usage_bytes, 10485760u);
  EXPECT_EQ(stats->memory_working_set_bytes, 10485760u - 1048576u);
  EXPECT_EQ(stats->memory_rss_bytes, 5242880u);
  EXPECT_EQ(stats->memory_cache_bytes, 4194304u);
  EXPECT_EQ(stats->memory_max_usage_bytes, 20971520u);
  EXPECT_EQ(stats->memory_failcnt, 3u);
  EXPECT_EQ(stats->memory_limit_bytes, 64 * kMiB);
  EXPECT_EQ(stats->oom_kills, 2u);
  EXPECT_EQ(stats->oom_events, 2u);
  EXPECT_EQ(stats->pids_current, 12u);
  EXPECT_EQ(stats->pids_limit, 100u);
}

TEST_F(CgroupfsV1StatsTest, UnlimitedValuesAreNone) {
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {}));
  auto stats = cgroups.stats("t1");
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->cpu_quota_us, -1);
  EXPECT_EQ(stats->cpu_period_us, 100000u);
  EXPECT_EQ(stats->memory_limit_bytes, std::nullopt);
  EXPECT_EQ(stats->pids_limit, std::nullopt);
  // The same "no limit" with 64 KiB pages (arm64, ppc64le).
  write(at("memory", "berth/t1/memory.limit_in_bytes"), "9223372036854710272\n");
  EXPECT_EQ(cgroups.stats("t1")->memory_limit_bytes, std::nullopt);
}

TEST_F(CgroupfsV1StatsTest, ContainerStatsAndOomEventsOfDescendants) {
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {}));
  ASSERT_TRUE(cgroups.set_container_limits("t1", "web", {.cpu_units = 512}));
  ASSERT_TRUE(cgroups.set_container_limits("t1", "db", {.memory_bytes = 32 * kMiB}));
  // v1 counts a kill only in the victim's own cgroup.
  write(at("memory", "berth/t1/memory.oom_control"), "oom_kill_disable 0\noom_kill 1\n");
  write(at("memory", "berth/t1/web/memory.oom_control"), "oom_kill_disable 0\noom_kill 2\n");
  write(at("memory", "berth/t1/db/memory.oom_control"), "oom_kill_disable 0\noom_kill 4\n");
  write(at("cpuacct", "berth/t1/web/cpuacct.usage"), "777\n");

  auto task = cgroups.stats("t1");
  ASSERT_TRUE(task) << task.error().message();
  EXPECT_EQ(task->oom_kills, 1u);
  EXPECT_EQ(task->oom_events, 7u);
  auto web = cgroups.container_stats("t1", "web");
  ASSERT_TRUE(web) << web.error().message();
  EXPECT_EQ(web->cpu_usage_ns, 777u);
  EXPECT_EQ(web->cpu_shares, 512u);
  EXPECT_EQ(web->oom_kills, 2u);
  EXPECT_EQ(web->oom_events, 2u);
  auto db = cgroups.container_stats("t1", "db");
  ASSERT_TRUE(db) << db.error().message();
  EXPECT_EQ(db->memory_limit_bytes, 32 * kMiB);
  EXPECT_EQ(db->oom_events, 4u);
}

TEST_F(CgroupfsV1StatsTest, FilesAnOlderKernelLacksAreNotErrors) {
  omit_ = {"cpuacct.stat",      "cpu.stat",    "cpu.cfs_quota_us",
           "cpu.cfs_period_us", "memory.stat", "memory.max_usage_in_bytes",
           "memory.failcnt",    "pids.current"};
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {}));
  write(at("memory", "berth/t1/memory.usage_in_bytes"), "4096\n");
  // Before Linux 4.13 memory.oom_control has no oom_kill.
  write(at("memory", "berth/t1/memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\n");
  auto stats = cgroups.stats("t1");
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->cpu_user_ns, 0u);
  EXPECT_EQ(stats->cpu_periods, 0u);
  EXPECT_EQ(stats->cpu_quota_us, -1);
  EXPECT_EQ(stats->cpu_period_us, 0u);
  EXPECT_EQ(stats->cpu_shares, 1024u);
  EXPECT_EQ(stats->memory_working_set_bytes, 4096u) << "no memory.stat: all of usage";
  EXPECT_EQ(stats->memory_max_usage_bytes, 0u);
  EXPECT_EQ(stats->oom_kills, 0u);
  EXPECT_EQ(stats->oom_events, 0u);
  EXPECT_EQ(stats->pids_current, 0u);
  EXPECT_EQ(stats->pids_limit, std::nullopt);
}

TEST_F(CgroupfsV1StatsTest, NoPidsHierarchyIsNotAnError) {
  ASSERT_TRUE(manager().create_task("t1", {.pids = 10}));
  roots_.erase("pids");
  auto stats = manager().stats("t1");
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->pids_current, 0u);
  EXPECT_EQ(stats->pids_limit, std::nullopt);
}

TEST_F(CgroupfsV1StatsTest, WorkingSetIsClampedAtZero) {
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {}));
  write(at("memory", "berth/t1/memory.usage_in_bytes"), "4096\n");
  write(at("memory", "berth/t1/memory.stat"), "total_inactive_file 8192\n");
  EXPECT_EQ(cgroups.stats("t1")->memory_working_set_bytes, 0u);
}

TEST_F(CgroupfsV1StatsTest, AMissingCgroupIsNotFoundAndBadValuesAreDataLoss) {
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {}));
  auto missing = cgroups.stats("t2");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  auto gone = cgroups.container_stats("t1", "web");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), ErrorCode::kNotFound);
  write(at("cpu", "berth/t1/cpu.cfs_quota_us"), "-5\n");
  auto bad = cgroups.stats("t1");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kDataLoss);
  EXPECT_NE(bad.error().message().find("stats of cgroup 'berth/t1'"), std::string::npos)
      << bad.error().message();
  EXPECT_NE(bad.error().message().find("cpu.cfs_quota_us"), std::string::npos);
}

TEST_F(CgroupfsV2StatsTest, ReadsEveryCounter) {
  auto cgroups = manager();
  ASSERT_TRUE(
      cgroups.create_task("t1", {.cpu_units = 256, .memory_bytes = 64 * kMiB, .pids = 100}));
  write(at("berth/t1/cpu.stat"),
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\ncore_sched.force_idle_usec 0\n"
        "nr_periods 40\nnr_throttled 7\nthrottled_usec 3500\nnr_bursts 0\nburst_usec 0\n");
  write(at("berth/t1/memory.current"), "10485760\n");
  write(at("berth/t1/memory.peak"), "20971520\n");
  write(at("berth/t1/memory.stat"),
        "anon 5242880\nfile 4194304\nkernel 65536\nactive_anon 0\ninactive_anon 5242880\n"
        "active_file 3145728\ninactive_file 1048576\n");
  write(at("berth/t1/memory.events"),
        "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\noom_group_kill 0\n");
  write(at("berth/t1/pids.current"), "12\n");

  auto stats = cgroups.stats("t1");
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->cpu_usage_ns, 1500000u);
  EXPECT_EQ(stats->cpu_user_ns, 1000000u);
  EXPECT_EQ(stats->cpu_system_ns, 500000u);
  EXPECT_EQ(stats->cpu_periods, 40u);
  EXPECT_EQ(stats->cpu_throttled_periods, 7u);
  EXPECT_EQ(stats->cpu_throttled_ns, 3500000u);
  EXPECT_EQ(stats->cpu_quota_us, 25000);
  EXPECT_EQ(stats->cpu_period_us, 100000u);
  EXPECT_EQ(stats->cpu_shares, 2597u) << "cpu.weight 100, converted as cAdvisor does";
  EXPECT_EQ(stats->memory_usage_bytes, 10485760u);
  EXPECT_EQ(stats->memory_working_set_bytes, 10485760u - 1048576u);
  EXPECT_EQ(stats->memory_rss_bytes, 5242880u);
  EXPECT_EQ(stats->memory_cache_bytes, 4194304u);
  EXPECT_EQ(stats->memory_max_usage_bytes, 20971520u);
  EXPECT_EQ(stats->memory_failcnt, 3u);
  EXPECT_EQ(stats->memory_limit_bytes, 64 * kMiB);
  EXPECT_EQ(stats->oom_kills, 2u);
  EXPECT_EQ(stats->oom_events, 2u);
  EXPECT_EQ(stats->pids_current, 12u);
  EXPECT_EQ(stats->pids_limit, 100u);

  ASSERT_TRUE(cgroups.set_container_limits("t1", "web", {.cpu_units = 1024}));
  auto web = cgroups.container_stats("t1", "web");
  ASSERT_TRUE(web) << web.error().message();
  EXPECT_EQ(web->cpu_shares, 998u) << "shares 1024 -> weight 39 -> 998";
}

TEST_F(CgroupfsV2StatsTest, UnlimitedValuesAreNone) {
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {}));
  auto stats = cgroups.stats("t1");
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->cpu_quota_us, -1);
  EXPECT_EQ(stats->cpu_period_us, 100000u);
  EXPECT_EQ(stats->memory_limit_bytes, std::nullopt);
  EXPECT_EQ(stats->pids_limit, std::nullopt);
}

TEST_F(CgroupfsV2StatsTest, FilesAnOlderKernelLacksAreNotErrors) {
  omit_ = {"memory.peak", "memory.stat", "cpu.max", "cpu.weight", "pids.current", "pids.max"};
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {}));
  write(at("berth/t1/cpu.stat"), "usage_usec 1500\n");
  write(at("berth/t1/memory.current"), "4096\n");
  auto stats = cgroups.stats("t1");
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->cpu_usage_ns, 1500000u);
  EXPECT_EQ(stats->cpu_user_ns, 0u);
  EXPECT_EQ(stats->cpu_throttled_ns, 0u);
  EXPECT_EQ(stats->cpu_quota_us, -1);
  EXPECT_EQ(stats->cpu_period_us, 0u);
  EXPECT_EQ(stats->cpu_shares, 0u);
  EXPECT_EQ(stats->memory_working_set_bytes, 4096u);
  EXPECT_EQ(stats->memory_max_usage_bytes, 0u);
  EXPECT_EQ(stats->pids_current, 0u);
  EXPECT_EQ(stats->pids_limit, std::nullopt);
}

TEST_F(CgroupfsV2StatsTest, AMissingCgroupIsNotFoundAndBadValuesAreDataLoss) {
  auto cgroups = manager();
  ASSERT_TRUE(cgroups.create_task("t1", {}));
  auto missing = cgroups.stats("t2");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  auto gone = cgroups.container_stats("t1", "web");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), ErrorCode::kNotFound);
  write(at("berth/t1/memory.stat"), "inactive_file 8192\n");
  EXPECT_EQ(cgroups.stats("t1")->memory_working_set_bytes, 0u) << "clamped at 0";
  write(at("berth/t1/cpu.max"), "lots 100000\n");
  auto bad = cgroups.stats("t1");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kDataLoss);
  EXPECT_NE(bad.error().message().find("cpu.max"), std::string::npos) << bad.error().message();
}

// The pure parsers.
TEST(CgroupStatsParseTest, Limits) {
  EXPECT_EQ(v1_memory_limit(64 * kMiB), 64 * kMiB);
  EXPECT_EQ(v1_memory_limit(9223372036854771712u), std::nullopt);
  EXPECT_EQ(v1_memory_limit(kV1UnlimitedMemoryBytes), std::nullopt);
  EXPECT_EQ(v1_memory_limit(kV1UnlimitedMemoryBytes - 1), kV1UnlimitedMemoryBytes - 1);
  EXPECT_EQ(*parse_max_or_number("max\n", "pids.max"), std::nullopt);
  EXPECT_EQ(*parse_max_or_number("100\n", "pids.max"), 100u);
  EXPECT_FALSE(parse_max_or_number("", "pids.max"));
  EXPECT_FALSE(parse_max_or_number("-1", "pids.max"));
  EXPECT_EQ(*parse_cfs_quota("-1\n", "q"), -1);
  EXPECT_EQ(*parse_cfs_quota("25000\n", "q"), 25000);
  EXPECT_FALSE(parse_cfs_quota("-2", "q"));
  EXPECT_FALSE(parse_cfs_quota("1.5", "q"));
}

TEST(CgroupStatsParseTest, CpuMax) {
  auto none = parse_cpu_max("max 100000\n", "cpu.max");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->quota_us, -1);
  EXPECT_EQ(none->period_us, 100000u);
  auto quota = parse_cpu_max("25000 50000\n", "cpu.max");
  ASSERT_TRUE(quota);
  EXPECT_EQ(quota->quota_us, 25000);
  EXPECT_EQ(quota->period_us, 50000u);
  EXPECT_EQ(parse_cpu_max("max", "cpu.max")->period_us, 100000u);
  for (const char* bad : {"", "max x", "-1 100000", "99999999999999999999 100000"}) {
    auto result = parse_cpu_max(bad, "cpu.max");
    ASSERT_FALSE(result) << bad;
    EXPECT_EQ(result.error().code(), ErrorCode::kDataLoss);
  }
}

TEST(CgroupStatsParseTest, WorkingSetTicksAndWeights) {
  EXPECT_EQ(working_set_bytes(100, 30), 70u);
  EXPECT_EQ(working_set_bytes(100, 300), 0u);
  EXPECT_EQ(ticks_to_ns(250, 100), 2'500'000'000u);
  EXPECT_EQ(ticks_to_ns(3, 1000), 3'000'000u);
  EXPECT_EQ(ticks_to_ns(uint64_t{1} << 40, 100), (uint64_t{1} << 40) * 10'000'000);
  EXPECT_EQ(ticks_to_ns(5, 0), 0u);
  // cAdvisor's conversion: 1..10000 onto 2..262144.
  EXPECT_EQ(cpu_shares_from_weight(1), 2u);
  EXPECT_EQ(cpu_shares_from_weight(100), 2597u);
  EXPECT_EQ(cpu_shares_from_weight(10000), 262144u);
  EXPECT_EQ(cpu_shares_from_weight(0), 2u) << "clamped";
  EXPECT_EQ(cpu_shares_from_weight(cpu_weight_from_shares(1024)), 998u);
}

}  // namespace
}  // namespace berth::cgroups
