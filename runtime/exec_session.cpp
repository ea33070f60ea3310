#include "runtime/exec_session.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "common/file.h"
#include "runtime/containerd_stubs.h"
#include "runtime/oci_spec.h"

namespace berth::runtime {

namespace {

// runc's words for a command that is not there, or not executable.
Error start_error(const grpc::Status& status, const std::string& what) {
  return classify_start_error(grpc_error(status, what));
}

}  // namespace

Error classify_start_error(const Error& error) {
  const std::string& message = error.message();
  // Only runc's words about the command itself (`exec: "CMD": ...`): a
  // missing namespace or cgroup is no missing command.
  if (message.find("exec: \"") == std::string::npos) return error;
  if (message.find("executable file not found") != std::string::npos ||
      message.find("no such file or directory") != std::string::npos) {
    return {ErrorCode::kNotFound, message};
  }
  if (message.find("permission denied") != std::string::npos) {
    return {ErrorCode::kPermissionDenied, message};
  }
  return error;
}

int exit_code_for_start_error(const Error& error) {
  if (error.code() == ErrorCode::kNotFound) return 127;
  if (error.code() == ErrorCode::kPermissionDenied) return 126;
  return 0;
}

Result<std::unique_ptr<ExecSession>> ExecSession::create(Containerd& containerd,
                                                         const std::string& fifo_dir,
                                                         const std::string& container_id,
                                                         const SessionRequest& request) {
  if (request.args.empty() || request.args.front().empty()) {
    return fail(ErrorCode::kInvalidArgument, "exec: no command given");
  }
  const std::string what = "exec '" + request.args.front() + "'";

  auto container = BERTH_TRY(running_container(containerd, container_id, what));
  nlohmann::json& process = container.process;
  process["args"] = request.args;
  process["terminal"] = request.tty;
  if (request.tty && request.width > 0 && request.height > 0) {
    process["consoleSize"] = {{"width", request.width}, {"height", request.height}};
  } else {
    process.erase("consoleSize");
  }
  if (!request.cwd.empty()) {
    if (request.cwd.front() != '/') {
      return fail(ErrorCode::kInvalidArgument,
                  "workdir '" + request.cwd + "': must be an absolute path");
    }
    process["cwd"] = request.cwd;
  }
  if (!request.env.empty()) {
    auto env = process.value("env", nlohmann::json::array());
    for (const auto& pair : request.env) {
      auto equals = pair.find('=');
      if (equals == 0 || equals == std::string::npos) {
        return fail(ErrorCode::kInvalidArgument, "env '" + pair + "': not KEY=VALUE");
      }
      std::string key = pair.substr(0, equals + 1);
      for (auto it = env.begin(); it != env.end();) {
        it = it->is_string() && it->get<std::string>().starts_with(key) ? env.erase(it) : it + 1;
      }
      env.push_back(pair);
    }
    process["env"] = env;
  }
  if (!request.user.empty()) {
    // Names are the container's: its own /etc/passwd and /etc/group.
    std::string root = "/proc/" + std::to_string(container.pid) + "/root";
    auto passwd = read_file(root + "/etc/passwd");
    auto group = read_file(root + "/etc/group");
    auto user = resolve_user(request.user, passwd ? *passwd : "", group ? *group : "");
    if (!user) return fail(ErrorCode::kInvalidArgument, "user: " + user.error().message());
    process["user"] = {
        {"uid", user->uid}, {"gid", user->gid}, {"additionalGids", user->additional_gids}};
  }

  std::string exec_id = new_exec_id("session");
  auto fifos = BERTH_TRY_CTX(
      ExecFifos::create(fifo_dir, container_id, exec_id, request.stdin, request.tty), what);
  std::unique_ptr<ExecSession> session(
      new ExecSession(containerd, container_id, exec_id, std::move(fifos)));
  cd_tasks::ExecProcessRequest exec;
  exec.set_container_id(container_id);
  exec.set_exec_id(exec_id);
  exec.set_terminal(request.tty);
  exec.set_stdin(session->fifos_.stdin_path());
  exec.set_stdout(session->fifos_.stdout_path());
  exec.set_stderr(session->fifos_.stderr_path());
  exec.mutable_spec()->set_type_url(std::string(kProcessSpecType));
  exec.mutable_spec()->set_value(process.dump());
  {
    google::protobuf::Empty empty;
    auto ctx = containerd.context(std::chrono::seconds(30));
    auto status = containerd.stubs().tasks->Exec(ctx.get(), exec, &empty);
    if (!status.ok()) return fail(grpc_error(status, what));
  }
  session->created_ = true;
  session->what_ = what;
  return session;
}

Result<std::unique_ptr<ExecSession>> ExecSession::create_container(ContainerService& containers,
                                                                   Containerd& containerd,
                                                                   const std::string& fifo_dir,
                                                                   CreateContainerRequest container,
                                                                   const SessionRequest& request) {
  if (request.args.empty() || request.args.front().empty()) {
    return fail(ErrorCode::kInvalidArgument, "debug: no command given");
  }
  const std::string what = "debug '" + request.args.front() + "'";
  if (!request.cwd.empty() && request.cwd.front() != '/') {
    return fail(ErrorCode::kInvalidArgument,
                "workdir '" + request.cwd + "': must be an absolute path");
  }
  for (const auto& pair : request.env) {
    auto equals = pair.find('=');
    if (equals == 0 || equals == std::string::npos) {
      return fail(ErrorCode::kInvalidArgument, "env '" + pair + "': not KEY=VALUE");
    }
  }
  container.overrides.entrypoint = std::vector<std::string>{};
  container.overrides.command = request.args;
  container.overrides.terminal = request.tty;
  container.overrides.env = request.env;
  if (!request.cwd.empty()) container.overrides.working_dir = request.cwd;
  if (!request.user.empty()) container.overrides.user = request.user;
  const std::string id = container.id;
  auto fifos = BERTH_TRY_CTX(ExecFifos::create(fifo_dir, id, id, request.stdin, request.tty), what);
  container.stdio =
      CreateContainerRequest::Stdio{fifos.stdin_path(), fifos.stdout_path(), fifos.stderr_path()};
  if (auto created = containers.create(container); !created) {
    return fail(classify_start_error(
        Error(created.error().code(), what + ": " + created.error().message())));
  }
  std::unique_ptr<ExecSession> session(new ExecSession(containerd, id, "", std::move(fifos)));
  session->owned_by_ = &containers;
  session->created_ = true;
  session->what_ = what;
  if (request.tty && request.width > 0 && request.height > 0) {
    (void)session->resize(request.width, request.height);
  }
  return session;
}

Status ExecSession::start() {
  cd_tasks::StartRequest start;
  start.set_container_id(container_id_);
  start.set_exec_id(exec_id_);
  cd_tasks::StartResponse started;
  auto ctx = containerd_.context(std::chrono::seconds(30));
  auto status = containerd_.stubs().tasks->Start(ctx.get(), start, &started);
  if (!status.ok()) return fail(start_error(status, what_));
  pid_ = static_cast<pid_t>(started.pid());
  fifos_.note_pid(pid_);
  return {};
}

ExecSession::~ExecSession() {
  if (!created_) return;
  close_stdin();
  if (owned_by_) {
    // Best effort: what is left is removed when berthd starts again.
    (void)owned_by_->kill_and_remove(container_id_);
    return;
  }
  kill_all();
  // DeleteProcess refuses a process that has not exited: wait for it.
  (void)wait(std::chrono::seconds(10));
  cd_tasks::DeleteProcessRequest request;
  request.set_container_id(container_id_);
  request.set_exec_id(exec_id_);
  cd_tasks::DeleteResponse response;
  auto ctx = containerd_.context(std::chrono::seconds(30));
  // Best effort: an exec record left behind goes with its task.
  (void)containerd_.stubs().tasks->DeleteProcess(ctx.get(), request, &response);
}

Status ExecSession::write_stdin(std::string_view data, const std::function<bool()>& give_up) {
  int fd = fifos_.stdin_fd();
  if (fd < 0) return fail(ErrorCode::kFailedPrecondition, "the process's stdin is closed");
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (give_up()) return fail(ErrorCode::kCancelled, "stdin: the session ended");
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 200);
      continue;
    }
    return fail_errno("write to the process's stdin");
  }
  return {};
}

