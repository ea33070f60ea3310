// Directory trees that stand in for cgroupfs v1 and v2, shared by the
// backend tests: a hook plays the kernel's part of filling a new cgroup
// with its control files (with the values a fresh cgroup has).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "cgroups/cgroupfs_v1.h"
#include "cgroups/cgroupfs_v2.h"
#include "cgroups/layout.h"

namespace berth::cgroups::fake {

namespace fs = std::filesystem;

inline constexpr uint64_t kMiB = uint64_t{1024} * 1024;
// What v1's memory.limit_in_bytes reads when there is no limit (4 KiB pages).
inline constexpr std::string_view kV1NoLimit = "9223372036854771712";

inline std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string value = text.str();
  while (!value.empty() && value.back() == '\n') value.pop_back();
  return value;
}

inline void write(const std::string& path, const std::string& value) {
  std::ofstream(path) << value;
}

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
inline bool tree_has_dir(const std::string& root, const std::string& name) {
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_directory() && entry.path().filename() == name) return true;
  }
  return false;
}

// v1: one directory per hierarchy as on this machine; `omit` names control
// files the fake kernel does not create (to make a write fail half-way, or
// to stand for an older kernel).
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
      files.insert({{"cpu.shares", "1024"},
                    {"cpu.cfs_quota_us", "-1"},
                    {"cpu.cfs_period_us", "100000"},
                    {"cpu.stat", "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n"}});
    } else if (hierarchy == "cpuacct") {
      files.insert({{"cpuacct.usage", "0"}, {"cpuacct.stat", "user 0\nsystem 0\n"}});
    } else if (hierarchy == "memory") {
      files.insert({{"memory.limit_in_bytes", std::string(kV1NoLimit)},
                    {"memory.soft_limit_in_bytes", std::string(kV1NoLimit)},
                    {"memory.swappiness", "60"},
                    {"memory.usage_in_bytes", "0"},
                    {"memory.max_usage_in_bytes", "0"},
                    {"memory.failcnt", "0"},
                    {"memory.stat",
                     "cache 0\nrss 0\ninactive_file 0\ntotal_cache 0\n"
                     "total_rss 0\ntotal_inactive_file 0\n"},
                    {"memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"}});
      if (swap_accounting_) {
        files.insert({"memory.memsw.limit_in_bytes", std::string(kV1NoLimit)});
      }
    } else if (hierarchy == "pids") {
      files.insert({{"pids.max", "max"}, {"pids.current", "0"}});
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
    // cpu.stat is there without the cpu controller, with its first keys.
    std::string cpu_stat = "usage_usec 0\nuser_usec 0\nsystem_usec 0\n";
    if (available.contains("cpu")) cpu_stat += "nr_periods 0\nnr_throttled 0\nthrottled_usec 0\n";
    std::map<std::string, std::string> files{{"cgroup.controllers", controllers},
                                             {"cgroup.subtree_control", ""},
                                             {"cgroup.procs", ""},
                                             {"cgroup.events", "populated 0\nfrozen 0\n"},
                                             {"cpu.stat", cpu_stat}};
    if (available.contains("cpu")) {
      files.insert({{"cpu.max", "max 100000"}, {"cpu.weight", "100"}});
    }
    if (available.contains("memory")) {
      files.insert({{"memory.max", "max"},
                    {"memory.low", "0"},
                    {"memory.swap.max", "max"},
                    {"memory.current", "0"},
                    {"memory.peak", "0"},
                    {"memory.stat", "anon 0\nfile 0\ninactive_anon 0\ninactive_file 0\n"},
                    {"memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"}});
    }
    if (available.contains("pids")) files.insert({{"pids.max", "max"}, {"pids.current", "0"}});
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

}  // namespace berth::cgroups::fake
