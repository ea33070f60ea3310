// Errors are values: every fallible function returns Result<T>.
//
// An Error keeps a coarse code (what a caller may branch on), the errno when
// a system call failed, and a message that gains context on the way up:
//   "pull 'docker.io/library/busybox:latest': resolve: GET ...: 404 not found"
#pragma once

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace berth {

enum class ErrorCode {
  kInternal,
  kInvalidArgument,  // the caller's input is wrong
  kNotFound,
  kAlreadyExists,
  kUnavailable,      // a peer (containerd, a registry) cannot be reached
  kUnauthenticated,  // credentials missing or refused
  kPermissionDenied,
  kDeadlineExceeded,
  kFailedPrecondition,  // e.g. containerd too old
  kCancelled,
  kDataLoss,  // digest mismatch, truncated data
};

std::string_view error_code_name(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message, int sys_errno = 0)
      : code_(code), errno_(sys_errno), message_(std::move(message)) {}

  // An error from a failed system call; the errno text is appended.
  static Error from_errno(std::string what, int sys_errno = errno) {
    ErrorCode code = ErrorCode::kInternal;
    switch (sys_errno) {
      case ENOENT:
        code = ErrorCode::kNotFound;
        break;
      case EEXIST:
        code = ErrorCode::kAlreadyExists;
        break;
      case EACCES:
      case EPERM:
        code = ErrorCode::kPermissionDenied;
        break;
      case EINVAL:
        code = ErrorCode::kInvalidArgument;
        break;
      case ECONNREFUSED:
      case EAGAIN:
        code = ErrorCode::kUnavailable;
        break;
      default:
        break;
    }
    return Error(code, std::move(what) + ": " + std::strerror(sys_errno), sys_errno);
  }

  ErrorCode code() const { return code_; }
  int sys_errno() const { return errno_; }
  const std::string& message() const { return message_; }

  // Returns a copy with "context: " prepended to the message.
  Error with_context(std::string_view context) const& {
    Error copy = *this;
    copy.message_ = std::string(context) + ": " + message_;
    return copy;
  }
  Error with_context(std::string_view context) && {
    message_ = std::string(context) + ": " + message_;
    return std::move(*this);
  }

 private:
  ErrorCode code_;
  int errno_;
  std::string message_;
};

// std::expected with [[nodiscard]] on the type (an alias cannot carry it),
// so that a dropped error is a compile error. It converts from a value, from
// std::unexpected<Error> (what fail() returns) and from std::expected<T,
// Error>; every operation of std::expected is there.
template <typename T>
class [[nodiscard]] Result : public std::expected<T, Error> {
 public:
  using Base = std::expected<T, Error>;
  using Base::Base;
  using Base::operator=;
  Result() = default;
  // Implicit, as std::expected's own conversions are.
  Result(const Base& other) : Base(other) {}
  Result(Base&& other) noexcept(std::is_nothrow_move_constructible_v<Base>)
      : Base(std::move(other)) {}
};

using Status = Result<void>;

inline std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error(code, std::move(message)));
}

inline std::unexpected<Error> fail_errno(std::string what, int sys_errno = errno) {
  return std::unexpected<Error>(Error::from_errno(std::move(what), sys_errno));
}

inline std::unexpected<Error> fail(Error error) { return std::unexpected<Error>(std::move(error)); }

}  // namespace berth

// Propagates an error from an expression returning Result<T>/Status, adding
// context; evaluates to the value on success (GCC statement expression).
#define BERTH_TRY_CTX(expr, ctx)                                                               \
  ({                                                                                           \
    auto&& berth_try_result_ = (expr);                                                         \
    if (!berth_try_result_) return ::berth::fail(berth_try_result_.error().with_context(ctx)); \
    std::move(berth_try_result_).value();                                                      \
  })

#define BERTH_TRY(expr)                                                      \
  ({                                                                         \
    auto&& berth_try_result_ = (expr);                                       \
    if (!berth_try_result_) return ::berth::fail(berth_try_result_.error()); \
    std::move(berth_try_result_).value();                                    \
  })
