// Task volumes that are mounts of their own (dockerVolumeConfiguration
// driverOpts, as Docker's local driver mounts them), and the removal of a
// task's volume directories that never crosses into a mount: a bind of a
// node directory must lose its mount, never its files.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/taskdef/taskdef.h"
#include "common/error.h"

namespace berth::agent {

// What mount(2) gets for a driverOpts "o": the mount flags it names, and
// everything else as the file system's data.
struct MountArguments {
  unsigned long flags = 0;
  std::string data;  // "size=64m,uid=1000"
};

// "size=64m,uid=1000,noexec" -> {MS_NOEXEC, "size=64m,uid=1000"}.
MountArguments mount_arguments(std::string_view options);

// Mounts `mount` at `target`, an existing directory, unless something is
// mounted there already (a step repeated after a crash). The error names
// the type, device and options the kernel refused.
Status mount_volume(const LocalMount& mount, const std::string& target);

// The mount points at or below `dir`, deepest first (/proc/self/mountinfo).
std::vector<std::string> mounts_below(const std::string& dir);

// Unmounts everything at or below `dir`, then removes `dir` and what is
// left in it. Removes nothing while a mount remains below it.
Status remove_volumes(const std::string& dir);

}  // namespace berth::agent
