// Follows a container's JSON-lines log file (written by berth-logger) from
// the start (or its current end), handing out complete records as they are
// appended.
#pragma once

#include <functional>
#include <string>

#include "common/error.h"
#include "runtime/log_record.h"

namespace berth::agent {

class LogFollower {
 public:
  static Result<LogFollower> open(const std::string& path);
  LogFollower(LogFollower&& other) noexcept;
  LogFollower& operator=(LogFollower&&) = delete;
  ~LogFollower();

  // Hands every complete record appended since the last call to `sink`;
  // stops early and returns the sink's error.
  Status drain(const std::function<Status(const runtime::LogRecord&)>& sink);
  // Skips what the file holds now: drain() then hands out only records
  // appended from here on (docker attach's view).
  void skip_to_end();
  // Becomes readable (POLLIN) when the file was written to.
  int wait_fd() const { return inotify_fd_; }
  // Consumes pending change notifications.
  void clear_notifications();
  // Whether a writer closed the file since it was opened (berth-logger
  // exits once its container's task is deleted: the log is complete).
  bool writer_closed() const { return writer_closed_; }
  // Lines that were not valid records (torn writes) and were skipped.
  size_t skipped() const { return skipped_; }

 private:
  LogFollower(int fd, int inotify_fd, std::string path)
      : fd_(fd), inotify_fd_(inotify_fd), path_(std::move(path)) {}
  int fd_ = -1;
  int inotify_fd_ = -1;
  std::string path_;
  std::string partial_;
  size_t skipped_ = 0;
  bool writer_closed_ = false;
};

}  // namespace berth::agent
