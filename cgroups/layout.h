// The host's cgroup layout, detected from /proc/self/mountinfo: which
// hierarchy (v1, hybrid, v2) berth writes task cgroups into, and where.
// The parsers are pure functions over text so that every layout can be
// tested on a machine that has only one of them.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace berth::cgroups {

// One cgroup filesystem mount.
struct CgroupMount {
  std::string mount_point;  // e.g. "/sys/fs/cgroup/cpu,cpuacct"
  std::string root;         // the hierarchy path mounted there ("/" on a host)
  bool v2 = false;
  // v1: the controllers bound to this hierarchy ("cpu", "cpuacct",
  // "name=systemd"); v2: empty (they are in its cgroup.controllers).
  std::vector<std::string> controllers;
};

// The cgroup and cgroup2 mounts of a mountinfo text, in order. Lines of
// other filesystems are skipped; malformed lines are an error.
Result<std::vector<CgroupMount>> parse_mountinfo(std::string_view text);

enum class LayoutKind {
  kV1,      // v1 controllers only
  kHybrid,  // v1 controllers plus a cgroup2 mount (systemd's "unified")
  kV2,      // a cgroup2 mount and no v1 controller
};

struct Layout {
  LayoutKind kind = LayoutKind::kV1;
  // v1: mount point per controller; co-mounted controllers share one path.
  // Named hierarchies appear under their name ("name=systemd").
  std::map<std::string, std::string> v1;
  std::string unified;                           // the cgroup2 mount, or empty
  std::vector<std::string> unified_controllers;  // its cgroup.controllers
};

// Decides the layout from a mountinfo text and the content of the cgroup2
// mount's cgroup.controllers (empty when there is none). The first mount of
// a controller wins, as bind mounts of the same hierarchy may follow.
Result<Layout> detect_layout(std::string_view mountinfo, std::string_view cgroup2_controllers);

// For `berthctl node info`: "cgroup v2", "cgroup v1",
// "cgroup v1 (hybrid: empty v2 at /sys/fs/cgroup/unified)".
std::string layout_name(const Layout& layout);

// detect_layout() on /proc/self/mountinfo and the cgroup2 mount's
// cgroup.controllers.
Result<Layout> detect_host_layout();

// Splits a whitespace-separated list ("cpu memory pids") into words.
std::vector<std::string> split_words(std::string_view text);

}  // namespace berth::cgroups
