#include "agent/api/log_follower.h"

#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cstring>

namespace berth::agent {

Result<LogFollower> LogFollower::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno("open log '" + path + "'");
  int inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0 ||
      inotify_add_watch(inotify_fd, path.c_str(), IN_MODIFY | IN_CLOSE_WRITE) < 0) {
    int saved = errno;
    ::close(fd);
    if (inotify_fd >= 0) ::close(inotify_fd);
    return fail_errno("watch log '" + path + "'", saved);
  }
  return LogFollower(fd, inotify_fd, path);
}

LogFollower::LogFollower(LogFollower&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      inotify_fd_(std::exchange(other.inotify_fd_, -1)),
      path_(std::move(other.path_)),
      partial_(std::move(other.partial_)),
      skipped_(other.skipped_),
      writer_closed_(other.writer_closed_) {}

LogFollower::~LogFollower() {
  if (fd_ >= 0) ::close(fd_);
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
}

void LogFollower::skip_to_end() {
  ::lseek(fd_, 0, SEEK_END);
  partial_.clear();
}

void LogFollower::clear_notifications() {
  alignas(inotify_event) char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(inotify_fd_, buf, sizeof buf)) > 0) {
    for (ssize_t at = 0; at + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
      inotify_event event{};
      std::memcpy(&event, buf + at, sizeof event);
      if ((event.mask & IN_CLOSE_WRITE) != 0) writer_closed_ = true;
      at += static_cast<ssize_t>(sizeof(inotify_event) + event.len);
    }
  }
}

Status LogFollower::drain(const std::function<Status(const runtime::LogRecord&)>& sink) {
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno("read log '" + path_ + "'");
    }
    if (n == 0) return {};
    partial_.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(partial_.data() + start, nl - start);
      if (line.empty()) continue;
      auto record = runtime::parse_log_record(line);
      // A line torn by a crash or a full disk is skipped, not fatal: the
      // records after it are still good.
      if (!record) {
        ++skipped_;
        continue;
      }
      BERTH_TRY(sink(*record));
    }
    partial_.erase(0, start);
  }
}

}  // namespace berth::agent
