#include "agent/volumes/volume_mounts.h"

#include <gtest/gtest.h>
#include <sys/mount.h>

namespace berth::agent {
namespace {

TEST(VolumeMounts, MountFlagsAreTakenOutOfOAndTheRestIsData) {
  auto tmpfs = mount_arguments("size=64m,uid=1000,noexec,nosuid");
  EXPECT_EQ(tmpfs.flags, static_cast<unsigned long>(MS_NOEXEC | MS_NOSUID));
  EXPECT_EQ(tmpfs.data, "size=64m,uid=1000");

  auto bind = mount_arguments("bind,ro");
  EXPECT_EQ(bind.flags, static_cast<unsigned long>(MS_BIND | MS_RDONLY));
  EXPECT_EQ(bind.data, "");
  EXPECT_EQ(mount_arguments("rbind").flags, static_cast<unsigned long>(MS_BIND | MS_REC));

  // A "no" form clears what came before it; empty items are nothing.
  auto cleared = mount_arguments("ro,,rw,noexec,exec,defaults");
  EXPECT_EQ(cleared.flags, 0ul);
  EXPECT_EQ(cleared.data, "");
  EXPECT_EQ(mount_arguments("addr=10.0.0.1,vers=4").data, "addr=10.0.0.1,vers=4");
}

TEST(VolumeMounts, MountsBelowAreFoundDeepestFirstAndOnlyBelow) {
  // /proc is mounted and so is /proc/sys/fs/binfmt_misc on most hosts;
  // "/pro" is a prefix that must not count.
  auto found = mounts_below("/proc");
  ASSERT_FALSE(found.empty());
  EXPECT_EQ(found.back(), "/proc");
  for (size_t i = 1; i < found.size(); ++i) EXPECT_GE(found[i - 1].size(), found[i].size());
  EXPECT_TRUE(mounts_below("/pro").empty());
}

}  // namespace
}  // namespace berth::agent
