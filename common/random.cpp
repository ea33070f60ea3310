#include "common/random.h"

#include <sys/random.h>

#include <cerrno>

namespace berth {

Status random_bytes(unsigned char* out, size_t size) {
  size_t filled = 0;
  while (filled < size) {
    ssize_t n = ::getrandom(out + filled, size - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno("getrandom");
    }
    filled += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace berth
