// Debug sessions (berthctl debug): an ephemeral container in a running
// task's namespaces (runtime/debug_container.h), carried as an exec session
// is (session_pump.cpp), shown in DescribeTask while it runs, and removed
// with all it made when its process exits, the client goes away or its
// target stops.
#include <chrono>
#include <thread>

#include "agent/api/server.h"
#include "common/clock.h"
#include "runtime/containerd_stubs.h"
#include "runtime/debug_container.h"

namespace berth::agent {

void ApiService::add_ephemeral(const std::string& task_id,
                               const v1::EphemeralContainer& container) {
  std::lock_guard lock(ephemeral_mu_);
  ephemeral_[task_id].push_back(container);
}

void ApiService::remove_ephemeral(const std::string& task_id, const std::string& name) {
  std::lock_guard lock(ephemeral_mu_);
  auto it = ephemeral_.find(task_id);
  if (it == ephemeral_.end()) return;
  std::erase_if(it->second, [&](const v1::EphemeralContainer& c) { return c.name() == name; });
  if (it->second.empty()) ephemeral_.erase(it);
}

std::vector<v1::EphemeralContainer> ApiService::ephemeral_of(const std::string& task_id) {
  std::lock_guard lock(ephemeral_mu_);
  auto it = ephemeral_.find(task_id);
  if (it == ephemeral_.end()) return {};
  return it->second;
}

grpc::Status ApiService::Debug(grpc::ServerContext* ctx, SessionStream* stream) {
  v1::ExecInput first;
  if (!stream->Read(&first) || first.input_case() != v1::ExecInput::kStart) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "debug: the first message must be its start"};
  }
  const v1::ExecStart& start = first.start();
  AuditRecord record = session_record(ctx, start, "debug");
  auto failed = [&](const Error& error) {
    bool refused = error.code() == ErrorCode::kPermissionDenied;
    audit_end(record, refused ? "refused" : "failed", std::nullopt, error.message());
    return to_grpc(error);
  };
  if (!containers_) {
    return failed(
        Error(ErrorCode::kFailedPrecondition, "debug: this berthd makes no debug containers"));
  }
  if (start.command().empty() || start.command(0).empty()) {
    return failed(Error(ErrorCode::kInvalidArgument, "debug: no command given"));
  }
  auto target = exec_target(start);
  if (!target) return failed(target.error());
  record.task_id = target->task_id;
  record.container = target->container;
  const std::string image = start.image().empty() ? target->image : start.image();
  auto resolved = images_.resolve(image);
  if (!resolved) {
    if (resolved.error().code() != ErrorCode::kNotFound) return failed(resolved.error());
    return failed(Error(ErrorCode::kNotFound,
                        "debug: image '" + image +
                            "' is not present: pull it first (berthctl image pull " + image + ")"));
  }

  runtime::DebugRequest request;
  request.id = runtime::new_exec_id("debug");
  request.task_id = target->task_id;
  request.target_id = target->containerd_id;
  request.image = *resolved;
  request.session.args = record.command;
  request.session.tty = start.tty();
  request.session.stdin = start.stdin();
  request.session.user = start.user();
  request.session.cwd = start.workdir();
  request.session.env.assign(start.env().begin(), start.env().end());
  request.session.width = start.size().width();
  request.session.height = start.size().height();
  record.session = request.id;
  // A command that cannot run is the session's exit (126 or 127), as exec
  // reports it.
  auto could_not_run = [&](const Error& error) {
    int code = runtime::exit_code_for_start_error(error);
    if (code == 0) return failed(error);
    v1::ExecOutput out;
    out.mutable_exit()->set_exit_code(code);
    out.mutable_exit()->set_error(error.message());
    stream->Write(out);
    audit_end(record, "failed", code, error.message());
    return grpc::Status::OK;
  };
  auto created =
      runtime::create_debug_session(*containers_, containerd_, paths_.exec_dir(), request);
  if (!created) return could_not_run(created.error());
  std::unique_ptr<runtime::ExecSession>& session = *created;
  if (auto started = session->start(); !started) return could_not_run(started.error());

  v1::EphemeralContainer shown;
  shown.set_name(request.id);
  shown.set_image(image);
  shown.set_target(target->container);
  for (const auto& arg : record.command) shown.add_command(arg);
  shown.set_started_at_ms(SystemClock().wall_ms());
  if (record.uid >= 0) shown.set_caller_uid(static_cast<uint32_t>(record.uid));
  add_ephemeral(target->task_id, shown);
  record.phase = "start";
  record.outcome = "started";
  audit(record);
  {
    v1::ExecOutput out;
    out.mutable_started()->set_task_id(target->task_id);
    out.mutable_started()->set_container(target->container);
    out.mutable_started()->set_exec_id(request.id);
    out.mutable_started()->set_tty(request.session.tty);
    out.mutable_started()->set_stdin(request.session.stdin);
    stream->Write(out);
  }

  // The target stopping ends the session: nothing of it may outlive the
  // task, whose cgroup holds it.
  auto watch = containerd_.context(std::chrono::milliseconds(0));
  std::thread watcher([&] {
    runtime::cd_tasks::WaitRequest wait;
    wait.set_container_id(target->containerd_id);
    runtime::cd_tasks::WaitResponse waited;
    auto status = containerd_.stubs().tasks->Wait(watch.get(), wait, &waited);
    if (status.error_code() != grpc::StatusCode::CANCELLED) session->kill_all();
  });
  auto served = serve_session(ctx, stream, *session, request.session.tty, record);
  watch->TryCancel();
  watcher.join();
  session.reset();  // the container, its snapshot and its FIFOs go
  remove_ephemeral(target->task_id, request.id);
  return served;
}

}  // namespace berth::agent
