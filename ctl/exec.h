// berthctl exec, attach and debug: an operator's session in a running task.
// exec runs a process in a container, as `docker exec` does; attach joins
// a container's main process, as `docker attach` does (Ctrl-P Ctrl-Q
// detaches); debug runs an ephemeral container in a container's namespaces,
// as `kubectl debug` does. With a terminal the local terminal goes raw for
// the session (and is restored on every way out), its size follows
// SIGWINCH, and Ctrl-C is a byte for the remote terminal; without one,
// stdout and stderr stay apart and SIGINT and SIGTERM are passed to the
// process.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "berth/v1/berth.grpc.pb.h"

namespace berthctl {

enum class SessionKind { kExec, kAttach, kDebug };

struct ExecOptions {
  SessionKind kind = SessionKind::kExec;
  std::string task;
  std::string container;  // "" for a one-container task
  std::vector<std::string> command;
  bool interactive = false;  // -i: stdin goes to the process
  bool tty = false;          // -t
  std::string user;
  std::string workdir;
  std::vector<std::string> env;
  std::string image;                     // debug: the debug container's image
  std::string detach_keys = "\x10\x11";  // attach: Ctrl-P Ctrl-Q; "" for none
  bool no_stdin = false;                 // attach: output only
  // attach: run this task first and attach from its start (run -it); the
  // client's stdin EOF is the container's.
  std::optional<berth::v1::RunTaskRequest> run;
};

// Splits `berthctl exec`'s positionals, "TASK [CONTAINER] -- CMD..." or
// "TASK CMD...", into `options`; false (with `error`) when there is no
// command.
bool split_exec_arguments(const std::vector<std::string>& positionals, ExecOptions& options,
                          std::string& error);

// Runs the session; returns the remote command's exit code (126 or 127
// when it could not run, 1 when berthd refused the session; attach: 0 on a
// detach).
int exec_in_task(berth::v1::Berth::Stub& stub, const ExecOptions& options);

// "ctrl-p,ctrl-q" (docker's --detach-keys form: ctrl-<letter>, ctrl-@,
// ctrl-[ ... or single characters, comma separated) as bytes; false (with
// `error`) for a key it does not know.
bool parse_detach_keys(const std::string& text, std::string& keys, std::string& error);

}  // namespace berthctl