void ExecSession::close_stdin() {
  if (fifos_.stdin_fd() < 0) return;
  fifos_.close_stdin();
  // The shim holds a write end of the FIFO itself (so that a client may
  // come and go): only CloseIO closes it, and then the process reads EOF
  // once the shim has passed on what the FIFO still holds.
  cd_tasks::CloseIORequest request;
  request.set_container_id(container_id_);
  request.set_exec_id(exec_id_);
  request.set_stdin(true);
  google::protobuf::Empty empty;
  auto ctx = containerd_.context(std::chrono::seconds(10));
  (void)containerd_.stubs().tasks->CloseIO(ctx.get(), request, &empty);
}

Status ExecSession::resize(uint32_t width, uint32_t height) {
  cd_tasks::ResizePtyRequest request;
  request.set_container_id(container_id_);
  request.set_exec_id(exec_id_);
  request.set_width(width);
  request.set_height(height);
  google::protobuf::Empty empty;
  auto ctx = containerd_.context(std::chrono::seconds(10));
  auto status = containerd_.stubs().tasks->ResizePty(ctx.get(), request, &empty);
  if (!status.ok()) return fail(grpc_error(status, "resize the terminal"));
  return {};
}

Status ExecSession::signal(int signal) {
  if (signal <= 0 || signal >= NSIG) {
    return fail(ErrorCode::kInvalidArgument,
                "signal " + std::to_string(signal) + ": no such signal");
  }
  cd_tasks::KillRequest request;
  request.set_container_id(container_id_);
  request.set_exec_id(exec_id_);
  request.set_signal(static_cast<uint32_t>(signal));
  google::protobuf::Empty empty;
  auto ctx = containerd_.context(std::chrono::seconds(10));
  auto status = containerd_.stubs().tasks->Kill(ctx.get(), request, &empty);
  if (!status.ok()) return fail(grpc_error(status, "signal " + std::to_string(signal)));
  return {};
}

Result<int> ExecSession::wait(std::chrono::milliseconds timeout) {
  cd_tasks::WaitRequest request;
  request.set_container_id(container_id_);
  request.set_exec_id(exec_id_);
  cd_tasks::WaitResponse response;
  auto ctx = containerd_.context(timeout);
  auto status = containerd_.stubs().tasks->Wait(ctx.get(), request, &response);
  if (!status.ok()) return fail(grpc_error(status, "wait for the exec"));
  return static_cast<int>(response.exit_status());
}

void ExecSession::kill_all() {
  if (owned_by_) {
    (void)owned_by_->kill(container_id_, SIGKILL, /*all=*/true);
  } else if (pid_ > 0) {
    kill_exec_tree(containerd_, container_id_, pid_);
  }
}

}  // namespace berth::runtime
