// Running a process inside a running container (containerd Exec), to
// completion, with its output captured: what health checks need.
//
// Output comes through FIFOs in a private directory under the state
// directory, opened before Exec as containerd's shim expects (read ends
// O_NONBLOCK first, so the shim's blocking open of the write end succeeds),
// drained while the process runs, and removed afterwards.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "runtime/containerd.h"

namespace berth::runtime {

struct ExecRequest {
  std::vector<std::string> args;
  std::optional<std::vector<std::string>> env;  // nullopt: the container's
  std::optional<std::string> cwd;               // nullopt: the container's
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  size_t max_output_bytes = 4096;  // the first bytes are kept
};

struct ExecResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved as read
  bool timed_out = false;
  bool truncated = false;
};

class ExecService {
 public:
  ExecService(Containerd& containerd, std::string fifo_dir);

  // Runs `request.args` in the container's task and waits for it. A process
  // that outlives the timeout is killed (timed_out). kNotFound for a missing
  // container, kFailedPrecondition when its task is not running, and an
  // error naming the command when it cannot be started.
  Result<ExecResult> run(const std::string& container_id, const ExecRequest& request);

  // Ends the execs (health checks and sessions) a killed berthd left, and
  // removes their FIFO directories; how many it found.
  int reap_leftovers();

 private:
  Containerd& containerd_;
  std::string fifo_dir_;
};

}  // namespace berth::runtime
