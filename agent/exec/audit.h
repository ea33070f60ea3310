// The audit log of exec and debug sessions: one JSON line when a session is
// asked for (refused ones too) and one when it ends, in <state dir's root>/
// audit.log, appended and synced line by line so that a crash loses at most
// the end of a session, never its start.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fd.h"

namespace berth::agent {

struct AuditRecord {
  std::string session;  // the exec id, or "" when none was made
  std::string kind = "exec";
  std::string phase;  // "start" or "end"
  // The caller: the API socket's peer credentials (-1 when unknown).
  int64_t uid = -1;
  int64_t gid = -1;
  int64_t pid = -1;
  std::string task_id;  // as asked for when no task matched
  std::string container;
  std::vector<std::string> command;
  std::string user;
  bool tty = false;
  bool stdin = false;
  int64_t started_ms = 0;
  int64_t ended_ms = 0;          // "end" lines
  std::optional<int> exit_code;  // "end" lines of sessions that ran
  std::string outcome;           // started, exited, refused, failed, disconnected
  std::string error;             // why it was refused or failed
};

// One line of JSON, without the newline.
std::string audit_line(const AuditRecord& record);

class AuditLog {
 public:
  // Opens (creates, mode 0600) `path` for appending.
  static Result<std::unique_ptr<AuditLog>> open(const std::string& path);
  Status append(const AuditRecord& record);
  const std::string& path() const { return path_; }

 private:
  AuditLog(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  std::mutex mu_;
  UniqueFd fd_;
};

}  // namespace berth::agent
