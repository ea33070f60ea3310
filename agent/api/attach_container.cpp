// Attaching to a running container's main process (berthctl attach), as
// `docker attach` does: the output it writes from now on, read from its log
// file (so any number of clients see the same bytes, and none of them holds
// the container up), and, for an `interactive` container, stdin written to
// the FIFO that berth-runc made its stdin (runtime/containers.h). With
// `pseudoTerminal` the bytes are its terminal's, and resizes reach it.
//
// The client leaving, a detach, ends only this call: the container runs on
// and its stdin stays open. The container stopping ends the call with its
// exit code, once its logger wrote the last of its output.
//
// berthctl run -it runs its task through this call (`start.run`), which
// then owns the run as docker run -it's client does: cancelled before the
// container runs, it stops the task; the task's removal (--rm) waits for
// the call; without a terminal, the client's EOF, or its going away without
// a detach, closes the container's stdin.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "agent/api/log_follower.h"
#include "agent/api/server.h"
#include "agent/engine/engine.h"
#include "runtime/containerd_stubs.h"

namespace berth::agent {

namespace {

constexpr auto kClientTail = std::chrono::seconds(5);
// The shim gives the logger 12 s to finish once the task is deleted.
constexpr auto kLogTail = std::chrono::seconds(12);

void wake(int fd) {
  uint64_t one = 1;
  (void)!::write(fd, &one, sizeof one);
}

// Writes all of `data` to the container's stdin FIFO, waiting while it is
// full, until `give_up()`.
void write_fifo(int fd, std::string_view data, const std::function<bool()>& give_up) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && errno == EAGAIN) {
      if (give_up()) return;
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 200);
    } else if (n < 0 && errno != EINTR) {
      return;
    }
  }
}

}  // namespace

