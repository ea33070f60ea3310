#include "agent/volumes/volume_mounts.h"

#include <sys/mount.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "common/strings.h"

namespace berth::agent {

namespace {

namespace fs = std::filesystem;

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      std::string_view digits = field.substr(i + 1, 3);
      if (std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        out.push_back(
            static_cast<char>((digits[0] - '0') * 64 + (digits[1] - '0') * 8 + (digits[2] - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

bool below(const std::string& path, const std::string& dir) {
  return path == dir ||
         (path.starts_with(dir) && path.size() > dir.size() && path[dir.size()] == '/');
}

}  // namespace

MountArguments mount_arguments(std::string_view options) {
  // The flags of mount(8) that Docker's local driver takes out of "o"; a
  // "no" form clears what the other sets.
  static constexpr auto kFlags = std::to_array<std::pair<std::string_view, unsigned long>>({
      {"ro", MS_RDONLY},
      {"nosuid", MS_NOSUID},
      {"nodev", MS_NODEV},
      {"noexec", MS_NOEXEC},
      {"sync", MS_SYNCHRONOUS},
      {"dirsync", MS_DIRSYNC},
      {"mand", MS_MANDLOCK},
      {"noatime", MS_NOATIME},
      {"nodiratime", MS_NODIRATIME},
      {"bind", MS_BIND},
      {"rbind", MS_BIND | MS_REC},
      {"relatime", MS_RELATIME},
      {"strictatime", MS_STRICTATIME},
  });
  static constexpr auto kClear = std::to_array<std::pair<std::string_view, unsigned long>>({
      {"rw", MS_RDONLY},
      {"suid", MS_NOSUID},
      {"dev", MS_NODEV},
      {"exec", MS_NOEXEC},
      {"async", MS_SYNCHRONOUS},
      {"nomand", MS_MANDLOCK},
      {"atime", MS_NOATIME},
      {"diratime", MS_NODIRATIME},
      {"norelatime", MS_RELATIME},
      {"nostrictatime", MS_STRICTATIME},
      {"defaults", 0},
  });
  MountArguments out;
  for (const std::string& option : split(options, ',')) {
    if (option.empty()) continue;
    auto set = std::find_if(kFlags.begin(), kFlags.end(),
                            [&](const auto& flag) { return flag.first == option; });
    if (set != kFlags.end()) {
      out.flags |= set->second;
      continue;
    }
    auto clear = std::find_if(kClear.begin(), kClear.end(),
                              [&](const auto& flag) { return flag.first == option; });
    if (clear != kClear.end()) {
      out.flags &= ~clear->second;
      continue;
    }
    if (!out.data.empty()) out.data += ',';
    out.data += option;
  }
  return out;
}

std::vector<std::string> mounts_below(const std::string& dir) {
  std::vector<std::string> found;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id;
    std::string parent;
    std::string devices;
    std::string root;
    std::string mount_point;
    if (!(fields >> id >> parent >> devices >> root >> mount_point)) continue;
    std::string path = unescape(mount_point);
    if (below(path, dir)) found.push_back(std::move(path));
  }
  // Deepest first, so that a mount inside another goes before it.
  std::sort(found.begin(), found.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return found;
}

Status mount_volume(const LocalMount& mount, const std::string& target) {
  auto mounted = mounts_below(target);
  if (std::find(mounted.begin(), mounted.end(), target) != mounted.end()) {
    return {};  // mounted by an earlier attempt
  }
  MountArguments arguments = mount_arguments(mount.options);
  const bool bind = (arguments.flags & MS_BIND) != 0;
  const char* type = bind ? nullptr : mount.type.c_str();
  const char* data = arguments.data.empty() || bind ? nullptr : arguments.data.c_str();
  auto refused = [&](int error) {
    return Error(ErrorCode::kInvalidArgument,
                 "mount type '" + mount.type + "' device '" + mount.device + "' o '" +
                     mount.options + "': " + std::strerror(error),
                 error);
  };
  if (::mount(mount.device.c_str(), target.c_str(), type, arguments.flags, data) != 0) {
    return fail(refused(errno));
  }
  // A bind is read-only only once remounted so.
  constexpr unsigned long kRemounted = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (bind && (arguments.flags & kRemounted) != 0) {
    if (::mount(nullptr, target.c_str(), nullptr,
                MS_REMOUNT | MS_BIND | (arguments.flags & kRemounted), nullptr) != 0) {
      int error = errno;
      ::umount2(target.c_str(), MNT_DETACH);
      return fail(refused(error));
    }
  }
  return {};
}

Status remove_volumes(const std::string& dir) {
  for (const auto& path : mounts_below(dir)) {
    if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
      return fail_errno("unmount the volume at '" + path + "'");
    }
  }
  if (auto left = mounts_below(dir); !left.empty()) {
    return fail(ErrorCode::kFailedPrecondition,
                "'" + left.front() + "' is still mounted; its volumes are kept");
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return fail(ErrorCode::kInternal, "remove '" + dir + "': " + ec.message());
  return {};
}

}  // namespace berth::agent
