#include "runtime/exec_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fd.h"
#include "runtime/containerd_stubs.h"
#include "runtime/exec_fifos.h"

namespace berth::runtime {

namespace {

// Reads what is available; false once every writer is gone (EOF).
void drain(int fd, ExecResult& result, size_t max_bytes) {
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;
    size_t room = max_bytes > result.output.size() ? max_bytes - result.output.size() : 0;
    size_t take = std::min(room, static_cast<size_t>(n));
    result.output.append(buf, take);
    if (take < static_cast<size_t>(n)) result.truncated = true;
  }
}

}  // namespace

ExecService::ExecService(Containerd& containerd, std::string fifo_dir)
    : containerd_(containerd), fifo_dir_(std::move(fifo_dir)) {}

int ExecService::reap_leftovers() { return reap_execs(containerd_, fifo_dir_); }

Result<ExecResult> ExecService::run(const std::string& container_id, const ExecRequest& request) {
  if (request.args.empty()) return fail(ErrorCode::kInvalidArgument, "exec: no command given");
  const std::string what = "exec '" + request.args.front() + "' in '" + container_id + "'";

  auto container = BERTH_TRY(running_container(containerd_, container_id, what));
  nlohmann::json& process = container.process;
  process["args"] = request.args;
  process["terminal"] = false;
  if (request.env) process["env"] = *request.env;
  if (request.cwd) process["cwd"] = *request.cwd;

  std::string exec_id = new_exec_id("exec");
  auto fifos =
      BERTH_TRY_CTX(ExecFifos::create(fifo_dir_, container_id, exec_id, false, false), what);
  const std::vector<int> output_fds = {fifos.stdout_fd(), fifos.stderr_fd()};
  cd_tasks::ExecProcessRequest exec;
  exec.set_container_id(container_id);
  exec.set_exec_id(exec_id);
  exec.set_stdout(fifos.stdout_path());
  exec.set_stderr(fifos.stderr_path());
  exec.mutable_spec()->set_type_url(std::string(kProcessSpecType));
  exec.mutable_spec()->set_value(process.dump());
  {
    google::protobuf::Empty empty;
    auto ctx = containerd_.context(std::chrono::seconds(30));
    auto status = containerd_.stubs().tasks->Exec(ctx.get(), exec, &empty);
    if (!status.ok()) return fail(grpc_error(status, what));
  }
  // From here on the exec process exists in the shim: always delete it.
  struct Deleter {
    Containerd& containerd;
    const std::string& container_id;
    const std::string& exec_id;
    ~Deleter() {
      cd_tasks::DeleteProcessRequest request;
      request.set_container_id(container_id);
      request.set_exec_id(exec_id);
      cd_tasks::DeleteResponse response;
      auto ctx = containerd.context(std::chrono::seconds(30));
      // Best effort: an exec record left behind goes with its task.
      (void)containerd.stubs().tasks->DeleteProcess(ctx.get(), request, &response);
    }
  } deleter{containerd_, container_id, exec_id};

  pid_t exec_pid = 0;
  {
    cd_tasks::StartRequest start;
    start.set_container_id(container_id);
    start.set_exec_id(exec_id);
    cd_tasks::StartResponse started;
    auto ctx = containerd_.context(std::chrono::seconds(30));
    auto status = containerd_.stubs().tasks->Start(ctx.get(), start, &started);
    if (!status.ok()) return fail(grpc_error(status, what));
    exec_pid = static_cast<pid_t>(started.pid());
  }
  fifos.note_pid(exec_pid);

  // Wait on a thread; the eventfd wakes the drain loop when it returns.
  UniqueFd done(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!done) return fail_errno(what + ": eventfd");
  const int done_fd = done.get();
  ExecResult result;
  grpc::Status wait_status;
  cd_tasks::WaitResponse waited;
  std::thread waiter([&] {
    cd_tasks::WaitRequest wait;
    wait.set_container_id(container_id);
    wait.set_exec_id(exec_id);
    auto ctx = containerd_.context(request.timeout + std::chrono::seconds(60));
    wait_status = containerd_.stubs().tasks->Wait(ctx.get(), wait, &waited);
    uint64_t one = 1;
    (void)!::write(done_fd, &one, sizeof one);
  });

  auto deadline = std::chrono::steady_clock::now() + request.timeout;
  bool finished = false;
  while (!finished) {
    std::vector<pollfd> fds;
    for (int fd : output_fds) fds.push_back({fd, POLLIN, 0});
    fds.push_back({done_fd, POLLIN, 0});
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    int wait_ms = result.timed_out ? 1000 : static_cast<int>(std::max<int64_t>(0, left));
    int ready = ::poll(fds.data(), fds.size(), wait_ms);
    for (int fd : output_fds) drain(fd, result, request.max_output_bytes);
    if (ready > 0 && (fds.back().revents & POLLIN)) finished = true;
    if (!finished && !result.timed_out && std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      cd_tasks::KillRequest kill;
      kill.set_container_id(container_id);
      kill.set_exec_id(exec_id);
      kill.set_signal(SIGKILL);
      google::protobuf::Empty empty;
      auto ctx = containerd_.context(std::chrono::seconds(30));
      // It may have exited meanwhile; the group kill below is sent anyway.
      (void)containerd_.stubs().tasks->Kill(ctx.get(), kill, &empty);
      // runc starts an exec in its own process group: its children (a
      // shell's `sleep`) would otherwise outlive it and hold the output
      // open.
      if (exec_pid > 0) ::kill(-exec_pid, SIGKILL);
    }
    // An EOF on a FIFO with no writer yet reads as POLLHUP forever; the
    // timeout above keeps the loop from spinning only on it.
    if (!finished) {
      bool only_hup = ready > 0 && !(fds.back().revents & POLLIN);
      for (size_t i = 0; i + 1 < fds.size() && only_hup; ++i) {
        if (fds[i].revents & POLLIN) only_hup = false;
      }
      if (only_hup) ::poll(&fds.back(), 1, 10);
    }
  }
  waiter.join();
  done.reset();
  // The shim copies the last output after the exit: read until it closes
  // its write ends (POLLHUP with nothing left), within a bound.
  auto tail_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < tail_deadline) {
    std::vector<pollfd> fds;
    for (int fd : output_fds) fds.push_back({fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 100) <= 0) break;
    for (int fd : output_fds) drain(fd, result, request.max_output_bytes);
    bool all_closed = true;
    for (const auto& p : fds) {
      if (!(p.revents & POLLHUP) || (p.revents & POLLIN)) all_closed = false;
    }
    if (all_closed) break;
  }
  if (!wait_status.ok()) return fail(grpc_error(wait_status, what + ": wait"));
  result.exit_code = static_cast<int>(waited.exit_status());
  return result;
}

}  // namespace berth::runtime
