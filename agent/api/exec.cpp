// Exec sessions (berthctl exec): the node's policy, the audit log, and one
// containerd exec process whose bytes serve_session (session_pump.cpp)
// carries both ways.
#include <spdlog/spdlog.h>

#include <cctype>
#include <chrono>

#include "agent/api/listener.h"
#include "agent/api/server.h"
#include "agent/engine/engine.h"
#include "agent/exec/audit.h"
#include "common/clock.h"
#include "runtime/exec_session.h"

namespace berth::agent {

namespace {

std::string command_text(const std::vector<std::string>& command) {
  std::string text;
  for (const auto& arg : command) {
    if (!text.empty()) text += ' ';
    bool plain = !arg.empty() && arg.find_first_of(" \t\n'\"\\$") == std::string::npos;
    text += plain ? arg : "'" + arg + "'";
  }
  return text;
}

}  // namespace

Result<ApiService::ExecTarget> ApiService::exec_target(const v1::ExecStart& start,
                                                       bool require_running, bool check_policy) {
  auto view = BERTH_TRY(engine_.describe(start.task()));
  const TaskRecord& record = view.record;
  if (!view.spec) {
    return fail(ErrorCode::kFailedPrecondition,
                "task '" + record.id + "' is quarantined: " + view.quarantine_reason);
  }
  if (check_policy) {
    BERTH_TRY(
        check_exec_policy(exec_policy_, view.spec->definition.enable_execute_command, record.id));
  }
  const ContainerRecord* container = nullptr;
  size_t index = 0;
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
    for (size_t i = 0; i < record.containers.size(); ++i) {
      if (record.containers[i].name != start.container()) continue;
      container = &record.containers[i];
      index = i;
    }
    if (!container) {
      return fail(ErrorCode::kNotFound, "task '" + record.id + "' has no container '" +
                                            start.container() + "' (it has " + names + ")");
    }
  }
  if (require_running && container->status != TaskStatus::kRunning) {
    return fail(ErrorCode::kFailedPrecondition,
                "container '" + container->name + "' of task '" + record.id + "' is " +
                    std::string(status_name(container->status)) + ", not RUNNING");
  }
  ExecTarget target{record.id, container->name, container->containerd_id, container->image};
  target.status = container->status;
  target.task_stopped = record.known == TaskStatus::kStopped;
  target.reason = container->reason.empty() ? record.stopped_reason : container->reason;
  if (index < view.spec->definition.containers.size()) {
    target.interactive = view.spec->definition.containers[index].interactive;
    target.tty = view.spec->definition.containers[index].pseudo_terminal;
  }
  return target;
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
  std::string status = record.kind + "_" + record.outcome;
  for (char& c : status) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (record.exit_code) detail += ", exit " + std::to_string(*record.exit_code);
  if (!record.error.empty()) detail += ": " + record.error;
  engine_.announce(record.task_id, record.container, status, detail);
}

AuditRecord ApiService::session_record(grpc::ServerContext* ctx, const v1::ExecStart& start,
                                       std::string kind) {
  AuditRecord record;
  record.kind = std::move(kind);
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
  record.started_ms = SystemClock().wall_ms();
  return record;
}

void ApiService::audit_end(AuditRecord& record, std::string outcome, std::optional<int> exit_code,
                           std::string error) {
  record.phase = "end";
  record.outcome = std::move(outcome);
  record.exit_code = exit_code;
  record.error = std::move(error);
  record.ended_ms = SystemClock().wall_ms();
  audit(record);
}

grpc::Status ApiService::Exec(grpc::ServerContext* ctx, SessionStream* stream) {
  v1::ExecInput first;
  if (!stream->Read(&first) || first.input_case() != v1::ExecInput::kStart) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "exec: the first message must be its start"};
  }
  const v1::ExecStart& start = first.start();
  AuditRecord record = session_record(ctx, start, "exec");
  if (start.command().empty() || start.command(0).empty()) {
    Error error(ErrorCode::kInvalidArgument, "exec: no command given");
    audit_end(record, "failed", std::nullopt, error.message());
    return to_grpc(error);
  }
  auto target = exec_target(start);
  if (!target) {
    bool refused = target.error().code() == ErrorCode::kPermissionDenied;
    audit_end(record, refused ? "refused" : "failed", std::nullopt, target.error().message());
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
    audit_end(record, "failed", std::nullopt, created.error().message());
    return to_grpc(created.error());
  }
  runtime::ExecSession& session = **created;
  record.session = session.exec_id();
  if (auto started = session.start(); !started) {
    int code = runtime::exit_code_for_start_error(started.error());
    if (code == 0) {
      audit_end(record, "failed", std::nullopt, started.error().message());
      return to_grpc(started.error());
    }
    v1::ExecOutput out;
    out.mutable_exit()->set_exit_code(code);
    out.mutable_exit()->set_error(started.error().message());
    stream->Write(out);
    audit_end(record, "failed", code, started.error().message());
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
    out.mutable_started()->set_tty(request.tty);
    out.mutable_started()->set_stdin(request.stdin);
    stream->Write(out);
  }
  return serve_session(ctx, stream, session, request.tty, record);
}

}  // namespace berth::agent
