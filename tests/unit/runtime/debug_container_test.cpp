// Where a debug container's cgroup goes: beside its target's, in the task's.
#include "runtime/debug_container.h"

#include <gtest/gtest.h>

namespace berth::runtime {
namespace {

TEST(SiblingCgroupsPath, ACgroupfsPathGetsASiblingInTheTaskCgroup) {
  EXPECT_EQ(sibling_cgroups_path("/berth/0123456789ab/0123456789ab-web", "dbg1").value_or(""),
            "/berth/0123456789ab/dbg1");
  auto top = sibling_cgroups_path("/web", "dbg1");
  ASSERT_FALSE(top);
  EXPECT_NE(top.error().message().find("has no task cgroup"), std::string::npos);
}

TEST(SiblingCgroupsPath, ASystemdPathGetsAScopeInTheSameSlice) {
  EXPECT_EQ(
      sibling_cgroups_path("berth-0123456789ab.slice:berth:0123456789ab-web", "dbg1").value_or(""),
      "berth-0123456789ab.slice:berth:dbg1");
  auto bad = sibling_cgroups_path("berth.slice:web", "dbg1");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("slice:prefix:name"), std::string::npos);
}

}  // namespace
}  // namespace berth::runtime
