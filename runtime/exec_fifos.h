// The FIFOs of one exec process (a health check or an operator's session),
// and the end of execs that a killed berthd left running.
//
// Each exec gets a private directory under the exec directory, opened before
// containerd's Exec as its shim expects: read ends O_NONBLOCK first (so the
// shim's blocking open of the write end succeeds), the stdin FIFO O_RDWR (so
// the shim's open of its read end succeeds; closing it is the EOF). The
// directory names the container and the exec, and later the exec's pid, so
// that a berthd restarted after a crash can end the process (reap_execs):
// no session outlives the berthd that served it.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/fd.h"
#include "runtime/containerd.h"

namespace berth::runtime {

// The type of a process spec in containerd's ExecProcessRequest.
inline constexpr std::string_view kProcessSpecType =
    "types.containerd.io/opencontainers/runtime-spec/1/Process";

// "<prefix>-" and 16 random hex digits: an exec id, which also names the
// exec's FIFO directory ("exec" for health checks, "session" for sessions).
std::string new_exec_id(std::string_view prefix);

// What every exec starts from: the container's own process spec (its user,
// env, cwd, capabilities) and the pid of its running task.
// kFailedPrecondition when the task is not running; messages begin with
// `what`.
struct RunningContainer {
  nlohmann::json process;
  uint32_t pid = 0;
  std::string cgroups_path;  // its spec's linux.cgroupsPath
};
Result<RunningContainer> running_container(Containerd& containerd, const std::string& container_id,
                                           const std::string& what);

class ExecFifos {
 public:
  // Makes the directory, its marker and the FIFOs: stdout always, stderr
  // unless `tty` (a terminal has one stream), stdin when `with_stdin`.
  static Result<ExecFifos> create(const std::string& parent, const std::string& container_id,
                                  const std::string& exec_id, bool with_stdin, bool tty);
  ExecFifos(ExecFifos&& other) noexcept;
  ExecFifos& operator=(ExecFifos&&) = delete;
  ExecFifos(const ExecFifos&) = delete;
  ~ExecFifos();  // closes the FIFOs and removes the directory

  // Paths for containerd's ExecProcessRequest ("" for a stream not made).
  std::string stdin_path() const;
  std::string stdout_path() const;
  std::string stderr_path() const;
  // The read ends (-1 for a stream not made) and the write end of stdin.
  int stdout_fd() const { return stdout_.get(); }
  int stderr_fd() const { return stderr_.get(); }
  int stdin_fd() const { return stdin_.get(); }
  void close_stdin() { stdin_.reset(); }
  void close_output() {
    stdout_.reset();
    stderr_.reset();
  }
  // Records the started process's pid beside the marker.
  void note_pid(pid_t pid) const;

 private:
  explicit ExecFifos(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
  UniqueFd stdin_;
  UniqueFd stdout_;
  UniqueFd stderr_;
};

// SIGKILLs the exec process `pid` of container `container_id` and every
// process of the container in its process group or session (a shell's
// children and jobs). Only processes that containerd lists for the container
// are touched, so a pid reused elsewhere is safe.
void kill_exec_tree(Containerd& containerd, const std::string& container_id, pid_t pid);

// Ends what a killed berthd's execs left under `parent` (the directories
// named exec-* and session-*): each process is killed with its tree,
// deleted from containerd, its directory removed. Returns how many it found.
int reap_execs(Containerd& containerd, const std::string& parent);

}  // namespace berth::runtime
