// File operations on cgroupfs shared by the v1 and v2 backends. Errors name
// the path (and the value written), as the kernel's errno alone says little.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups/manager.h"
#include "common/error.h"

namespace berth::cgroups {

// Writes `value` to an existing control file (no O_CREAT: a missing file
// means the controller is not there, which must not pass silently).
Status write_control(const std::string& path, std::string_view value);
Result<std::string> read_control(const std::string& path);
// A file the kernel may not have (memory.peak before Linux 5.19, cpu.stat
// without CFS bandwidth): nullopt when it does not exist.
Result<std::optional<std::string>> read_optional_control(const std::string& path);
// The single number in a control file; the error names the path.
Result<uint64_t> read_number(const std::string& path);
bool path_exists(const std::string& path);

// The value of `key` in a flat keyed file ("oom_kill 3\n..."), or nullopt.
std::optional<uint64_t> keyed_value(std::string_view text, std::string_view key);
// A single number ("123\n").
Result<uint64_t> parse_number(std::string_view text, std::string_view what);

// The names of the subdirectories of `path` (child cgroups); none when it
// does not exist.
Result<std::vector<std::string>> child_cgroups(const std::string& path);

// Removes a cgroup directory and its child cgroups, deepest first. Missing
// is success; EBUSY (processes inside) is kFailedPrecondition naming the
// cgroup. Afterwards checks that the directory is really gone.
Status remove_cgroup_tree(const std::string& path);

// The directories one operation made, removed (deepest first) unless the
// operation succeeds and calls commit(): a failure half-way leaks nothing.
class MadeDirs {
 public:
  explicit MadeDirs(const MkdirHook& hook) : hook_(hook) {}
  MadeDirs(const MadeDirs&) = delete;
  MadeDirs& operator=(const MadeDirs&) = delete;
  ~MadeDirs();

  // mkdir -p of `relative` under the existing `base`; records what it made.
  Status make(const std::string& base, std::string_view relative);
  void commit() { dirs_.clear(); }

 private:
  const MkdirHook& hook_;
  std::vector<std::string> dirs_;
};

}  // namespace berth::cgroups
