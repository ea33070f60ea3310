#include "agent/exec/audit.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

namespace berth::agent {

std::string audit_line(const AuditRecord& r) {
  nlohmann::json line = {{"kind", r.kind},
                         {"phase", r.phase},
                         {"session", r.session},
                         {"caller", {{"uid", r.uid}, {"gid", r.gid}, {"pid", r.pid}}},
                         {"task", r.task_id},
                         {"container", r.container},
                         {"command", r.command},
                         {"user", r.user},
                         {"tty", r.tty},
                         {"stdin", r.stdin},
                         {"startedAtMs", r.started_ms},
                         {"outcome", r.outcome}};
  if (r.ended_ms != 0) line["endedAtMs"] = r.ended_ms;
  if (r.exit_code) line["exitCode"] = *r.exit_code;
  if (!r.error.empty()) line["error"] = r.error;
  // Commands are the caller's bytes: never let them break the line.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!fd) return fail_errno("open the audit log '" + path + "'");
  return std::unique_ptr<AuditLog>(new AuditLog(path, std::move(fd)));
}

Status AuditLog::append(const AuditRecord& record) {
  std::string line = audit_line(record) + "\n";
  std::lock_guard lock(mu_);
  std::string_view left = line;
  while (!left.empty()) {
    ssize_t n = ::write(fd_.get(), left.data(), left.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail_errno("write the audit log '" + path_ + "'");
    left.remove_prefix(static_cast<size_t>(n));
  }
  if (::fdatasync(fd_.get()) != 0) return fail_errno("sync the audit log '" + path_ + "'");
  return {};
}

}  // namespace berth::agent
