#include "agent/state/store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "agent/state/record_json.h"
#include "common/file.h"

namespace berth::agent {

namespace fs = std::filesystem;

namespace {

constexpr auto kFirstRetry = std::chrono::milliseconds(200);
constexpr auto kLastRetry = std::chrono::seconds(5);

Status make_private_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::kInternal, "create '" + dir + "': " + ec.message());
  if (::chmod(dir.c_str(), 0700) != 0) return fail_errno("chmod '" + dir + "'");
  return {};
}

// The reason a checkpoint file cannot be used, or the record.
Result<TaskRecord> read_checkpoint(const std::string& file) {
  auto text = BERTH_TRY(read_file(file));
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) {
    return fail(ErrorCode::kDataLoss, text.empty() ? "the file is empty"
                                                   : "not JSON (" + std::to_string(text.size()) +
                                                         " bytes; truncated or overwritten?)");
  }
  return task_from_json(json);
}

}  // namespace

CheckpointStore::CheckpointStore(Paths paths, const Failpoints* failpoints)
    : paths_(std::move(paths)), failpoints_(failpoints) {}

CheckpointStore::~CheckpointStore() { stop(); }

Result<std::unique_ptr<CheckpointStore>> CheckpointStore::open(const Paths& paths,
                                                               const Failpoints* failpoints) {
  BERTH_TRY(make_private_dir(paths.checkpoint_dir()));
  BERTH_TRY(make_private_dir(paths.quarantine_dir()));
  return std::unique_ptr<CheckpointStore>(new CheckpointStore(paths, failpoints));
}

Result<QuarantinedTask> CheckpointStore::move_aside(const std::string& file, const std::string& id,
                                                    const std::string& reason) {
  std::string kept = paths_.quarantine_dir() + "/" + fs::path(file).filename().string();
  if (::rename(file.c_str(), kept.c_str()) != 0) {
    return fail_errno("move '" + file + "' to '" + kept + "'");
  }
  return QuarantinedTask{id, kept, reason};
}

LoadedCheckpoints CheckpointStore::load() {
  LoadedCheckpoints loaded;
  std::error_code ec;
  // Those kept aside by earlier starts first, then those that are new.
  for (const auto& entry : fs::directory_iterator(paths_.quarantine_dir(), ec)) {
    const auto& path = entry.path();
    if (path.extension() != ".json") continue;
    auto record = read_checkpoint(path.string());
    std::string reason = record ? "kept aside by an earlier start" : record.error().message();
    loaded.quarantined.push_back({path.stem().string(), path.string(), reason});
  }
  for (const auto& entry : fs::directory_iterator(paths_.checkpoint_dir(), ec)) {
    const auto& path = entry.path();
    if (!entry.is_regular_file(ec)) continue;
    if (path.extension() == ".tmp") {
      // An interrupted write: the rename never happened, so the record it
      // was replacing is still whole.
      fs::remove(path, ec);
      continue;
    }
    if (path.extension() != ".json") continue;
    std::string id = path.stem().string();
    auto record = read_checkpoint(path.string());
    if (record && record->id == id) {
      loaded.tasks.push_back(std::move(*record));
      continue;
    }
    std::string reason =
        record ? "it names task '" + record->id + "', not '" + id + "'" : record.error().message();
    auto kept = move_aside(path.string(), id, reason);
    // Left where it is when it cannot even be moved: still never ignored.
    loaded.quarantined.push_back(kept ? *kept : QuarantinedTask{id, path.string(), reason});
  }
  std::ranges::sort(loaded.tasks, [](const TaskRecord& a, const TaskRecord& b) {
    return a.created_at_ms < b.created_at_ms;
  });
  return loaded;
}

Result<QuarantinedTask> CheckpointStore::quarantine(const std::string& task_id,
                                                    const std::string& reason) {
  return move_aside(paths_.checkpoint(task_id), task_id, reason);
}

Status CheckpointStore::forget_quarantined(const QuarantinedTask& task) {
  if (::unlink(task.file.c_str()) != 0 && errno != ENOENT) {
    return fail_errno("remove '" + task.file + "'");
  }
  return {};
}

void CheckpointStore::start(Listener listener) {
  listener_ = std::move(listener);
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void CheckpointStore::stop() {
  {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void CheckpointStore::save(const std::string& task_id, uint64_t seq, std::string json) {
  {
    std::lock_guard lock(mu_);
    Pending& pending = pending_[task_id];
    pending.seq = seq;
    pending.remove = false;
    pending.json = std::move(json);
    pending.retry_at = {};  // the newest record goes now, even after failures
  }
  cv_.notify_one();
}

void CheckpointStore::remove(const std::string& task_id, uint64_t seq) {
  {
    std::lock_guard lock(mu_);
    Pending& pending = pending_[task_id];
    pending.seq = seq;
    pending.remove = true;
    pending.json.clear();
    pending.retry_at = {};
  }
  cv_.notify_one();
}

Status CheckpointStore::write(const std::string& task_id, const Pending& pending) {
  std::string path = paths_.checkpoint(task_id);
  if (pending.remove) {
    BERTH_TRY(failpoint(failpoints_, "checkpoint.remove.before"));
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail_errno("remove '" + path + "'");
    return failpoint(failpoints_, "checkpoint.remove.after");
  }
  BERTH_TRY(failpoint(failpoints_, "checkpoint.write.before"));
  BERTH_TRY_CTX(write_atomically(path, pending.json), "checkpoint of task '" + task_id + "'");
  return failpoint(failpoints_, "checkpoint.write.after");
}

void CheckpointStore::run() {
  std::unique_lock lock(mu_);
  while (true) {
    auto now = std::chrono::steady_clock::now();
    // The next write that is due: the oldest-waiting one first.
    auto due = pending_.end();
    auto wake = std::chrono::steady_clock::time_point::max();
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->second.retry_at <= now || stopping_) {
        if (due == pending_.end() || it->second.retry_at < due->second.retry_at) due = it;
      } else {
        wake = std::min(wake, it->second.retry_at);
      }
    }
    if (due == pending_.end()) {
      if (stopping_) return;
      if (wake == std::chrono::steady_clock::time_point::max()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, wake);
      }
      continue;
    }
    std::string task_id = due->first;
    Pending pending = due->second;
    lock.unlock();
    Status written = write(task_id, pending);
    if (listener_) listener_({task_id, pending.seq, written});
    lock.lock();
    auto it = pending_.find(task_id);
    if (it == pending_.end()) continue;
    if (it->second.seq != pending.seq) continue;  // a newer record came meanwhile
    if (written || stopping_) {
      pending_.erase(it);
      continue;
    }
    it->second.failures = pending.failures + 1;
    auto backoff = kFirstRetry * (1 << std::min(it->second.failures - 1, 5));
    it->second.retry_at = std::chrono::steady_clock::now() +
                          std::min<std::chrono::steady_clock::duration>(backoff, kLastRetry);
  }
}

}  // namespace berth::agent
