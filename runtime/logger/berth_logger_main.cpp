// berth-logger: the binary:// log driver that containerd's shim runs for each
// container (pkg/process/io.go NewBinaryIO, runtime/v2/logging).
//
// The shim starts it as `berth-logger path /abs/file.log` (the URI's query as
// "key value" arguments) with fd 3 = the container's stdout pipe, fd 4 = its
// stderr pipe and fd 5 = a pipe whose closing tells the shim we are ready.
// Output is appended to the file as Docker json-file records
// (runtime/log_record.h), so logs survive berthd restarts.
//
// For an interactive container the query also has `stdin /abs/fifo`: the
// container's stdin FIFO (see runtime/runc_wrapper.h). The logger holds a
// write end of it from before the container is created until the shim ends
// the logger when the task is deleted, so the container's reads of stdin
// block instead of seeing end-of-file, whether berthd runs or not.
//
// With the journald log driver the query also has `journal.NAME value`
// for each of the container's fields. Each line then goes to the journal
// too, stdout at priority 6 and stderr at 3, as Docker's journald driver
// does; the file stays (Docker's dual logging) for attach and follow.
//
// By hand: berth-logger path /tmp/x.log 3< <(some_command) 4</dev/null
// (fds 4 and 5 may be left closed).
//
// The shim's stderr for this process is /dev/null, so a failure here is only
// visible as a missing or short log file; stderr still helps runs by hand.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/fd.h"
#include "runtime/log_record.h"
#include "systemd/journal.h"

namespace berth::runtime {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kStdoutFd = 3;
constexpr int kStderrFd = 4;
constexpr int kReadyFd = 5;
constexpr int kUsageExit = 2;
constexpr size_t kReadChunk = size_t{64} * 1024;  // one pipe buffer
// After SIGTERM: the shim has closed its pipe ends, so data stops as soon as
// the container's processes are gone; a daemonized child that still holds a
// pipe must not keep us alive.
constexpr milliseconds kIdleAfterTerm{2000};
// The shim SIGKILLs us 12 s after SIGTERM (binaryIOProcTermTimeout); stop
// before that so buffered partial lines are flushed, not lost.
constexpr milliseconds kMaxAfterTerm{10000};
// An interactive container's unfinished line is written once its output has
// paused this long.
constexpr milliseconds kPartialFlushAfter{50};

constexpr std::string_view kUsage =
    "usage: berth-logger path /abs/path/file.log [stdin /abs/path/fifo] [partial flush]\n"
    "                    [journal.NAME value]...\n"
    "  fd 3: container stdout, fd 4: container stderr (either may be closed),\n"
    "  fd 5: readiness pipe, closed once the log file is open (optional).\n"
    "Appends one Docker json-file record per line of output; holds the stdin\n"
    "FIFO open for writing, so that the container's stdin never ends. With\n"
    "`partial flush`, an unfinished line (a prompt) is written once output pauses.\n"
    "With `journal` fields, every line also goes to the journal with them.\n";

volatile sig_atomic_t g_terminate = 0;

void on_terminate(int) { g_terminate = 1; }

struct Args {
  std::string path;
  std::string stdin_fifo;  // empty: none
  bool flush_partial = false;
  std::vector<std::string> journal_fields;  // NAME=value
};

Result<Args> parse_args(int argc, char** argv) {
  Args args;
  if ((argc - 1) % 2 != 0) {
    return fail(ErrorCode::kInvalidArgument,
                "expected \"key value\" pairs, got an odd number of arguments");
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view key = argv[i];
    std::string_view value = argv[i + 1];
    if (key == "partial") {
      if (value != "flush") {
        return fail(ErrorCode::kInvalidArgument,
                    "partial '" + std::string(value) + "': the only value is 'flush'");
      }
      args.flush_partial = true;
      continue;
    }
    if (key.starts_with("journal.")) {
      std::string_view name = key.substr(std::string_view("journal.").size());
      if (!systemd::valid_field_name(name) || name == "MESSAGE" || name == "PRIORITY") {
        return fail(ErrorCode::kInvalidArgument,
                    "'" + std::string(key) +
                        "': a journal field name is A-Z, 0-9 and _ (not MESSAGE or PRIORITY)");
      }
      args.journal_fields.push_back(std::string(name) + "=" + std::string(value));
      continue;
    }
    // A typo in the log URI should fail loudly, not log somewhere else.
    if (key != "path" && key != "stdin") {
      return fail(ErrorCode::kInvalidArgument, "unknown argument '" + std::string(key) + "'");
    }
    std::string& target = key == "path" ? args.path : args.stdin_fifo;
    if (!target.empty()) {
      return fail(ErrorCode::kInvalidArgument, "'" + std::string(key) + "' given twice");
    }
    if (value.empty() || value.front() != '/') {
      return fail(ErrorCode::kInvalidArgument,
                  std::string(key) + " '" + std::string(value) + "' is not an absolute path");
    }
    if (value.back() == '/') {
      return fail(ErrorCode::kInvalidArgument,
                  std::string(key) + " '" + std::string(value) + "' names a directory, not a file");
    }
    target = value;
  }
  if (args.path.empty()) return fail(ErrorCode::kInvalidArgument, "missing 'path'");
  return args;
}

bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// mkdir -p for the file's parent directories; existing ones keep their mode.
Status make_parent_dirs(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) continue;
    return fail_errno("mkdir '" + dir + "'");
  }
  return {};
}

