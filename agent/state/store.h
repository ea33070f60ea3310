// The checkpoint store: one JSON file per task under <root>/tasks
// (agent/state/paths.h), each written atomically and durably (temporary
// file, fsync, rename, fsync of the directory), so that after a crash a file
// holds either the old or the new record, never a torn one.
//
// Writes happen on the store's own thread, never on the engine's owner
// thread: save() hands over a serialized record with a sequence number and
// returns; the store reports when that sequence is durable, or that writing
// it failed. A failed write is retried (with back-off, 0.2 s doubling to
// 5 s) until it is durable, newest record first: a full disk delays a
// task's steps, it never loses or tears a record. Several saves of one task
// queued behind a slow disk are written once, as the newest.
//
// A checkpoint that cannot be read is quarantined: moved to
// tasks/quarantine/ and reported, never deleted and never ignored.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/state/paths.h"
#include "agent/state/record.h"
#include "common/error.h"
#include "common/failpoint.h"

namespace berth::agent {

// A checkpoint berth could not read, kept aside with the reason.
struct QuarantinedTask {
  std::string id;      // from the file name
  std::string file;    // where it is kept now
  std::string reason;  // why it could not be read
};

struct LoadedCheckpoints {
  std::vector<TaskRecord> tasks;  // oldest first
  std::vector<QuarantinedTask> quarantined;
};

// What became of one save() or remove().
struct WriteOutcome {
  std::string task_id;
  uint64_t seq = 0;
  Status status;  // failed writes are retried; a later outcome follows
};

class CheckpointStore {
 public:
  using Listener = std::function<void(const WriteOutcome&)>;

  // Makes <root>/tasks (mode 0700) and its quarantine directory.
  static Result<std::unique_ptr<CheckpointStore>> open(const Paths& paths,
                                                       const Failpoints* failpoints = nullptr);
  ~CheckpointStore();
  CheckpointStore(const CheckpointStore&) = delete;
  CheckpointStore& operator=(const CheckpointStore&) = delete;

  // Reads every checkpoint (before start()). Unreadable ones are moved to
  // the quarantine directory; those already there are listed again.
  LoadedCheckpoints load();
  // Moves a readable checkpoint aside too (a definition this berthd no
  // longer accepts).
  Result<QuarantinedTask> quarantine(const std::string& task_id, const std::string& reason);
  // Deletes a quarantined checkpoint (berthctl rm), synchronously.
  Status forget_quarantined(const QuarantinedTask& task);

  // Starts the writer thread; `listener` hears every outcome, on it.
  void start(Listener listener);
  // Writes what is queued (giving up on writes that keep failing), then
  // stops the thread.
  void stop();

  // Queues `json` as task `task_id`'s checkpoint, sequence `seq`.
  void save(const std::string& task_id, uint64_t seq, std::string json);
  // Queues the removal of the task's checkpoint.
  void remove(const std::string& task_id, uint64_t seq);

 private:
  struct Pending {
    uint64_t seq = 0;
    bool remove = false;
    std::string json;
    int failures = 0;
    std::chrono::steady_clock::time_point retry_at{};
  };
  CheckpointStore(Paths paths, const Failpoints* failpoints);
  void run();
  Status write(const std::string& task_id, const Pending& pending);
  Result<QuarantinedTask> move_aside(const std::string& file, const std::string& id,
                                     const std::string& reason);

  Paths paths_;
  const Failpoints* failpoints_;
  Listener listener_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Pending> pending_;  // by task id
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace berth::agent