grpc::Status ApiService::Attach(grpc::ServerContext* ctx, SessionStream* stream) {
  v1::ExecInput first;
  if (!stream->Read(&first) || first.input_case() != v1::ExecInput::kStart) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "attach: the first message must be its start"};
  }
  const v1::ExecStart& start = first.start();
  AuditRecord record = session_record(ctx, start, "attach");
  auto failed = [&](const Error& error) {
    bool refused = error.code() == ErrorCode::kPermissionDenied;
    audit_end(record, refused ? "refused" : "failed", std::nullopt, error.message());
    return to_grpc(error);
  };
  const bool own_run = start.has_run();
  v1::ExecStart wanted = start;  // what is attached to
  std::string task_id;
  if (own_run) {
    if (auto present = check_images(start.run()); !present.ok()) {
      audit_end(record, "failed", std::nullopt, present.error_message());
      return present;
    }
    RunRequest run;
    run.definition_json = start.run().definition_json();
    run.name = start.run().name();
    run.remove_on_exit = start.run().remove_on_exit();
    run.foreground = true;  // held for this call, from now on
    auto id = engine_.run_task(run);
    if (!id) return failed(id.error());
    task_id = *id;
    wanted.set_task(task_id);
    wanted.set_container("");
  } else {
    auto view = engine_.describe(start.task());
    if (!view) return failed(view.error());
    task_id = view->record.id;
  }
  record.task_id = task_id;
  // The hold that run_task took for a foreground run goes with this call.
  struct Release {
    Engine& engine;
    const std::string& id;
    bool held;
    ~Release() {
      if (held) engine.detach(id);
    }
  } release{engine_, task_id, own_run};

  // Its stop, from the engine's events, wakes the loop and ends the call.
  UniqueFd wake_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  std::atomic<bool> stopped = false;    // the container (or its task) stopped
  std::atomic<bool> task_done = false;  // the task stopped: its logs are whole
  std::string container_name;           // set once the target is known
  std::mutex name_mu;
  int subscription = engine_.subscribe([&](const EngineEvent& event) {
    if (event.task_id != task_id) return;
    bool task_end =
        event.container.empty() && (event.status == "STOPPED" || event.status == "REMOVED");
    std::lock_guard lock(name_mu);
    if (task_end) task_done = true;
    if (task_end || (!container_name.empty() && event.container == container_name &&
                     event.status == "STOPPED")) {
      stopped = true;
    }
    wake(wake_fd.get());
  });
  struct Unsubscribe {
    Engine& engine;
    int subscription;
    ~Unsubscribe() { engine.unsubscribe(subscription); }
  } unsubscribe{engine_, subscription};

  // A client's own run is no session into someone's task: no policy. Its
  // container is waited for while it starts; one that already stopped is
  // followed to its exit code.
  auto target = exec_target(wanted, /*require_running=*/!own_run, /*check_policy=*/!own_run);
  auto starting = [](TaskStatus status) {
    return status == TaskStatus::kPending || status == TaskStatus::kPulled ||
           status == TaskStatus::kCreated;
  };
  while (own_run && target && starting(target->status) && !target->task_stopped &&
         !ctx->IsCancelled()) {
    pollfd p{wake_fd.get(), POLLIN, 0};
    ::poll(&p, 1, 1000);
    uint64_t count = 0;
    (void)!::read(wake_fd.get(), &count, sizeof count);
    target = exec_target(wanted, false, false);
  }
  if (own_run && (!target || ctx->IsCancelled())) {
    (void)engine_.stop_task(task_id, "UserInitiated",
                            "Its client (berthctl run) went away before it started");
    if (!target) return failed(target.error());
    return failed(Error(ErrorCode::kCancelled, "run cancelled by the client"));
  }
  if (!target) return failed(target.error());
  if (target->status == TaskStatus::kStopped || target->task_stopped) stopped = true;
  record.container = target->container;
  record.tty = target->tty;
  record.stdin = target->interactive;
  const std::string cid = target->containerd_id;
  {
    std::lock_guard lock(name_mu);
    container_name = target->container;
  }
  // run -i: the client's EOF, or its going away, is the container's.
  const bool stdin_once = own_run && target->interactive;

  auto follower = LogFollower::open(paths_.log(cid));
  if (!follower) {
    // A container that never started has no log: why it did not.
    return failed(stopped
                      ? Error(ErrorCode::kFailedPrecondition,
                              "container '" + target->container + "' stopped: " + target->reason)
                      : follower.error());
  }
  if (!own_run) follower->skip_to_end();
  UniqueFd stdin_fd;
  if (target->interactive && !stopped) {
    stdin_fd.reset(
        ::open((paths_.stdin_dir() + "/" + cid).c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!stdin_fd) {
      return failed(Error::from_errno("attach: open the stdin of '" + target->container + "'"));
    }
  }
  // A stop that came before the subscription.
  if (auto again = exec_target(wanted, true, false); !again) stopped = true;
  if (stopped) stdin_fd.reset();
  // The shim's end of the FIFO closes with CloseIO; the logger holds none
  // for a run -i container. Then the container reads EOF.
  auto close_stdin = [&] {
    if (!stdin_once || !stdin_fd) return;
    stdin_fd.reset();
    runtime::cd_tasks::CloseIORequest close;
    close.set_container_id(cid);
    close.set_stdin(true);
    google::protobuf::Empty empty;
    auto call = containerd_.context(std::chrono::seconds(10));
    (void)containerd_.stubs().tasks->CloseIO(call.get(), close, &empty);
  };

  record.phase = "start";
  record.outcome = "started";
  audit(record);
  {
    v1::ExecOutput out;
    out.mutable_started()->set_task_id(task_id);
    out.mutable_started()->set_container(target->container);
    out.mutable_started()->set_tty(target->tty);
    out.mutable_started()->set_stdin(target->interactive);
    stream->Write(out);
  }

  std::atomic<bool> finished = false;
  std::atomic<bool> input_over = false;
  std::atomic<bool> detached = false;
  std::promise<void> input_ended;
  auto input_end = input_ended.get_future();
  std::thread input([&] {
    struct Ended {
      std::promise<void>& promise;
      std::atomic<bool>& over;
      int fd;
      ~Ended() {
        over = true;
        wake(fd);
        promise.set_value();
      }
    } ended{input_ended, input_over, wake_fd.get()};
    v1::ExecInput in;
    while (!detached && stream->Read(&in)) {
      if (in.input_case() == v1::ExecInput::kStdin && stdin_fd) {
        write_fifo(stdin_fd.get(), in.stdin(),
                   [&] { return finished || stopped || ctx->IsCancelled(); });
      } else if (in.input_case() == v1::ExecInput::kResize && target->tty) {
        runtime::cd_tasks::ResizePtyRequest resize;
        resize.set_container_id(cid);
        resize.set_width(in.resize().width());
        resize.set_height(in.resize().height());
        google::protobuf::Empty empty;
        auto call = containerd_.context(std::chrono::seconds(10));
        (void)containerd_.stubs().tasks->ResizePty(call.get(), resize, &empty);
      } else if (in.input_case() == v1::ExecInput::kSignal && in.signal() > 0 &&
                 in.signal() < NSIG) {
        runtime::cd_tasks::KillRequest kill;
        kill.set_container_id(cid);
        kill.set_signal(static_cast<uint32_t>(in.signal()));
        google::protobuf::Empty empty;
        auto call = containerd_.context(std::chrono::seconds(10));
        (void)containerd_.stubs().tasks->Kill(call.get(), kill, &empty);
      } else if (in.input_case() == v1::ExecInput::kStdinEof) {
        // Only a run -i's: an attach leaves the container's stdin open
        // for the next client, as docker attach does.
        close_stdin();
      } else if (in.input_case() == v1::ExecInput::kDetach) {
        detached = true;
      }
    }
    // Gone without a detach: run -i's container gets its EOF (with a
    // terminal it runs on, as docker run -it's does).
    if (!detached && !finished && !target->tty) close_stdin();
  });

  bool client_gone = false;
  auto drain = [&] {
    (void)follower->drain([&](const runtime::LogRecord& log) -> Status {
      v1::ExecOutput out;
      if (log.stream == runtime::LogStream::kStderr) {
        out.set_stderr(log.text);
      } else {
        out.set_stdout(log.text);
      }
      if (!client_gone && !stream->Write(out)) client_gone = true;
      return {};
    });
  };
  auto wait_round = [&](int timeout_ms) {
    std::array<pollfd, 2> fds = {{{wake_fd.get(), POLLIN, 0}, {follower->wait_fd(), POLLIN, 0}}};
    ::poll(fds.data(), fds.size(), timeout_ms);
    uint64_t count = 0;
    (void)!::read(wake_fd.get(), &count, sizeof count);
    follower->clear_notifications();
  };
  while (!stopped && !client_gone && !input_over && !ctx->IsCancelled()) {
    drain();
    wait_round(500);  // the timeout bounds how late a cancelled call is noticed
  }
  std::optional<int> code;
  if (stopped && !client_gone) {
    // The exit comes before the task's deletion, and its logger writes the
    // last of the output (a final line without a newline) only then: read
    // until the logger closed the file or the task is over.
    auto tail_end = std::chrono::steady_clock::now() + kLogTail;
    while (!follower->writer_closed() && !task_done && !ctx->IsCancelled() &&
           std::chrono::steady_clock::now() < tail_end) {
      drain();
      wait_round(200);
    }
    drain();
    if (auto last = engine_.describe(task_id)) {
      for (const auto& c : last->record.containers) {
        if (c.name == target->container) code = c.exit_code;
      }
    }
    if (code) {
      v1::ExecOutput out;
      out.mutable_exit()->set_exit_code(*code);
      stream->Write(out);
    }
  }
  finished = true;
  if (input_end.wait_for(stopped ? kClientTail : std::chrono::seconds(0)) !=
      std::future_status::ready) {
    ctx->TryCancel();
  }
  input.join();
  audit_end(record, stopped ? "exited" : (detached ? "detached" : "disconnected"), code, "");
  if (stopped && !code && !client_gone) {
    return {grpc::StatusCode::FAILED_PRECONDITION,
            "container '" + target->container + "' stopped without an exit code"};
  }
  return grpc::Status::OK;
}

}  // namespace berth::agent
