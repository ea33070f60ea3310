#include "cgroups/cgroupfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <ranges>

#include "common/fd.h"
#include "common/file.h"

namespace berth::cgroups {
namespace {

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};

bool on_cgroupfs(const std::string& path) {
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) != 0) return false;
  return fs.f_type == CGROUP_SUPER_MAGIC || fs.f_type == CGROUP2_SUPER_MAGIC;
}

// On cgroupfs, rmdir takes the control files with the directory; a plain
// directory tree (tests) holds regular files that must go first.
void remove_plain_files(const std::string& path) {
  std::unique_ptr<DIR, DirCloser> dir(::opendir(path.c_str()));
  if (!dir) return;
  while (struct dirent* entry = ::readdir(dir.get())) {
    if (entry->d_type == DT_REG) ::unlinkat(::dirfd(dir.get()), entry->d_name, 0);
  }
}

}  // namespace

Status write_control(const std::string& path, std::string_view value) {
  UniqueFd file(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!file) return fail_errno("open '" + path + "'");
  // cgroupfs takes a value in one write(); a short write is an error.
  ssize_t written = ::write(file.get(), value.data(), value.size());
  if (written < 0) return fail_errno("write '" + std::string(value) + "' to '" + path + "'");
  if (static_cast<size_t>(written) != value.size()) {
    return fail(ErrorCode::kInternal, "write '" + std::string(value) + "' to '" + path +
                                          "': short write of " + std::to_string(written) +
                                          " bytes");
  }
  return {};
}

Result<std::string> read_control(const std::string& path) { return read_file(path); }

Result<std::optional<std::string>> read_optional_control(const std::string& path) {
  Result<std::string> text = read_file(path);
  if (!text) {
    if (text.error().sys_errno() == ENOENT) return std::optional<std::string>();
    return fail(text.error());
  }
  return std::optional<std::string>(std::move(*text));
}

Result<uint64_t> read_number(const std::string& path) {
  return parse_number(BERTH_TRY(read_control(path)), path);
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::optional<uint64_t> keyed_value(std::string_view text, std::string_view key) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ' ') {
      std::string_view number = line.substr(key.size() + 1);
      uint64_t value = 0;
      auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
      if (ec == std::errc()) return value;
      return std::nullopt;
    }
    start = end + 1;
  }
  return std::nullopt;
}

Result<uint64_t> parse_number(std::string_view text, std::string_view what) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return fail(ErrorCode::kDataLoss,
                std::string(what) + ": '" + std::string(text) + "' is not a number");
  }
  return value;
}

Result<std::vector<std::string>> child_cgroups(const std::string& path) {
  std::vector<std::string> children;
  std::unique_ptr<DIR, DirCloser> dir(::opendir(path.c_str()));
  if (!dir) {
    if (errno == ENOENT) return children;
    return fail_errno("list '" + path + "'");
  }
  while (struct dirent* entry = ::readdir(dir.get())) {
    std::string_view name = entry->d_name;
    if (entry->d_type != DT_DIR || name == "." || name == "..") continue;
    children.emplace_back(name);
  }
  std::sort(children.begin(), children.end());
  return children;
}

Status remove_cgroup_tree(const std::string& path) {
  if (!path_exists(path)) return {};
  std::vector<std::string> children = BERTH_TRY(child_cgroups(path));
  // Try every child so that one busy container does not keep the others.
  std::optional<Error> first_error;
  for (const std::string& child : children) {
    Status removed = remove_cgroup_tree(path + "/" + child);
    if (!removed && !first_error) first_error = removed.error();
  }
  if (first_error) return fail(*first_error);
  if (!on_cgroupfs(path)) remove_plain_files(path);
  if (::rmdir(path.c_str()) != 0) {
    if (errno == ENOENT) return {};
    if (errno == EBUSY) {
      return fail(Error(ErrorCode::kFailedPrecondition,
                        "cgroup '" + path + "' still has processes: " + std::strerror(EBUSY),
                        EBUSY));
    }
    return fail_errno("remove cgroup '" + path + "'");
  }
  // Trust but verify: a removal that reported success yet left the
  // directory (as libcgroup's cgdelete can) must not pass.
  if (path_exists(path)) {
    return fail(ErrorCode::kInternal, "cgroup '" + path + "' is still there after rmdir");
  }
  return {};
}

MadeDirs::~MadeDirs() {
  // Best effort: a directory that cannot go (someone else's task appeared
  // in a shared parent) is not ours to force.
  for (const std::string& dir : std::ranges::reverse_view(dirs_)) (void)remove_cgroup_tree(dir);
}

Status MadeDirs::make(const std::string& base, std::string_view relative) {
  std::string path = base;
  size_t start = 0;
  while (start < relative.size()) {
    size_t end = relative.find('/', start);
    if (end == std::string_view::npos) end = relative.size();
    if (end > start) {
      path += "/";
      path += relative.substr(start, end - start);
      if (::mkdir(path.c_str(), 0755) == 0) {
        dirs_.push_back(path);
        if (hook_) hook_(path);
      } else if (errno != EEXIST) {
        return fail_errno("create cgroup '" + path + "'");
      }
    }
    start = end + 1;
  }
  return {};
}

Status validate_cgroup_name(std::string_view what, std::string_view name) {
  if (name.empty() || name == "." || name == ".." ||
      name.find_first_of("/\n") != std::string_view::npos) {
    return fail(ErrorCode::kInvalidArgument,
                std::string(what) + " '" + std::string(name) + "' cannot name a cgroup");
  }
  return {};
}

}  // namespace berth::cgroups
