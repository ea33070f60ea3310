// Follows containerd's task events (exit, OOM) for one namespace, and keeps
// following them across containerd restarts: events are not persisted, so
// after every (re)subscription the watched tasks are reconciled with
// Tasks.Get and an exit that happened while unsubscribed is still delivered.
// Whoever owns the monitor learns of the events, and of the subscription
// being lost and made again, through an EventSink.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/error.h"
#include "runtime/containerd.h"
#include "runtime/containers.h"

namespace berth::runtime {

struct TaskEvent {
  enum class Kind { kExit, kOom };
  Kind kind;
  std::string container_id;
  std::string exec_id;  // empty for the init process
  uint32_t exit_status = 0;
  int64_t exited_at_unix_nanos = 0;
  uint32_t pid = 0;  // the process that exited; 0 when not known
};

// What the monitor reports, from its own thread, one call at a time.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // Every exit and OOM; must not block.
  virtual void on_task_event(const TaskEvent& event) = 0;
  // The subscription broke (connected=false, detail says why) or was made
  // again (connected=true, after the watched tasks were reconciled). The
  // first subscription also reports connected=true; a first attempt that
  // fails reports connected=false. Only changes are reported.
  virtual void on_connection(bool connected, const std::string& detail) = 0;
};

class EventMonitor {
 public:
  EventMonitor(Containerd& containerd, ContainerService& containers);
  ~EventMonitor();
  EventMonitor(const EventMonitor&) = delete;
  EventMonitor& operator=(const EventMonitor&) = delete;

  // Where reports go from now on (nullptr: nowhere). Thread-safe; once it
  // returns, the sink set before is not called again, so it must not be
  // called from within a sink's own callback.
  void set_sink(EventSink* sink);

  void start();
  void stop();

  // Registers interest in a container's exit. Call before starting its task,
  // so that no exit can be missed.
  void watch(const std::string& container_id);
  void unwatch(const std::string& container_id);
  // Waits for a watched container's exit until `deadline`; nullopt on
  // timeout. `oom` is set if the container was OOM-killed.
  std::optional<ExitStatus> wait_exit(const std::string& container_id,
                                      std::chrono::steady_clock::time_point deadline,
                                      bool* oom = nullptr);

  // How many times a subscription was (re)established; for tests and logs.
  int subscriptions() const { return subscriptions_.load(); }
  // Blocks until at least `count` subscriptions were made, or the deadline.
  bool wait_subscriptions(int count, std::chrono::steady_clock::time_point deadline);

 private:
  struct Watch {
    std::optional<ExitStatus> exit;
    bool oom = false;
  };
  // How one subscription ended.
  struct Outcome {
    bool established = false;  // it was proven live (and reconciled)
    std::string detail;        // why it ended
  };
  void run();
  Outcome subscribe_once();
  void pause_before_retry(std::chrono::milliseconds backoff);
  void deliver(const TaskEvent& event);
  void reconcile();
  void report_connection(bool connected, const std::string& detail);

  Containerd& containerd_;
  ContainerService& containers_;
  std::mutex sink_mu_;  // held while the sink is called
  EventSink* sink_ = nullptr;
  std::optional<bool> reported_connected_;  // monitor thread only
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> subscriptions_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Watch> watches_;
  std::unique_ptr<grpc::ClientContext> stream_ctx_;  // guarded by mu_, for cancel
};

}  // namespace berth::runtime
