// Exec sessions (berthctl exec): the node's policy, the audit log, and one
// containerd exec process whose bytes this call carries both ways.
//
// The call's own thread pumps the process's output to the client; a second
// thread reads the client's input (stdin, resizes, signals). The client
// going away (the call cancelled) ends the process: SIGHUP for a terminal,
// stdin closed otherwise, then SIGKILL to all it started after a grace
// period, so that nothing is left running.
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <future>
#include <thread>

#include "agent/api/listener.h"
#include "agent/api/server.h"
#include "agent/engine/engine.h"
#include "agent/exec/audit.h"
#include "runtime/exec_session.h"

namespace berth::agent {

namespace {

constexpr auto kHangUpGrace = std::chrono::seconds(2);
constexpr auto kOutputTail = std::chrono::seconds(5);
constexpr size_t kChunk = size_t{64} * 1024;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string command_text(const std::vector<std::string>& command) {
  std::string text;
  for (const auto& arg : command) {
    if (!text.empty()) text += ' ';
    bool plain = !arg.empty() && arg.find_first_of(" \t\n'\"\\$") == std::string::npos;
    text += plain ? arg : "'" + arg + "'";
  }
  return text;
}

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

Result<ApiService::ExecTarget> ApiService::exec_target(const v1::ExecStart& start) {
  if (start.command().empty() || start.command(0).empty()) {
    return fail(ErrorCode::kInvalidArgument, "exec: no command given");
  }
  auto view = BERTH_TRY(engine_.describe(start.task()));
  const TaskRecord& record = view.record;
  if (!view.spec) {
    return fail(ErrorCode::kFailedPrecondition,
                "task '" + record.id + "' is quarantined: " + view.quarantine_reason);
  }
  BERTH_TRY(
      check_exec_policy(exec_policy_, view.spec->definition.enable_execute_command, record.id));
  const ContainerRecord* container = nullptr;
  std::string names;
  for (const auto& c : record.containers) names += (names.empty() ? "" : ", ") + c.name;
  if (start.container().empty()) {
    if (record.containers.size() != 1) {
      return fail(ErrorCode::kInvalidArgument, "task '" + record.id + "' has " +
                                                   std::to_string(record.containers.size()) +
                                                   " containers: name one of " + names);
    }
    container = &record.containers.front();
  } else {
    for (const auto& c : record.containers) {
      if (c.name == start.container()) container = &c;
    }
    if (!container) {
      return fail(ErrorCode::kNotFound, "task '" + record.id + "' has no container '" +
                                            start.container() + "' (it has " + names + ")");
    }
  }
  if (container->status != TaskStatus::kRunning) {
    return fail(ErrorCode::kFailedPrecondition,
                "container '" + container->name + "' of task '" + record.id + "' is " +
                    std::string(status_name(container->status)) + ", not RUNNING");
  }
  return ExecTarget{record.id, container->name, container->containerd_id};
}

void ApiService::audit(const AuditRecord& record) {
  if (audit_) {
    if (auto written = audit_->append(record); !written) {
      // The session goes on; the log says why its record is missing.
      spdlog::error("{}", written.error().message());
    }
  }
  std::string detail = "uid " + std::to_string(record.uid) + ": " + command_text(record.command);
  if (record.tty) detail += " (tty)";
  std::string status = "EXEC_" + record.outcome;
  for (char& c : status) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (record.exit_code) detail += ", exit " + std::to_string(*record.exit_code);
  if (!record.error.empty()) detail += ": " + record.error;
  engine_.announce(record.task_id, record.container, status, detail);
}

grpc::Status ApiService::Exec(grpc::ServerContext* ctx,
                              grpc::ServerReaderWriter<v1::ExecOutput, v1::ExecInput>* stream) {
  v1::ExecInput first;
  if (!stream->Read(&first) || first.input_case() != v1::ExecInput::kStart) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "exec: the first message must be its start"};
  }
  const v1::ExecStart& start = first.start();
  AuditRecord record;
  if (callers_) {
    if (auto peer = callers_->caller(ctx->peer())) {
      record.uid = peer->uid;
      record.gid = peer->gid;
      record.pid = peer->pid;
    }
  }
  record.task_id = start.task();
  record.container = start.container();
  record.command.assign(start.command().begin(), start.command().end());
  record.user = start.user();
  record.tty = start.tty();
  record.stdin = start.stdin();
  record.started_ms = now_ms();
  auto end = [&](std::string outcome, std::optional<int> exit_code, std::string error) {
    record.phase = "end";
    record.outcome = std::move(outcome);
    record.exit_code = exit_code;
    record.error = std::move(error);
    record.ended_ms = now_ms();
    audit(record);
  };

  auto target = exec_target(start);
  if (!target) {
    bool refused = target.error().code() == ErrorCode::kPermissionDenied;
    end(refused ? "refused" : "failed", std::nullopt, target.error().message());
    return to_grpc(target.error());
  }
  record.task_id = target->task_id;
  record.container = target->container;
  runtime::SessionRequest request;
  request.args = record.command;
  request.tty = start.tty();
  request.stdin = start.stdin();
  request.user = start.user();
  request.cwd = start.workdir();
  request.env.assign(start.env().begin(), start.env().end());
  request.width = start.size().width();
  request.height = start.size().height();
  auto created =
      runtime::ExecSession::create(containerd_, paths_.exec_dir(), target->containerd_id, request);
  if (!created) {
    end("failed", std::nullopt, created.error().message());
    return to_grpc(created.error());
  }
  runtime::ExecSession& session = **created;
  record.session = session.exec_id();
  if (auto started = session.start(); !started) {
    int code = runtime::exit_code_for_start_error(started.error());
    if (code == 0) {
      end("failed", std::nullopt, started.error().message());
      return to_grpc(started.error());
    }
    v1::ExecOutput out;
    out.mutable_exit()->set_exit_code(code);
    out.mutable_exit()->set_error(started.error().message());
    stream->Write(out);
    end("failed", code, started.error().message());
    return grpc::Status::OK;
  }
  record.phase = "start";
  record.outcome = "started";
  audit(record);
  {
    v1::ExecOutput out;
    out.mutable_started()->set_task_id(target->task_id);
    out.mutable_started()->set_container(target->container);
    out.mutable_started()->set_exec_id(session.exec_id());
    stream->Write(out);
  }

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
    if (request.tty) (void)session.signal(SIGHUP);
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
  end(client_gone ? "disconnected" : (code ? "exited" : "failed"), code, error);
  if (!code) return to_grpc(process_exit.status.error());
  return grpc::Status::OK;
}

}  // namespace berth::agent
