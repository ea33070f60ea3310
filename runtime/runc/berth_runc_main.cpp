// berth-runc: the runc that containerd's shim runs for an interactive
// container (runc options' binary_name). For `create` of a bundle whose spec
// names a stdin FIFO (annotation io.berth.stdin-fifo), it opens that FIFO as
// its own stdin; then, for every command, it execs the real runc (found on
// PATH) with the same arguments. runc create hands its stdin to the
// container's process. runtime/runc_wrapper.h says why this is needed.
//
// The FIFO always has a writer before the container runs: berth-logger holds
// one from before runc create, containerd's shim one from the end of
// CreateTask, both until the task is deleted. So the container's reads block
// and never see end-of-file, whether berthd is up or not.
//
// A failure is written to runc's --log (so that containerd's error names
// it) and to stderr, and runc is not run.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fd.h"
#include "common/file.h"
#include "runtime/runc_wrapper.h"

namespace berth::runtime {
namespace {

constexpr int kExecFailedExit = 127;

void report(const RuncInvocation& call, const std::string& message) {
  std::string text = "berth-runc: " + message;
  std::fprintf(stderr, "%s\n", text.c_str());
  if (call.log_path.empty()) return;
  UniqueFd log(::open(call.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log) return;
  std::string line;
  if (call.log_format == "json") {
    std::array<char, 32> when{};
    std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    std::strftime(when.data(), when.size(), "%Y-%m-%dT%H:%M:%SZ", &utc);
    line = runc_error_log_line(text, when.data());
  } else {
    line = text + "\n";
  }
  // Best effort: stderr already has the message.
  (void)!::write(log.get(), line.data(), line.size());
}

// Makes the FIFO at `path` this process's stdin, blocking (runc and the
// container read it as it is).
Status open_as_stdin(const std::string& path) {
  // Non-blocking: a FIFO opened for reading with no writer yet would block.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return fail_errno("open stdin FIFO '" + path + "'");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISFIFO(st.st_mode)) {
    return fail(ErrorCode::kInvalidArgument, "stdin '" + path + "' is not a FIFO");
  }
  int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return fail_errno("make stdin FIFO '" + path + "' blocking");
  }
  if (fd.get() == STDIN_FILENO) {
    // Opened on the free fd 0, it is stdin already; it must survive exec.
    int fd_flags = ::fcntl(fd.get(), F_GETFD);
    if (fd_flags < 0 || ::fcntl(fd.get(), F_SETFD, fd_flags & ~FD_CLOEXEC) != 0) {
      return fail_errno("keep stdin FIFO '" + path + "' open across exec");
    }
    fd.release();  // stays open as stdin
    return {};
  }
  if (::dup2(fd.get(), STDIN_FILENO) < 0) {  // the copy is not close-on-exec
    return fail_errno("dup2 stdin FIFO '" + path + "'");
  }
  return {};
}

Status give_stdin(const RuncInvocation& call) {
  std::string bundle = call.bundle.empty() ? "." : call.bundle;
  auto config = BERTH_TRY(read_file(bundle + "/config.json"));
  auto fifo = BERTH_TRY_CTX(stdin_fifo_of(config), "bundle '" + bundle + "'");
  if (fifo.empty()) return {};
  return open_as_stdin(fifo);
}

int run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  RuncInvocation call = parse_runc_args(args);
  if (call.command == "create") {
    if (auto given = give_stdin(call); !given) {
      report(call, given.error().message());
      return 1;
    }
  }
  std::string runc = "runc";
  argv[0] = runc.data();
  ::execvp(runc.c_str(), argv);
  report(call, std::string("exec runc: ") + std::strerror(errno));
  return kExecFailedExit;
}

}  // namespace
}  // namespace berth::runtime

int main(int argc, char** argv) { return berth::runtime::run(argc, argv); }
