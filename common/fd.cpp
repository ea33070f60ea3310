#include "common/fd.h"

#include <unistd.h>

namespace berth {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

int UniqueFd::close() {
  if (fd_ < 0) return 0;
  return ::close(release());
}

}  // namespace berth
