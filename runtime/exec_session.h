// An operator's process in a running container (containerd Exec), live:
// stdin in, stdout and stderr out (or one terminal), resizes and signals,
// then its exit. The caller moves the bytes; this owns the process, and its
// destructor leaves nothing behind: the process and everything it started
// in its group or session is killed, containerd forgets it, and its FIFOs go.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "runtime/containerd.h"
#include "runtime/containers.h"
#include "runtime/exec_fifos.h"

namespace berth::runtime {

struct SessionRequest {
  std::vector<std::string> args;
  bool tty = false;
  bool stdin = false;
  std::string user;              // user[:group]; "" for the container's
  std::string cwd;               // "" for the container's
  std::vector<std::string> env;  // K=V, set over the container's
  uint32_t width = 0;            // with tty: the first window size
  uint32_t height = 0;
};

class ExecSession {
 public:
  // Makes the process of `request` in container `container_id` (its task
  // running), not yet started: kFailedPrecondition when the container does
  // not run, kInvalidArgument for a bad user, env or workdir.
  static Result<std::unique_ptr<ExecSession>> create(Containerd& containerd,
                                                     const std::string& fifo_dir,
                                                     const std::string& container_id,
                                                     const SessionRequest& request);
  // The session of a container's own main process: the container of
  // `container` (its id, image, namespaces and cgroup; its command, user,
  // cwd, env and terminal are set here from `request`) is made with the
  // session's FIFOs as its stdio, and removed with its snapshot when the
  // session ends. A debug container (runtime/debug_container.h).
  static Result<std::unique_ptr<ExecSession>> create_container(ContainerService& containers,
                                                               Containerd& containerd,
                                                               const std::string& fifo_dir,
                                                               CreateContainerRequest container,
                                                               const SessionRequest& request);
  // Starts it. A command that cannot run fails with kNotFound (a shell's
  // exit 127: not found) or kPermissionDenied (126: not executable), the
  // message naming it.
  Status start();
  ~ExecSession();
  ExecSession(const ExecSession&) = delete;
  ExecSession& operator=(const ExecSession&) = delete;

  const std::string& exec_id() const { return exec_id_; }
  pid_t pid() const { return pid_; }
  // Non-blocking read ends; stderr is -1 with a terminal.
  int stdout_fd() const { return fifos_.stdout_fd(); }
  int stderr_fd() const { return fifos_.stderr_fd(); }

  // Writes all of `data` to the process's stdin, waiting while the pipe is
  // full (a process that does not read) but giving up, with kCancelled,
  // once `give_up()` says so: the FIFO has berthd as a reader too, so a
  // write to a process that is gone would otherwise wait for ever.
  Status write_stdin(std::string_view data, const std::function<bool()>& give_up);
  // EOF on the process's stdin.
  void close_stdin();
  Status resize(uint32_t width, uint32_t height);
  Status signal(int signal);
  // Blocks until the process exits (by default with no deadline: a session
  // lasts as long as its process): its exit status.
  Result<int> wait(std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  // SIGKILLs the process and what it started (its group and session).
  void kill_all();

 private:
  ExecSession(Containerd& containerd, std::string container_id, std::string exec_id,
              ExecFifos fifos)
      : containerd_(containerd),
        container_id_(std::move(container_id)),
        exec_id_(std::move(exec_id)),
        fifos_(std::move(fifos)) {}

  Containerd& containerd_;
  std::string container_id_;
  std::string exec_id_;  // "" for a container's own process
  // Set when the session owns its container (create_container).
  ContainerService* owned_by_ = nullptr;
  ExecFifos fifos_;
  std::string what_;  // "exec 'CMD'", for messages
  pid_t pid_ = 0;
  bool created_ = false;
};

// An error in which runc says (`exec: "CMD": ...`) that the command is not
// there (kNotFound) or not executable (kPermissionDenied), classified so;
// others are kept as they are.
Error classify_start_error(const Error& error);

// The exit code a shell gives a command that start() could not run: 127
// for kNotFound, 126 for kPermissionDenied; 0 for any other error.
int exit_code_for_start_error(const Error& error);

}  // namespace berth::runtime
