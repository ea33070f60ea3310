#include "agent/static_tasks/static_tasks.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/digest.h"

namespace berth::agent {

StaticTaskPlanner::StaticTaskPlanner(std::chrono::milliseconds first_backoff,
                                     std::chrono::milliseconds max_backoff,
                                     std::chrono::milliseconds healthy_run)
    : first_backoff_(first_backoff), max_backoff_(max_backoff), healthy_run_(healthy_run) {}

std::vector<StaticAction> StaticTaskPlanner::plan(const std::vector<ManifestFile>& files,
                                                  const std::vector<StaticTaskState>& tasks,
                                                  int64_t now_ms) {
  std::vector<StaticAction> actions;
  next_restart_ms_ = 0;
  std::set<std::string> present;
  for (const auto& file : files) {
    present.insert(file.path);
    // A refused file changes nothing: its old task, if any, keeps running.
    if (!file.valid) continue;
    const StaticTaskState* latest = nullptr;
    bool active = false;
    for (const auto& task : tasks) {
      if (task.manifest != file.path) continue;
      if (!task.stopped) {
        active = true;
        if (task.digest != file.digest && !task.stop_requested) {
          actions.push_back({StaticAction::Kind::kStop, file.path, task.id,
                             "manifest '" + file.path + "' changed"});
        }
      }
      if (!latest || task.created_at_ms > latest->created_at_ms) latest = &task;
    }
    // One task per file at a time: a replaced task must stop first.
    if (active) continue;
    if (latest && latest->digest == file.digest) {
      // This version ran and stopped: start it again after a back-off.
      Restarts& restarts = restarts_[file.path];
      if (restarts.last_stopped_id != latest->id) {
        restarts.last_stopped_id = latest->id;
        bool ran_long = latest->started_at_ms > 0 &&
                        latest->stopped_at_ms - latest->started_at_ms >= healthy_run_.count();
        restarts.count = ran_long ? 1 : restarts.count + 1;
      }
      int64_t delay = first_backoff_.count();
      for (int i = 1; i < restarts.count && delay < max_backoff_.count(); ++i) delay *= 2;
      delay = std::min<int64_t>(delay, max_backoff_.count());
      int64_t at = latest->stopped_at_ms + delay;
      if (now_ms < at) {
        if (next_restart_ms_ == 0 || at < next_restart_ms_) next_restart_ms_ = at;
        continue;
      }
      actions.push_back({StaticAction::Kind::kRun, file.path, "",
                         "its task stopped; restart " + std::to_string(restarts.count)});
      continue;
    }
    restarts_.erase(file.path);
    actions.push_back({StaticAction::Kind::kRun, file.path, "", latest ? "changed" : "new"});
  }
  for (const auto& task : tasks) {
    if (!task.stopped && !task.stop_requested && !present.contains(task.manifest)) {
      actions.push_back({StaticAction::Kind::kStop, task.manifest, task.id,
                         "manifest '" + task.manifest + "' removed"});
    }
  }
  for (auto it = restarts_.begin(); it != restarts_.end();) {
    it = present.contains(it->first) ? std::next(it) : restarts_.erase(it);
  }
  return actions;
}

StaticTasks::StaticTasks(Engine& engine, std::string dir, std::chrono::seconds check_interval,
                         ValidationPolicy policy, const Clock& clock)
    : engine_(engine),
      clock_(clock),
      dir_(std::move(dir)),
      interval_(check_interval),
      policy_(std::move(policy)) {}

StaticTasks::~StaticTasks() { stop(); }

void StaticTasks::start() {
  // A task that stops may need restarting: look again at once.
  subscription_ = engine_.subscribe([this](const EngineEvent& event) {
    if (!event.container.empty() || event.status != "STOPPED") return;
    std::lock_guard lock(mu_);
    wake_ = true;
    cv_.notify_all();
  });
  thread_ = std::thread([this] { loop(); });
}

void StaticTasks::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  thread_.join();
  engine_.unsubscribe(subscription_);
}

void StaticTasks::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_ = false;
    lock.unlock();
    scan();
    lock.lock();
    auto until = std::chrono::steady_clock::now() + interval_;
    if (int64_t restart = planner_.next_restart_ms(); restart > 0) {
      auto in = std::chrono::milliseconds(std::max<int64_t>(restart - clock_.wall_ms(), 0));
      until = std::min(until, std::chrono::steady_clock::now() + in);
    }
    cv_.wait_until(lock, until, [this] { return stopping_ || wake_; });
  }
}

std::vector<ManifestFile> StaticTasks::read_dir() {
  std::vector<ManifestFile> files;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_, ec);
  if (ec) {
    spdlog::warn("manifest-dir '{}': {}", dir_, ec.message());
    return files;
  }
  for (const auto& entry : it) {
    const auto& path = entry.path();
    // Hidden files are editors' and tools' scratch, as for the kubelet.
    if (path.extension() != ".json" || path.filename().string().starts_with(".")) continue;
    if (!entry.is_regular_file(ec)) continue;
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) continue;  // gone or unreadable since the listing
    ManifestFile file{path.string(), sha256_digest(text.str()), true, text.str()};
    auto parsed = parse_task_definition(file.text, policy_);
    if (!parsed.definition) {
      file.valid = false;
      std::string why = format_problems(parsed.problems);
      if (refused_[file.path] != file.digest) {
        refused_[file.path] = file.digest;
        spdlog::error("static task '{}' refused:\n{}", file.path, why);
      }
    }
    files.push_back(std::move(file));
  }
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.path < b.path; });
  return files;
}

void StaticTasks::scan() {
  auto files = read_dir();
  std::vector<StaticTaskState> tasks;
  for (const auto& view : engine_.list(true)) {
    const TaskRecord& r = view.record;
    // Tasks from a file only: "etcd:" ones are the control plane's.
    if (r.manifest.empty() || r.manifest.starts_with(kControlPlaneSource) ||
        !view.quarantine_reason.empty()) {
      continue;
    }
    tasks.push_back({r.id, r.manifest, r.manifest_digest, r.known == TaskStatus::kStopped,
                     r.desired == TaskStatus::kStopped, r.created_at_ms, r.started_at_ms,
                     r.stopped_at_ms});
  }
  for (const auto& action : planner_.plan(files, tasks, clock_.wall_ms())) {
    if (action.kind == StaticAction::Kind::kStop) {
      spdlog::info("static task '{}': {}, stopping it", action.task_id, action.reason);
      if (auto stopped = engine_.stop_task(action.task_id, "ServiceSchedulerInitiated",
                                           "Stopped by berthd: " + action.reason);
          !stopped) {
        spdlog::warn("static task '{}': {}", action.task_id, stopped.error().message());
      }
      continue;
    }
    auto file = std::find_if(files.begin(), files.end(),
                             [&](const auto& f) { return f.path == action.manifest; });
    std::string name = std::filesystem::path(action.manifest).stem().string();
    RunRequest run;
    run.definition_json = file->text;
    run.name = name;
    run.manifest = action.manifest;
    run.manifest_digest = file->digest;
    auto id = engine_.run_task(run);
    if (!id) {
      if (refused_[action.manifest] != file->digest) {
        refused_[action.manifest] = file->digest;
        spdlog::error("static task '{}': {}", action.manifest, id.error().message());
      }
      continue;
    }
    refused_.erase(action.manifest);
    spdlog::info("static task '{}' from '{}' ({}): task '{}'", name, action.manifest, action.reason,
                 *id);
  }
}

}  // namespace berth::agent
