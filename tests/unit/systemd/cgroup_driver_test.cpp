// The systemd cgroup driver's names, unit properties and the choice of
// driver (its sd-bus calls run against a booted systemd:
// tests/integration/systemd_cgroup_driver_test.cpp).
#include "systemd/cgroup_driver.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

namespace berth::systemd {
namespace {

TEST(SlicePrefix, ADashIsEscapedSoNamespacesNeverNestNorMeet) {
  EXPECT_EQ(slice_prefix("berth").value_or(""), "berth");
  EXPECT_EQ(slice_prefix("berth-it-1a2b").value_or(""), "berth\\x2dit\\x2d1a2b");
  EXPECT_EQ(slice_prefix("berth_it").value_or(""), "berth_it") << "not the same as berth-it";
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

// A v1 layout of plain directories standing in for the mounts.
class CgroupDriverChoiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/berth-driver-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    root_ = dir;
    for (const char* controller : {"cpu", "cpuacct", "memory", "pids"}) {
      std::filesystem::create_directories(root_ + "/" + controller);
      layout_.v1[controller] = root_ + "/" + controller;
    }
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void make(const std::string& relative) {
    std::filesystem::create_directories(root_ + "/memory/" + relative);
  }
  std::string root_;
  cgroups::Layout layout_;
};

TEST_F(CgroupDriverChoiceTest, WithoutSystemdOrTasksTheDefaultIsCgroupfs) {
  auto choice = choose_cgroup_driver(layout_, "berth", "", false);
  ASSERT_TRUE(choice) << choice.error().message();
  EXPECT_FALSE(choice->systemd);
  EXPECT_EQ(choice->manager->name(), "cgroupfs v1");
  EXPECT_EQ(choice->note, "");
}

// An upgrade to a berthd whose default is systemd must not lose the tasks
// that run in cgroupfs cgroups: the default keeps cgroupfs, and asking for
// systemd by name is refused, naming them.
TEST_F(CgroupDriverChoiceTest, TasksOfTheOtherDriverKeepIt) {
  make("berth/0123456789ab");
  auto kept = choose_cgroup_driver(layout_, "berth", "", true);
  ASSERT_TRUE(kept) << kept.error().message();
  EXPECT_FALSE(kept->systemd);
  EXPECT_NE(kept->note.find("keeping cgroupfs, which task(s) 0123456789ab use"), std::string::npos)
      << kept->note;
  auto asked = choose_cgroup_driver(layout_, "berth", "systemd", true);
  ASSERT_FALSE(asked);
  EXPECT_EQ(asked.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(asked.error().message().find("task(s) 0123456789ab have cgroups of the cgroupfs"),
            std::string::npos)
      << asked.error().message();

  std::filesystem::remove_all(root_ + "/memory/berth");
  make("berth-it.slice/berth-it-feedbeef0000.slice");  // another namespace: not ours
  make("berth.slice/berth-aaaabbbbcccc.slice");
  auto cgroupfs = choose_cgroup_driver(layout_, "berth", "cgroupfs", true);
  ASSERT_FALSE(cgroupfs);
  EXPECT_NE(cgroupfs.error().message().find("task(s) aaaabbbbcccc have cgroups of the systemd"),
            std::string::npos)
      << cgroupfs.error().message();
}

}  // namespace
}  // namespace berth::systemd
