// What a task takes from the node, admission, and the limits a definition
// becomes (agent/resources.h). Pure: no root, no cgroupfs.
#include "agent/engine/admission.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace berth::agent {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

TaskDefinition parse(const std::string& json) {
  auto parsed = parse_task_definition(json, ValidationPolicy{});
  EXPECT_TRUE(parsed.definition) << format_problems(parsed.problems);
  return parsed.definition ? *parsed.definition : TaskDefinition{};
}

NodeResources node(uint64_t cpu, uint64_t memory_mib, uint64_t reserved_mib = 0) {
  NodeResources n;
  n.total = {cpu, memory_mib * kMiB};
  n.reserved = {0, reserved_mib * kMiB};
  return n;
}

TEST(TaskDemand, TaskLevelValuesWin) {
  auto def = parse(R"({"family":"f","cpu":"0.5 vCPU","memory":"1 GB","containerDefinitions":[
      {"name":"a","image":"busybox","cpu":128,"memory":64}]})");
  EXPECT_EQ(task_demand(def), (Resources{512, 1024 * kMiB}));
}

TEST(TaskDemand, ContainersAddUpWithTheirReservationBeforeTheirLimit) {
  auto def = parse(R"({"family":"f","containerDefinitions":[
      {"name":"a","image":"busybox","cpu":128,"memory":256,"memoryReservation":64},
      {"name":"b","image":"busybox","cpu":256,"memory":100},
      {"name":"c","image":"busybox"}]})");
  EXPECT_EQ(task_demand(def), (Resources{384, 164 * kMiB}));
}

TEST(Admit, FitsUpToTheLastUnit) {
  auto n = node(2048, 1000, 200);
  EXPECT_EQ(n.allocatable(), (Resources{2048, 800 * kMiB}));
  EXPECT_TRUE(admit({1024, 400 * kMiB}, n, {1024, 400 * kMiB}));
}

TEST(Admit, RefusalsNameTheResourceAndWhatIsLeft) {
  auto n = node(2048, 1000, 200);
  auto cpu = admit({1025, 0}, n, {1024, 0});
  ASSERT_FALSE(cpu);
  EXPECT_EQ(cpu.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(cpu.error().message(),
            "RESOURCE:CPU: the task needs 1025 CPU units; the node has 1024 left of 2048");
  auto memory = admit({0, 500 * kMiB}, n, {0, 400 * kMiB});
  ASSERT_FALSE(memory);
  EXPECT_EQ(memory.error().message(),
            "RESOURCE:MEMORY: the task needs 500 MiB; the node has 400 MiB left of 800 MiB");
  // CPU is checked first: a task short of both names CPU.
  auto both = admit({4096 - 1, 900 * kMiB}, node(4096, 1000), {1024, 0});
  ASSERT_FALSE(both);
  EXPECT_NE(both.error().message().find("RESOURCE:CPU"), std::string::npos);
}

TEST(Admit, MoreCpuThanTheNodeHasIsInvalidNotAPlacementFailure) {
  auto refused = admit({4096, 0}, node(2048, 1000), {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(refused.error().message(),
            "cpu: the task asks for 4096 CPU units, more than this node's 2048 (2.00 CPUs)");
}

TEST(Admit, AReservationLargerThanTheNodeLeavesNothing) {
  auto n = node(1024, 100, 200);
  EXPECT_EQ(n.allocatable().memory_bytes, 0u);
  EXPECT_FALSE(admit({0, kMiB}, n, {}));
  EXPECT_TRUE(admit({0, 0}, n, {}));
}

TEST(TaskLimits, CpuMemoryAndPids) {
  auto def = parse(R"({"family":"f","cpu":"256","memory":"512","containerDefinitions":[
      {"name":"a","image":"busybox"}]})");
  auto limits = task_limits(def, 100);
  EXPECT_EQ(limits.cpu_units, 256u);
  EXPECT_EQ(limits.memory_bytes, 512 * kMiB);
  EXPECT_EQ(limits.pids, 100u);
  auto none = task_limits(parse(R"({"family":"f","containerDefinitions":[
      {"name":"a","image":"busybox","memory":64}]})"),
                          0);
  EXPECT_FALSE(none.cpu_units);
  EXPECT_FALSE(none.memory_bytes) << "a container's memory is the container's limit";
  EXPECT_FALSE(none.pids);
}

