// Whole-file reads and durable writes.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/error.h"

namespace berth {

// Writes `contents` to `path` atomically and durably: a temporary file
// beside it (`<path>.tmp`), written and fsync'd, renamed over `path`, then
// the directory fsync'd. After a crash `path` holds the old or the new
// contents, never a mix; on failure the temporary file is removed.
Status write_atomically(const std::string& path, std::string_view contents, mode_t mode = 0600);

// The whole content of a file; kNotFound when it does not exist.
Result<std::string> read_file(const std::string& path);

}  // namespace berth
