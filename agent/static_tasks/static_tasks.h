// Static tasks: every task definition file in a manifest directory runs and
// is kept running, like the kubelet's static pods.
//
// The directory is read every check interval (and when a task stops). A
// file's task is named after the file ("web.json" runs task "web") and
// records the file and the digest of its content, so that a restarted
// berthd recognises the tasks it already runs. A changed file replaces its
// task (the old one is stopped first); a removed file stops its task; a task
// that stops while its file is unchanged (an essential container exited, or
// `berthctl stop`) is started again after a back-off that doubles from 10 s
// to 5 min, and resets once a task ran for 10 minutes. A file that is not a
// valid task definition is logged once per content and changes nothing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/engine/engine.h"
#include "common/clock.h"

namespace berth::agent {

// One *.json file of the directory.
struct ManifestFile {
  std::string path;
  std::string digest;  // of the content
  bool valid = true;   // a task definition berth accepts
  std::string text;    // the content, as read
};

// What the planner needs to know of a task run from a manifest.
struct StaticTaskState {
  std::string id;
  std::string manifest;
  std::string digest;
  bool stopped = false;         // known STOPPED
  bool stop_requested = false;  // desired STOPPED
  int64_t created_at_ms = 0;
  int64_t started_at_ms = 0;
  int64_t stopped_at_ms = 0;
};

struct StaticAction {
  enum class Kind { kRun, kStop };
  Kind kind = Kind::kRun;
  std::string manifest;
  std::string task_id;  // kStop
  std::string reason;
};

// The decisions, without I/O: what to run and stop, and when to look again.
class StaticTaskPlanner {
 public:
  explicit StaticTaskPlanner(std::chrono::milliseconds first_backoff = std::chrono::seconds(10),
                             std::chrono::milliseconds max_backoff = std::chrono::minutes(5),
                             std::chrono::milliseconds healthy_run = std::chrono::minutes(10));
  std::vector<StaticAction> plan(const std::vector<ManifestFile>& files,
                                 const std::vector<StaticTaskState>& tasks, int64_t now_ms);
  // The earliest time a back-off ends (0: none pending).
  int64_t next_restart_ms() const { return next_restart_ms_; }

 private:
  struct Restarts {
    std::string last_stopped_id;  // the stop already counted
    int count = 0;
  };
  std::chrono::milliseconds first_backoff_, max_backoff_, healthy_run_;
  std::map<std::string, Restarts> restarts_;  // per manifest
  int64_t next_restart_ms_ = 0;
};

class StaticTasks {
 public:
  StaticTasks(Engine& engine, std::string dir, std::chrono::seconds check_interval,
              ValidationPolicy policy, const Clock& clock);
  ~StaticTasks();
  StaticTasks(const StaticTasks&) = delete;
  StaticTasks& operator=(const StaticTasks&) = delete;

  void start();
  void stop();

 private:
  void loop();
  void scan();
  std::vector<ManifestFile> read_dir();

  Engine& engine_;
  const Clock& clock_;
  std::string dir_;
  std::chrono::seconds interval_;
  ValidationPolicy policy_;
  StaticTaskPlanner planner_;
  // Files whose current content was refused, and why (logged once).
  std::map<std::string, std::string> refused_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool wake_ = false;
  int subscription_ = 0;
  std::thread thread_;
};

}  // namespace berth::agent
