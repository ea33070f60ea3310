// A fixture for tests against real network namespaces: root only (skipped
// otherwise). Every namespace is pinned under a private temp directory;
// TearDown removes them all and checks that nothing is left there.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "netns/netns.h"

namespace berth::netns::test {

// The inode of the calling thread's network namespace: it must not change.
inline ino_t own_namespace_inode() {
  struct stat st {};
  if (::stat("/proc/thread-self/ns/net", &st) != 0) return 0;
  return st.st_ino;
}

class PinnedNamespaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    std::string pattern = (std::filesystem::temp_directory_path() / "berth-netns-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }

  void TearDown() override {
    if (dir_.empty()) return;
    for (const std::string& path : pinned_) {
      auto removed = remove_pinned(path);
      EXPECT_TRUE(removed) << removed.error().message();
      EXPECT_FALSE(is_pinned(path)) << path;
    }
    EXPECT_EQ(list_dir(dir_), std::vector<std::string>{}) << "left behind in " << dir_;
    ::rmdir(dir_.c_str());
  }

  // A new namespace pinned at <dir>/<name>; "" (after a failed assertion)
  // when it cannot be made.
  std::string make_namespace(const std::string& name) {
    std::string path = dir_ + "/" + name;
    auto created = create_pinned(path);
    EXPECT_TRUE(created) << created.error().message();
    if (!created) return "";
    pinned_.push_back(path);
    return path;
  }

  std::string dir_;
  std::vector<std::string> pinned_;
};

}  // namespace berth::netns::test
