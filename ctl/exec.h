// berthctl exec: a process in a running task's container, as `docker exec`
// runs one. With a terminal (-t) the local terminal goes raw for the
// session (and is restored on every way out), its size follows SIGWINCH,
// and Ctrl-C is a byte for the remote terminal; without one, stdout and
// stderr stay apart and SIGINT and SIGTERM are passed to the process.
#pragma once

#include <string>
#include <vector>

#include "berth/v1/berth.grpc.pb.h"

namespace berthctl {

struct ExecOptions {
  std::string task;
  std::string container;  // "" for a one-container task
  std::vector<std::string> command;
  bool interactive = false;  // -i: stdin goes to the process
  bool tty = false;          // -t
  std::string user;
  std::string workdir;
  std::vector<std::string> env;
};

// Splits `berthctl exec`'s positionals, "TASK [CONTAINER] -- CMD..." or
// "TASK CMD...", into `options`; false (with `error`) when there is no
// command.
bool split_exec_arguments(const std::vector<std::string>& positionals, ExecOptions& options,
                          std::string& error);

// Runs the session; returns the remote command's exit code (126 or 127
// when it could not run, 1 when berthd refused the session).
int exec_in_task(berth::v1::Berth::Stub& stub, const ExecOptions& options);

}  // namespace berthctl
