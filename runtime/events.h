// Follows containerd's task events (exit, OOM) for one namespace, and keeps
// following them across containerd restarts: events are not persisted, so
// after every (re)subscription the watched tasks are reconciled with
// Tasks.Get and an exit that happened while unsubscribed is still delivered.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
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

class EventMonitor {
 public:
  // `on_event` (may be empty) sees every exit and OOM, from the monitor's
  // thread; it must not block.
  EventMonitor(Containerd& containerd, ContainerService& containers,
               std::function<void(const TaskEvent&)> on_event = {});
  ~EventMonitor();
  EventMonitor(const EventMonitor&) = delete;
  EventMonitor& operator=(const EventMonitor&) = delete;

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
  void run();
  void deliver(const TaskEvent& event);
  void reconcile();

  Containerd& containerd_;
  ContainerService& containers_;
  std::function<void(const TaskEvent&)> on_event_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> subscriptions_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Watch> watches_;
  std::unique_ptr<grpc::ClientContext> stream_ctx_;  // guarded by mu_, for cancel
};

}  // namespace berth::runtime
