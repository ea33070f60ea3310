// The systemd cgroup driver's names and unit properties (its sd-bus calls
// run against a booted systemd: tests/integration/systemd_booted_test.cpp).
#include "systemd/cgroup_driver.h"

#include <gtest/gtest.h>

namespace berth::systemd {
namespace {

TEST(SlicePrefix, ADashBecomesAnUnderscoreSoNamespacesNeverNest) {
  EXPECT_EQ(slice_prefix("berth").value_or(""), "berth");
  EXPECT_EQ(slice_prefix("berth-it-1a2b").value_or(""), "berth_it_1a2b");
  auto dotted = slice_prefix("berth.v2");
  ASSERT_FALSE(dotted);
  EXPECT_EQ(dotted.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(dotted.error().message().find("namespace 'berth.v2': '.'"), std::string::npos)
      << dotted.error().message();
  EXPECT_FALSE(slice_prefix(""));
}

std::map<std::string, std::string> by_name(const std::vector<UnitProperty>& properties) {
  std::map<std::string, std::string> out;
  for (const auto& p : properties) {
    if (const auto* n = std::get_if<uint64_t>(&p.value)) out[p.name] = std::to_string(*n);
    if (const auto* s = std::get_if<std::string>(&p.value)) out[p.name] = *s;
    if (const auto* b = std::get_if<bool>(&p.value)) out[p.name] = *b ? "yes" : "no";
  }
  return out;
}

TEST(SliceProperties, TheTaskLimitsAsSystemdNamesThemOnV1AndV2) {
  cgroups::TaskLimits limits{256, uint64_t{128} << 20, 64};
  auto v1 = by_name(SystemdCgroupManager::slice_properties("t1", limits, false));
  // 256 units are a quarter CPU: 250 ms of CPU time per second, the 25 ms
  // per 100 ms period that cgroupfs writes.
  EXPECT_EQ(v1["CPUQuotaPerSecUSec"], "250000");
  EXPECT_EQ(v1["MemoryLimit"], "134217728");
  EXPECT_EQ(v1.count("MemoryMax"), 0u);
  EXPECT_EQ(v1["TasksMax"], "64");
  EXPECT_EQ(v1["MemoryAccounting"], "yes");
  EXPECT_EQ(v1["Description"], "berth task t1");
  auto v2 = by_name(SystemdCgroupManager::slice_properties("t1", limits, true));
  EXPECT_EQ(v2["MemoryMax"], "134217728");
  EXPECT_EQ(v2.count("MemoryLimit"), 0u);

  auto none = by_name(SystemdCgroupManager::slice_properties("t1", {}, false));
  EXPECT_EQ(none.count("CPUQuotaPerSecUSec") + none.count("MemoryLimit") + none.count("TasksMax"),
            0u)
      << "no limit asked, none set";
}

}  // namespace
}  // namespace berth::systemd
