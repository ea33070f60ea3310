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

#include "ctl/detach_keys.h"
#include "ctl/tasks.h"

namespace berthctl {

namespace {

using berth::v1::ExecInput;
using berth::v1::ExecOutput;

// The local terminal in raw mode from enter() for as long as this lives;
// restored on every way out of the session, signals that end berthctl
// included (restore() may come from the signal thread).
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {}
  void enter() {
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
    error = "no command given: TASK [CONTAINER] -- CMD...";
    return false;
  }
  return true;
}

bool parse_detach_keys(const std::string& text, std::string& keys, std::string& error) {
  keys.clear();
  size_t begin = 0;
  while (begin <= text.size() && !text.empty()) {
    size_t comma = text.find(',', begin);
    std::string key =
        text.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
    if (key.size() == 1) {
      keys.push_back(key[0]);
    } else if (key.size() == 6 && key.starts_with("ctrl-")) {
      char c = key[5];
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      if (c < '@' || c > '_') {
        error = "detach key '" + key + "': ctrl- takes a letter or one of @[\\]^_";
        return false;
      }
      keys.push_back(static_cast<char>(c - '@'));
    } else {
      error = "detach key '" + key + "': expected a character or ctrl-<key>";
      return false;
    }
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return true;
}

int exec_in_task(berth::v1::Berth::Stub& stub, const ExecOptions& options) {
  grpc::ClientContext ctx;
  const bool attach = options.kind == SessionKind::kAttach;
  const char* verb = attach ? "attach" : (options.kind == SessionKind::kDebug ? "debug" : "exec");
  auto stream = options.kind == SessionKind::kExec
                    ? stub.Exec(&ctx)
                    : (attach ? stub.Attach(&ctx) : stub.Debug(&ctx));
  std::mutex write_mu;  // one writer at a time on the stream
  auto send = [&](const ExecInput& in) {
    std::lock_guard lock(write_mu);
    return stream->Write(in);
  };

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
  start->set_image(options.image);
  if (options.run) *start->mutable_run() = *options.run;
  uint32_t width = 0;
  uint32_t height = 0;
  const bool have_size =
      window_size(STDIN_FILENO, &width, &height) || window_size(STDOUT_FILENO, &width, &height);
  if ((options.tty || attach) && have_size) {
    start->mutable_size()->set_width(width);
    start->mutable_size()->set_height(height);
  }
  send(first);

  // Signals. Until the session starts, SIGINT and SIGTERM cancel it (a run
  // -it still waiting for its image). Then a window change is sent on;
  // without a terminal SIGINT and SIGTERM go to the remote process; with
  // one they end the client (raw, only SIGTERM can come; a detach for an
  // attach).
  RawTerminal raw(STDIN_FILENO);
  std::atomic<bool> started = false;
  std::atomic<bool> session_tty = false;
  std::atomic<bool> over = false;
  std::thread signals([&] {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGWINCH, SIGUSR2}) sigaddset(&set, s);
    while (true) {
      int signal = 0;
      if (sigwait(&set, &signal) != 0 || over) return;
      if (signal == SIGWINCH) {
        uint32_t w = 0;
        uint32_t h = 0;
        if (started && session_tty && window_size(STDIN_FILENO, &w, &h)) {
          ExecInput in;
          in.mutable_resize()->set_width(w);
          in.mutable_resize()->set_height(h);
          send(in);
        }
      } else if (started && !session_tty) {
        ExecInput in;
        in.set_signal(signal);
        send(in);
      } else if (signal != SIGUSR2) {
        raw.restore();
        ctx.TryCancel();
      }
    }
  });
  auto end_signals = [&] {
    over = true;
    ::pthread_kill(signals.native_handle(), SIGUSR2);
    signals.join();
  };

  // berthd answers with `started` (attach: whether the container has a
  // terminal and takes stdin), or with the exit of a command that could
  // not run, or ends the call with its reason.
  ExecOutput out;
  if (!stream->Read(&out)) {
    {
      std::lock_guard lock(write_mu);
      stream->WritesDone();
    }
    auto status = stream->Finish();
    end_signals();
    return report(status, std::string(verb) + " in '" + options.task + "'");
  }
  const bool tty = attach ? out.started().tty() : options.tty;
  const bool interactive =
      attach ? out.started().stdin() && !options.no_stdin : options.interactive;
  bool pending = !out.has_started();  // an exit to read below
  session_tty = tty;
  started = true;
  // Raw only when this client also types into the terminal: otherwise
  // Ctrl-C must still reach berthctl.
  if (out.has_started() && tty && interactive && ::isatty(STDIN_FILENO)) raw.enter();
  if (attach && tty && out.has_started() && have_size) {
    // Its terminal takes this client's size, as docker attach does.
    ExecInput in;
    in.mutable_resize()->set_width(width);
    in.mutable_resize()->set_height(height);
    send(in);
  }

  // Stdin, when asked for, until EOF (then the process's stdin closes) or
  // the session ends (the eventfd).
  int stop_fd = ::eventfd(0, EFD_CLOEXEC);
  std::thread input;
  std::atomic<bool> detached = false;
  if (interactive) {
    input = std::thread([&] {
      // Detach keys are a terminal's, as docker's are.
      DetachKeys keys(attach && tty ? options.detach_keys : "");
      std::string buffer(size_t{32} * 1024, '\0');
      while (true) {
        pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {stop_fd, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
        if (fds[1].revents) return;
        if (!fds[0].revents) continue;
        ssize_t n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) break;
        std::string typed = keys.feed({buffer.data(), static_cast<size_t>(n)});
        if (!typed.empty()) {
          ExecInput in;
          in.set_stdin(std::move(typed));
          if (!send(in)) return;
        }
        if (keys.detached()) {
          // berthd ends the call; the container runs on.
          detached = true;
          ExecInput in;
          in.set_detach(true);
          send(in);
          return;
        }
      }
      // An attach leaves the container's stdin open (berthd closes a run
      // -i's); an exec's closes.
      if (attach && !options.run) return;
      ExecInput eof;
      eof.set_stdin_eof(true);
      send(eof);
    });
  }

  int exit_code = -1;
  std::string error;
  while (pending || stream->Read(&out)) {
    pending = false;
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
  uint64_t one = 1;
  (void)!::write(stop_fd, &one, sizeof one);
  if (input.joinable()) input.join();
  ::close(stop_fd);
  {
    std::lock_guard lock(write_mu);
    stream->WritesDone();
  }
  auto status = stream->Finish();
  end_signals();
  raw.restore();
  if (detached) {
    std::cerr << "berthctl: detached from '" << options.task << "'\n";
    return 0;
  }
  if (exit_code >= 0) {
    if (!error.empty()) std::cerr << "berthctl: " << verb << ": " << error << "\n";
    return exit_code;
  }
  if (!status.ok()) return report(status, std::string(verb) + " in '" + options.task + "'");
  if (attach) return 0;  // berthd ended the call: the container runs on
  std::cerr << "berthctl: " << verb << ": the session ended without the process's exit\n";
  return 1;
}

}  // namespace berthctl
