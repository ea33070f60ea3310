#include "cgroups/layout.h"

#include <cctype>

#include "common/file.h"
#include "common/strings.h"

namespace berth::cgroups {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo (octal).
std::string unescape_octal(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      std::string_view digits = field.substr(i + 1, 3);
      bool octal = true;
      for (char c : digits) octal = octal && c >= '0' && c <= '7';
      if (octal) {
        out += static_cast<char>(((digits[0] - '0') << 6) | ((digits[1] - '0') << 3) |
                                 (digits[2] - '0'));
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

// The file's text; "" when it cannot be read, as if it were empty.
std::string read_text(const std::string& path) { return read_file(path).value_or(""); }

}  // namespace

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (std::isspace(static_cast<unsigned char>(text[i])) != 0)) ++i;
    size_t start = i;
    while (i < text.size() && (std::isspace(static_cast<unsigned char>(text[i])) == 0)) ++i;
    if (i > start) words.emplace_back(text.substr(start, i - start));
  }
  return words;
}

Result<std::vector<CgroupMount>> parse_mountinfo(std::string_view text) {
  std::vector<CgroupMount> mounts;
  int line_number = 0;
  for (const std::string& line : split(text, '\n')) {
    ++line_number;
    if (line.empty()) continue;
    // "36 25 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:15 - cgroup cgroup rw,cpu,cpuacct"
    std::vector<std::string> fields = split_words(line);
    size_t dash = 0;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (dash < 5 || dash + 3 > fields.size()) {
      return fail(ErrorCode::kInvalidArgument, "mountinfo line " + std::to_string(line_number) +
                                                   " is malformed: '" + line + "'");
    }
    const std::string& fstype = fields[dash + 1];
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    CgroupMount mount;
    mount.root = unescape_octal(fields[3]);
    mount.mount_point = unescape_octal(fields[4]);
    mount.v2 = fstype == "cgroup2";
    if (!mount.v2) {
      // Super options name the controllers, among generic options.
      for (const std::string& option : split(fields[dash + 3], ',')) {
        if (option.empty() || option == "rw" || option == "ro" || option == "noprefix" ||
            option == "clone_children" || option == "xattr" || option == "cpuset_v2_mode" ||
            option == "favordynmods" || option.starts_with("release_agent=") || option == "none") {
          continue;
        }
        mount.controllers.push_back(option);
      }
    }
    mounts.push_back(std::move(mount));
  }
  return mounts;
}

Result<Layout> detect_layout(std::string_view mountinfo, std::string_view cgroup2_controllers) {
  std::vector<CgroupMount> mounts = BERTH_TRY_CTX(parse_mountinfo(mountinfo), "parse mountinfo");
  Layout layout;
  bool v1_controllers = false;
  for (const CgroupMount& mount : mounts) {
    if (mount.v2) {
      if (layout.unified.empty()) layout.unified = mount.mount_point;
      continue;
    }
    for (const std::string& controller : mount.controllers) {
      if (!controller.starts_with("name=")) v1_controllers = true;
      layout.v1.try_emplace(controller, mount.mount_point);
    }
  }
  if (!layout.unified.empty()) layout.unified_controllers = split_words(cgroup2_controllers);
  if (v1_controllers) {
    layout.kind = layout.unified.empty() ? LayoutKind::kV1 : LayoutKind::kHybrid;
  } else if (!layout.unified.empty()) {
    layout.kind = LayoutKind::kV2;
  } else {
    return fail(ErrorCode::kFailedPrecondition,
                "no cgroup filesystem is mounted (neither cgroup v1 controllers nor cgroup2)");
  }
  return layout;
}

std::string layout_name(const Layout& layout) {
  switch (layout.kind) {
    case LayoutKind::kV2:
      return "cgroup v2";
    case LayoutKind::kV1:
      return "cgroup v1";
    case LayoutKind::kHybrid: {
      if (layout.unified_controllers.empty()) {
        return "cgroup v1 (hybrid: empty v2 at " + layout.unified + ")";
      }
      std::string controllers;
      for (const std::string& c : layout.unified_controllers) {
        controllers += (controllers.empty() ? "" : " ") + c;
      }
      return "cgroup v1 (hybrid: v2 at " + layout.unified + " with " + controllers + ")";
    }
  }
  return "cgroup (unknown layout)";
}

Result<Layout> detect_host_layout() {
  std::string mountinfo = read_text("/proc/self/mountinfo");
  if (mountinfo.empty()) return fail(ErrorCode::kInternal, "cannot read /proc/self/mountinfo");
  // The cgroup2 mount point is needed to read its controllers: parse twice.
  Layout first = BERTH_TRY(detect_layout(mountinfo, ""));
  if (first.unified.empty()) return first;
  return detect_layout(mountinfo, read_text(first.unified + "/cgroup.controllers"));
}

}  // namespace berth::cgroups
