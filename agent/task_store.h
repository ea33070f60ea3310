// The checkpoint of every task berthd knows: one JSON file per task under
// <root>/tasks/, written atomically (temporary file, fsync, rename, fsync of
// the directory), so that after a crash each file holds either the old or
// the new record, never a torn one.
//
// On-disk layout under --root:
//   tasks/<task-id>.json   the TaskRecord (agent/task_state.h)
//   logs/<containerd-id>.log   container output (runtime/containers.h)
#pragma once

#include <string>
#include <vector>

#include "agent/task_state.h"
#include "common/error.h"

namespace berth::agent {

class TaskStore {
 public:
  // Creates <root>/tasks if needed.
  static Result<TaskStore> open(const std::string& root);

  berth::Status save(const TaskRecord& task) const;
  berth::Status remove(const std::string& task_id) const;
  // Every readable record; unreadable files are skipped and named in
  // `problems` (they are left in place for an operator to look at).
  std::vector<TaskRecord> load_all(std::vector<std::string>* problems) const;

  const std::string& dir() const { return dir_; }

 private:
  explicit TaskStore(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

// Writes `contents` to `path` atomically and durably.
berth::Status write_file_atomically(const std::string& path, std::string_view contents);

}  // namespace berth::agent
