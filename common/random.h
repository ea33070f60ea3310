// Random bytes from the kernel (getrandom), for secrets and tokens. Not
// OpenSSL's RAND_bytes: its first call initialises OpenSSL's providers,
// about 3 MiB of an idle berthd's resident memory.
#pragma once

#include <cstddef>

#include "common/error.h"

namespace berth {

// Fills `size` bytes at `out` from the kernel's CSPRNG; blocks only until
// the kernel's pool is initialised (early boot).
Status random_bytes(unsigned char* out, size_t size);

}  // namespace berth