TEST(ContainerResources, OciValuesForEachField) {
  auto def = parse(R"({"family":"f","containerDefinitions":[
      {"name":"a","image":"busybox","cpu":512,"memory":64,"memoryReservation":32,
       "linuxParameters":{"maxSwap":16,"swappiness":10}}]})");
  auto r = container_resources(def, def.containers[0], false, true);
  EXPECT_EQ(r.cpu_shares, 512u);
  EXPECT_EQ(r.memory_limit, static_cast<int64_t>(64 * kMiB));
  EXPECT_EQ(r.memory_reservation, static_cast<int64_t>(32 * kMiB));
  EXPECT_EQ(r.memory_swap, static_cast<int64_t>(80 * kMiB)) << "memory plus maxSwap";
  EXPECT_EQ(r.swappiness, 10u);

  auto v2 = container_resources(def, def.containers[0], true, true);
  EXPECT_FALSE(v2.swappiness) << "cgroup v2 has no swappiness";
  auto no_accounting = container_resources(def, def.containers[0], false, false);
  EXPECT_FALSE(no_accounting.memory_swap);
  EXPECT_EQ(no_accounting.memory_limit, static_cast<int64_t>(64 * kMiB));
}

TEST(ContainerResources, CpuZeroIsTheKernelMinimumAndNoCpuIsTheDefault) {
  auto def = parse(R"({"family":"f","containerDefinitions":[
      {"name":"a","image":"busybox","cpu":0},{"name":"b","image":"busybox"}]})");
  EXPECT_EQ(container_resources(def, def.containers[0], false, true).cpu_shares, 2u);
  EXPECT_FALSE(container_resources(def, def.containers[1], false, true).cpu_shares);
}

TEST(ContainerResources, MaxSwapWithoutContainerMemoryTakesTheTasks) {
  auto def = parse(R"({"family":"f","memory":"128","containerDefinitions":[
      {"name":"a","image":"busybox","linuxParameters":{"maxSwap":0}}]})");
  auto r = container_resources(def, def.containers[0], false, true);
  EXPECT_EQ(r.memory_limit, static_cast<int64_t>(128 * kMiB));
  EXPECT_EQ(r.memory_swap, static_cast<int64_t>(128 * kMiB));
}

TEST(ContainerResources, MaxSwapWithNoMemoryLimitAtAllIsRefused) {
  auto parsed = parse_task_definition(R"({"family":"f","containerDefinitions":[
      {"name":"a","image":"busybox","memoryReservation":64,"linuxParameters":{"maxSwap":0}}]})",
                                      ValidationPolicy{});
  EXPECT_FALSE(parsed.definition);
  EXPECT_NE(format_problems(parsed.problems)
                .find("containerDefinitions[0].linuxParameters.maxSwap: needs a memory limit"),
            std::string::npos)
      << format_problems(parsed.problems);
}

TEST(HostResources, ReadsMemTotalAndCountsCpus) {
  std::string path = ::testing::TempDir() + "/meminfo";
  {
    std::ofstream out(path);
    out << "MemTotal:       24731236 kB\nMemFree:        22656420 kB\n";
  }
  auto host = host_resources(path);
  ASSERT_TRUE(host) << host.error().message();
  EXPECT_EQ(host->memory_bytes, uint64_t{24731236} * 1024);
  EXPECT_GE(host->cpu_units, 1024u);
  EXPECT_EQ(host->cpu_units % 1024, 0u);
  {
    std::ofstream out(path);
    out << "MemFree: 1 kB\n";
  }
  auto missing = host_resources(path);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("no MemTotal"), std::string::npos);
  EXPECT_FALSE(host_resources(path + ".absent"));
  std::filesystem::remove(path);
}

TEST(FormatBytes, MebibytesAndGibibytes) {
  EXPECT_EQ(format_bytes(512 * kMiB), "512 MiB");
  EXPECT_EQ(format_bytes(2048 * kMiB), "2 GiB");
  EXPECT_EQ(format_bytes(1536 * kMiB), "1.5 GiB");
  EXPECT_EQ(format_bytes(0), "0 MiB");
}

}  // namespace
}  // namespace berth::agent