Result<UniqueFd> open_log(const std::string& path) {
  BERTH_TRY(make_parent_dirs(path));
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!fd) return fail_errno("open '" + path + "'");
  return fd;
}

// A write end of the container's stdin FIFO, held for our whole life.
// O_RDWR: opening a FIFO write-only fails while it has no reader.
Result<UniqueFd> hold_stdin(const std::string& path) {
  UniqueFd held(::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!held) return fail_errno("open stdin FIFO '" + path + "'");
  struct stat st {};
  if (::fstat(held.get(), &st) != 0 || !S_ISFIFO(st.st_mode)) {
    return fail(ErrorCode::kInvalidArgument, "stdin '" + path + "' is not a FIFO");
  }
  return held;
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno("write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

// Appends records to the log file and keeps going after a write error (a full
// disk may recover), so that the container never blocks on a full pipe.
class LogWriter {
 public:
  LogWriter(UniqueFd fd, std::string path, std::vector<std::string> journal_fields)
      : fd_(std::move(fd)), path_(std::move(path)), journal_fields_(std::move(journal_fields)) {}

  void append(LogStream stream, const std::vector<std::string>& texts,
              std::chrono::system_clock::time_point time) {
    if (texts.empty()) return;
    if (!journal_fields_.empty()) send_to_journal(stream, texts);
    std::string batch;
    // A write that failed halfway left a torn line; start on a fresh one so
    // only that record is lost, not the next one too.
    if (torn_line_) batch += '\n';
    for (const std::string& text : texts) batch += format_log_record(stream, text, time);
    auto written = write_all(fd_.get(), batch);
    if (written) {
      torn_line_ = false;
      return;
    }
    torn_line_ = true;
    if (dropped_ == 0) {
      std::fprintf(stderr, "berth-logger: append to '%s': %s, dropping output\n", path_.c_str(),
                   written.error().message().c_str());
    }
    dropped_ += texts.size();
  }

  size_t dropped() const { return dropped_; }

 private:
  void send_to_journal(LogStream stream, const std::vector<std::string>& texts) {
    int priority = stream == LogStream::kStderr ? 3 : 6;
    for (const std::string& text : texts) {
      auto sent = systemd::send_entry(text, priority, journal_fields_);
      if (sent) continue;
      if (journal_dropped_++ == 0) {
        std::fprintf(stderr, "berth-logger: %s, keeping the file only\n",
                     sent.error().message().c_str());
      }
    }
  }

  UniqueFd fd_;
  std::string path_;
  std::vector<std::string> journal_fields_;
  size_t journal_dropped_ = 0;
  bool torn_line_ = false;
  size_t dropped_ = 0;
};

// One of the inherited output pipes; closed (fd empty) at end of stream.
struct Source {
  UniqueFd fd;
  LogStream stream;
  LineSplitter splitter;
};

// Reads one chunk; at end of stream, flushes the partial line and closes.
void drain_once(Source& source, LogWriter& writer, std::array<char, kReadChunk>& buf) {
  ssize_t n = ::read(source.fd.get(), buf.data(), buf.size());
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    std::fprintf(stderr, "berth-logger: read %s (fd %d): %s\n",
                 std::string(log_stream_name(source.stream)).c_str(), source.fd.get(),
                 std::strerror(errno));
    n = 0;  // treat as end of stream: nothing more will come from it
  }
  auto now = std::chrono::system_clock::now();
  if (n == 0) {
    if (auto rest = source.splitter.finish()) writer.append(source.stream, {*rest}, now);
    source.fd.reset();
    return;
  }
  writer.append(source.stream, source.splitter.feed({buf.data(), static_cast<size_t>(n)}), now);
}

int run(int argc, char** argv) {
  if (argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
    std::fputs(kUsage.data(), stdout);
    return 0;
  }
  // Before opening anything, so the log file cannot land on a free fd 3-5
  // and be mistaken for a pipe.
  const bool have_stdout = fd_is_open(kStdoutFd);
  const bool have_stderr = fd_is_open(kStderrFd);
  const bool have_ready = fd_is_open(kReadyFd);

  auto args = parse_args(argc, argv);
  if (!args) {
    std::fprintf(stderr, "berth-logger: %s\n%s", args.error().message().c_str(), kUsage.data());
    return kUsageExit;
  }
  if (!have_stdout && !have_stderr) {
    std::fprintf(stderr, "berth-logger: neither fd 3 (stdout) nor fd 4 (stderr) is open\n%s",
                 kUsage.data());
    return kUsageExit;
  }

  // SIGTERM stays blocked except inside ppoll(), so it can never arrive
  // between the flag check and the wait and leave us sleeping on it.
  sigset_t term_signals;
  sigemptyset(&term_signals);
  sigaddset(&term_signals, SIGTERM);
  sigaddset(&term_signals, SIGINT);
  sigset_t wait_mask;
  sigprocmask(SIG_BLOCK, &term_signals, &wait_mask);
  sigdelset(&wait_mask, SIGTERM);
  sigdelset(&wait_mask, SIGINT);
  struct sigaction action {};
  action.sa_handler = on_terminate;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto log_fd = open_log(args->path);
  if (!log_fd) {
    std::fprintf(stderr, "berth-logger: %s\n", log_fd.error().message().c_str());
    return 1;
  }
  LogWriter writer(std::move(*log_fd), args->path, args->journal_fields);
  UniqueFd stdin_writer;
  if (!args->stdin_fifo.empty()) {
    // Without it, the shim's own write end still keeps stdin open once the
    // task is created: losing the container's output would be worse.
    if (auto held = hold_stdin(args->stdin_fifo); held) {
      stdin_writer = std::move(*held);
    } else {
      std::fprintf(stderr, "berth-logger: %s, ignoring\n", held.error().message().c_str());
    }
  }

  const bool interactive = args->flush_partial;
  if (have_ready) ::close(kReadyFd);  // tells the shim it may start the container

  std::vector<Source> sources;
  if (have_stdout) sources.push_back({UniqueFd(kStdoutFd), LogStream::kStdout, LineSplitter()});
  if (have_stderr) sources.push_back({UniqueFd(kStderrFd), LogStream::kStderr, LineSplitter()});

  std::array<char, kReadChunk> buf;
  std::optional<Clock::time_point> terminated_at;
  Clock::time_point last_data = Clock::now();
  auto any_open = [&] {
    for (const Source& s : sources) {
      if (s.fd) return true;
    }
    return false;
  };

  while (any_open()) {
    if (g_terminate && !terminated_at) {
      terminated_at = Clock::now();
      last_data = *terminated_at;
    }
    timespec timeout{};
    timespec* timeout_ptr = nullptr;
    // An interactive container's prompt ("/ # ") ends no line: once its
    // output pauses, what is held goes out as a partial record, so that
    // berthctl attach shows it.
    bool holding = false;
    for (const Source& s : sources) holding = holding || (s.fd && s.splitter.buffered_bytes() > 0);
    const bool flush_when_idle = interactive && holding && !terminated_at;
    if (flush_when_idle) {
      timeout.tv_nsec = kPartialFlushAfter.count() * 1'000'000;
      timeout_ptr = &timeout;
    }
    if (terminated_at) {
      auto deadline = std::min(last_data + kIdleAfterTerm, *terminated_at + kMaxAfterTerm);
      auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      timeout.tv_sec = static_cast<time_t>(left.count() / 1'000'000'000);
      timeout.tv_nsec = static_cast<long>(left.count() % 1'000'000'000);
      timeout_ptr = &timeout;
    }

    std::vector<pollfd> fds;
    std::vector<Source*> polled;
    for (Source& s : sources) {
      if (!s.fd) continue;
      fds.push_back({s.fd.get(), POLLIN, 0});
      polled.push_back(&s);
    }
    int ready = ::ppoll(fds.data(), fds.size(), timeout_ptr, &wait_mask);
    if (ready < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "berth-logger: poll: %s\n", std::strerror(errno));
      break;
    }
    if (ready == 0 && flush_when_idle) {
      auto now = std::chrono::system_clock::now();
      for (Source& s : sources) {
        if (auto held = s.splitter.finish()) writer.append(s.stream, {*held}, now);
      }
      continue;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      // POLLHUP with no POLLIN still needs a read() to see the EOF.
      if (fds[i].revents == 0) continue;
      drain_once(*polled[i], writer, buf);
      last_data = Clock::now();
    }
  }

  // Left the loop on the deadline: keep what was buffered.
  auto now = std::chrono::system_clock::now();
  for (Source& s : sources) {
    if (!s.fd) continue;
    if (auto rest = s.splitter.finish()) writer.append(s.stream, {*rest}, now);
  }
  if (writer.dropped() > 0) {
    std::fprintf(stderr, "berth-logger: dropped %zu records for '%s'\n", writer.dropped(),
                 args->path.c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace berth::runtime

int main(int argc, char** argv) { return berth::runtime::run(argc, argv); }
