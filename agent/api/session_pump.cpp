// A session's bytes, both ways: an exec's or a debug container's process.
//
// The call's own thread pumps the process's output to the client; a second
// thread reads the client's input (stdin, resizes, signals). The client
// going away (the call cancelled) ends the process: SIGHUP for a terminal,
// stdin closed otherwise, then SIGKILL to all it started after a grace
// period, so that nothing is left running.
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <thread>

#include "agent/api/server.h"

namespace berth::agent {

namespace {

constexpr auto kHangUpGrace = std::chrono::seconds(2);
constexpr auto kOutputTail = std::chrono::seconds(5);
constexpr size_t kChunk = size_t{64} * 1024;

// The process's exit, told once by the thread that waits for it.
struct Exit {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Result<int> status = 0;
  bool wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, [&] { return done; });
  }
};

}  // namespace

grpc::Status ApiService::serve_session(grpc::ServerContext* ctx, SessionStream* stream,
                                       runtime::ExecSession& session, bool tty,
                                       AuditRecord& record) {
  // The exit, from a thread that waits for it; the eventfd wakes the pump.
  Exit process_exit;
  UniqueFd exited(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  std::thread waiter([&] {
    auto status = session.wait();
    {
      std::lock_guard lock(process_exit.mu);
      process_exit.status = std::move(status);
      process_exit.done = true;
    }
    process_exit.cv.notify_all();
    uint64_t one = 1;
    (void)!::write(exited.get(), &one, sizeof one);
  });

  std::atomic<bool> finished = false;
  std::atomic<bool> client_gone = false;
  std::promise<void> input_ended;
  auto input_end = input_ended.get_future();
  std::thread input([&] {
    struct Ended {
      std::promise<void>& promise;
      ~Ended() { promise.set_value(); }
    } ended{input_ended};
    v1::ExecInput in;
    while (stream->Read(&in)) {
      switch (in.input_case()) {
        case v1::ExecInput::kStdin:
          // A process that reads no stdin holds this up; its end, or the
          // client's, frees it.
          (void)session.write_stdin(in.stdin(), [&] {
            return finished || ctx->IsCancelled() ||
                   process_exit.wait_for(std::chrono::milliseconds(0));
          });
          break;
        case v1::ExecInput::kStdinEof:
          session.close_stdin();
          break;
        case v1::ExecInput::kResize:
          (void)session.resize(in.resize().width(), in.resize().height());
          break;
        case v1::ExecInput::kSignal:
          (void)session.signal(in.signal());
          break;
        default:
          break;
      }
    }
    // The client closed its side (its stdin ends with it) or went away.
    session.close_stdin();
    if (finished || !ctx->IsCancelled()) return;
    client_gone = true;
    if (tty) (void)session.signal(SIGHUP);
    if (!process_exit.wait_for(kHangUpGrace)) session.kill_all();
  });

  // Output until the process exited and its streams closed. What it left
  // running (a background job holding the output open) is killed at its
  // exit, so that the streams close.
  std::vector<int> open_fds;
  for (int fd : {session.stdout_fd(), session.stderr_fd()}) {
    if (fd >= 0) open_fds.push_back(fd);
  }
  bool process_exited = false;
  auto tail_deadline = std::chrono::steady_clock::time_point::max();
  std::string buffer(kChunk, '\0');
  while (!open_fds.empty() && std::chrono::steady_clock::now() < tail_deadline) {
    std::vector<pollfd> fds;
    for (int fd : open_fds) fds.push_back({fd, POLLIN, 0});
    // The exit is heard once; then the output's end is awaited, bounded.
    if (!process_exited) fds.push_back({exited.get(), POLLIN, 0});
    if (::poll(fds.data(), fds.size(), process_exited ? 100 : -1) < 0 && errno != EINTR) break;
    if (!process_exited && fds.back().revents) {
      process_exited = true;
      session.kill_all();
      tail_deadline = std::chrono::steady_clock::now() + kOutputTail;
      fds.pop_back();
    } else if (!process_exited) {
      fds.pop_back();
    }
    for (const pollfd& ready : fds) {
      if (!ready.revents) continue;
      ssize_t n = ::read(ready.fd, buffer.data(), buffer.size());
      if (n > 0) {
        if (client_gone) continue;  // drained, so that the process is not blocked
        v1::ExecOutput out;
        if (ready.fd == session.stdout_fd()) {
          out.set_stdout(buffer.data(), static_cast<size_t>(n));
        } else {
          out.set_stderr(buffer.data(), static_cast<size_t>(n));
        }
        if (!stream->Write(out)) client_gone = true;
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        std::erase(open_fds, ready.fd);  // EOF: the shim closed it
      }
    }
  }
  waiter.join();
  finished = true;
  std::optional<int> code;
  std::string error;
  if (process_exit.status) {
    code = *process_exit.status;
    v1::ExecOutput out;
    out.mutable_exit()->set_exit_code(*code);
    stream->Write(out);
  } else {
    error = process_exit.status.error().message();
  }
  // The client answers the exit by closing its side; one that does not is
  // cut off.
  if (input_end.wait_for(kOutputTail) != std::future_status::ready) ctx->TryCancel();
  input.join();
  audit_end(record, client_gone ? "disconnected" : (code ? "exited" : "failed"), code, error);
  if (!code) return to_grpc(process_exit.status.error());
  return grpc::Status::OK;
}

}  // namespace berth::agent
