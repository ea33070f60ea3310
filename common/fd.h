// The one owner of a file descriptor: move-only, closed once. Every fd berth
// opens is O_CLOEXEC, so a child started by posix_spawn inherits none.
#pragma once

#include <utility>

#include "common/error.h"

namespace berth {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  // Gives the descriptor up without closing it.
  int release() { return std::exchange(fd_, -1); }
  // Closes the descriptor held (if any) and holds `fd` instead.
  void reset(int fd = -1);
  // Closes now and reports close()'s own result (0, or -1 with errno), for
  // the callers that must know a write reached the file.
  int close();

 private:
  int fd_ = -1;
};

// A pipe whose both ends are O_CLOEXEC.
struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

// pipe2(O_CLOEXEC) with owned ends.
Result<Pipe> make_pipe();

}  // namespace berth
