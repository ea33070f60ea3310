// Runs one plugin process: stdin given, stdout and stderr captured, killed
// when it outlives its timeout.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace berth::cni {

struct ProcessOutput {
  int wait_status = 0;  // as waitpid reports it
  std::string out;
  std::string err;
};

// Runs `path` with the inherited environment plus `env` (which replaces
// inherited variables of the same name). Past `timeout` the process group
// is killed and reaped, and the result is kDeadlineExceeded. A spawn that
// fails with ETXTBSY (the plugin being written right now, e.g. by a package
// upgrade) is retried a few times.
Result<ProcessOutput> run_process(const std::string& path,
                                  const std::vector<std::pair<std::string, std::string>>& env,
                                  std::string_view input, std::chrono::milliseconds timeout);

}  // namespace berth::cni
