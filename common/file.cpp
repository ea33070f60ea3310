#include "common/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fd.h"

namespace berth {

namespace {

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Status write_atomically(const std::string& path, std::string_view contents, mode_t mode) {
  std::string temp = path + ".tmp";
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) return fail_errno("open '" + temp + "'");
  auto abandon = [&](std::string what) {
    int saved = errno;
    fd.reset();
    ::unlink(temp.c_str());
    return fail_errno(std::move(what), saved);
  };
  size_t written = 0;
  while (written < contents.size()) {
    ssize_t n = ::write(fd.get(), contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return abandon("write '" + temp + "'");
    }
    written += static_cast<size_t>(n);
  }
  // The mode asked for, whatever the umask took away.
  if (::fchmod(fd.get(), mode) != 0) return abandon("chmod '" + temp + "'");
  if (::fsync(fd.get()) != 0) return abandon("fsync '" + temp + "'");
  if (fd.close() != 0) {
    int saved = errno;
    ::unlink(temp.c_str());
    return fail_errno("close '" + temp + "'", saved);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int saved = errno;
    ::unlink(temp.c_str());
    return fail_errno("rename '" + temp + "'", saved);
  }
  std::string dir = parent_dir(path);
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd || ::fsync(dir_fd.get()) != 0) return fail_errno("fsync '" + dir + "'");
  return {};
}

Result<std::string> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno("open '" + path + "'");
  std::string text;
  char buffer[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno("read '" + path + "'");
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

}  // namespace berth
