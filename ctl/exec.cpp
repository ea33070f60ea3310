#include "ctl/exec.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "ctl/tasks.h"

namespace berthctl {

namespace {

using berth::v1::ExecInput;
using berth::v1::ExecOutput;

// The local terminal in raw mode for as long as this lives; restored on
// every way out of the session, signals that end berthctl included.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (::tcgetattr(fd_, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(fd_, TCSADRAIN, &raw) == 0;
  }
  ~RawTerminal() { restore(); }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  void restore() {
    if (active_.exchange(false)) ::tcsetattr(fd_, TCSADRAIN, &saved_);
  }

 private:
  int fd_;
  termios saved_{};
  std::atomic<bool> active_ = false;
};

bool window_size(int fd, uint32_t* width, uint32_t* height) {
  winsize size{};
  if (::ioctl(fd, TIOCGWINSZ, &size) != 0 || size.ws_col == 0) return false;
  *width = size.ws_col;
  *height = size.ws_row;
  return true;
}

bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

bool split_exec_arguments(const std::vector<std::string>& positionals, ExecOptions& options,
                          std::string& error) {
  auto dashes = std::find(positionals.begin(), positionals.end(), "--");
  std::vector<std::string> before(positionals.begin(), dashes);
  if (dashes != positionals.end()) {
    options.command.assign(dashes + 1, positionals.end());
    if (before.empty() || before.size() > 2) {
      error = "expected TASK [CONTAINER] -- CMD...";
      return false;
    }
    options.task = before[0];
    if (before.size() == 2) options.container = before[1];
  } else {
    if (before.empty()) {
      error = "expected TASK [CONTAINER] -- CMD...";
      return false;
    }
    options.task = before[0];
    options.command.assign(before.begin() + 1, before.end());
  }
  if (options.command.empty() || options.command.front().empty()) {
    error = "no command given: berthctl exec TASK [CONTAINER] -- CMD...";
    return false;
  }
  return true;
}

int exec_in_task(berth::v1::Berth::Stub& stub, const ExecOptions& options) {
  grpc::ClientContext ctx;
  auto stream = stub.Exec(&ctx);
  std::mutex write_mu;  // one writer at a time on the stream
  auto send = [&](const ExecInput& in) {
    std::lock_guard lock(write_mu);
    return stream->Write(in);
  };

  const bool local_tty = options.tty && ::isatty(STDIN_FILENO);
  ExecInput first;
  auto* start = first.mutable_start();
  start->set_task(options.task);
  start->set_container(options.container);
  for (const auto& arg : options.command) start->add_command(arg);
  start->set_tty(options.tty);
  start->set_stdin(options.interactive);
  start->set_user(options.user);
  start->set_workdir(options.workdir);
  for (const auto& pair : options.env) start->add_env(pair);
  uint32_t width = 0;
  uint32_t height = 0;
  if (options.tty &&
      (window_size(STDIN_FILENO, &width, &height) || window_size(STDOUT_FILENO, &width, &height))) {
    start->mutable_size()->set_width(width);
    start->mutable_size()->set_height(height);
  }
  send(first);

  std::optional<RawTerminal> raw;
  if (local_tty) raw.emplace(STDIN_FILENO);

  // Signals: a window change is sent on; without a terminal, SIGINT and
  // SIGTERM go to the remote process; with one, SIGTERM ends the session.
  std::atomic<bool> over = false;
  std::thread signals([&] {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGWINCH, SIGUSR2}) sigaddset(&set, s);
    while (true) {
      int signal = 0;
      if (sigwait(&set, &signal) != 0 || over) return;
      if (signal == SIGWINCH) {
        if (options.tty && window_size(STDIN_FILENO, &width, &height)) {
          ExecInput in;
          in.mutable_resize()->set_width(width);
          in.mutable_resize()->set_height(height);
          send(in);
        }
      } else if (!options.tty) {
        ExecInput in;
        in.set_signal(signal);
        send(in);
      } else if (signal == SIGTERM) {
        if (raw) raw->restore();
        ctx.TryCancel();
      }
    }
  });

  // Stdin, when asked for, until EOF (then the process's stdin closes) or
  // the session ends (the eventfd).
  int stop_fd = ::eventfd(0, EFD_CLOEXEC);
  std::thread input;
  if (options.interactive) {
    input = std::thread([&] {
      std::string buffer(size_t{32} * 1024, '\0');
      while (true) {
        pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {stop_fd, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
        if (fds[1].revents) return;
        if (!fds[0].revents) continue;
        ssize_t n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) break;
        ExecInput in;
        in.set_stdin(buffer.data(), static_cast<size_t>(n));
        if (!send(in)) return;
      }
      ExecInput eof;
      eof.set_stdin_eof(true);
      send(eof);
    });
  }

  int exit_code = -1;
  std::string error;
  ExecOutput out;
  while (stream->Read(&out)) {
    if (out.has_exit()) {
      exit_code = out.exit().exit_code();
      error = out.exit().error();
    } else if (!out.stdout().empty()) {
      write_all(STDOUT_FILENO, out.stdout());
    } else if (!out.stderr().empty()) {
      write_all(STDERR_FILENO, out.stderr());
    }
    if (exit_code >= 0) break;
  }
  over = true;
  uint64_t one = 1;
  (void)!::write(stop_fd, &one, sizeof one);
  if (input.joinable()) input.join();
  ::close(stop_fd);
  {
    std::lock_guard lock(write_mu);
    stream->WritesDone();
  }
  auto status = stream->Finish();
  ::pthread_kill(signals.native_handle(), SIGUSR2);
  signals.join();
  if (raw) raw->restore();
  if (exit_code >= 0) {
    if (!error.empty()) std::cerr << "berthctl: exec: " << error << "\n";
    return exit_code;
  }
  if (!status.ok()) return report(status, "exec in '" + options.task + "'");
  std::cerr << "berthctl: exec: the session ended without the process's exit\n";
  return 1;
}

}  // namespace berthctl
