// The task engine: the one owner of all task state.
//
// One owner thread holds every task's record and runs the reconciler: it
// folds events into records (apply.h), asks the planner what comes next
// (planner.h), and hands the steps to the resources (resources/) on two
// worker pools; results come back to it as events. It never blocks: no
// disk I/O and no containerd call happens on it.
//
// Write-ahead, enforced: a step runs only once the record it was planned
// from (with the step's own mark, a resource CREATING) is durable in the
// task's checkpoint (state/store.h). A write that fails holds the task's
// steps back, is retried until it succeeds, and is shown by `describe`; a
// berthd killed at any moment finds every step it may have begun marked,
// and its resources' recover() adopts, finishes or rolls each back.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/engine/admission.h"
#include "agent/engine/image_gc.h"
#include "agent/engine/resources/container.h"
#include "agent/engine/resources/resource.h"
#include "agent/engine/spec.h"
#include "agent/engine/step.h"
#include "agent/engine/worker_pool.h"
#include "agent/metrics/agent_metrics.h"
#include "agent/network/eni.h"
#include "agent/state/paths.h"
#include "agent/state/record.h"
#include "agent/state/store.h"
#include "cgroups/manager.h"
#include "common/clock.h"
#include "common/failpoint.h"
#include "runtime/containerd.h"
#include "runtime/events.h"
#include "runtime/exec_process.h"

namespace berth::agent {

struct EngineConfig {
  Paths paths{"/var/lib/berth", "/run/berth"};
  ValidationPolicy policy;
  size_t control_workers = 4;  // create, start, signal, teardown, network, cgroup
  size_t slow_workers = 4;     // pulls, health checks, image GC
  // How long a stopped task keeps its record and logs (ECS: 3 hours).
  std::chrono::seconds task_retention{3 * 3600};
  // Image GC every interval (0: never).
  std::chrono::seconds image_gc_interval{3 * 3600};
  // What tasks may take: a task that does not fit what the others leave is
  // refused (RESOURCE:CPU, RESOURCE:MEMORY).
  NodeResources node;
  std::string cgroup_layout;
  // Host interfaces awsvpc tasks take, one each, when they name none.
  std::vector<EniSpec> eni_pool;
  // While containerd is away, a step waits for it this long before it
  // counts as failed.
  std::chrono::seconds containerd_patience{300};
  // How long an API call waits for its change to be durable.
  std::chrono::milliseconds durable_wait{3000};
};

// What the engine drives, wired by main (tests may give stand-ins).
struct EngineParts {
  std::map<ResourceKind, TaskResource*> resources;  // one per kind
  ContainerResource* containers = nullptr;          // also signals
  CheckpointStore* store = nullptr;
  ImageGc* image_gc = nullptr;
  cgroups::CgroupManager* cgroups = nullptr;  // OOM counts, the driver's name
  runtime::Containerd* containerd = nullptr;  // asked whether it is there
  runtime::ExecService* exec = nullptr;       // health checks; null: none
  const Clock* clock = nullptr;
  metrics::AgentMetrics* metrics = nullptr;  // task start and health check figures; null: none
  // Test seams on the owner thread (engine.remove_task: a removal stalls
  // the owner loop, as a hung engine would); null: none.
  const Failpoints* failpoints = nullptr;
};

// The node's capacity as `berthctl node info` shows it.
struct NodeView {
  NodeResources node;
  Resources used;  // by the tasks not yet STOPPED
  size_t tasks = 0;
  std::string cgroup_layout;
  std::string cgroup_driver;
  NetworkMode default_network_mode = NetworkMode::kBridge;
  bool shutting_down = false;  // the node shuts down: no new tasks
};

// What `describe` and `ps` show.
struct TaskView {
  TaskRecord record;
  // The parsed definition (null for a quarantined task).
  std::shared_ptr<const TaskSpec> spec;
  Health health = Health::kUnknown;
  std::vector<bool> essential;  // per container, from the definition
  // A quarantined task: its checkpoint could not be read (the record then
  // holds only its id); its containers are left as they are.
  std::string quarantine_reason;
  std::string quarantine_file;
  // The task's last checkpoint write failed (and is retried): why.
  std::string checkpoint_error;
};

// A task to run.
struct RunRequest {
  std::string definition_json;
  std::string name;
  // A static task: its manifest file and that file's digest.
  std::string manifest;
  std::string manifest_digest;
  // `berthctl run IMAGE` in the foreground (see TaskRecord): its caller
  // follows it from the start, and calls detach() when it stops following.
  bool foreground = false;
  bool remove_on_exit = false;
};

// A state change, for `berthctl events` and tests.
struct EngineEvent {
  int64_t at_ms = 0;
  std::string task_id;
  std::string container;  // empty for the task itself
  std::string status;     // "RUNNING", "STOPPED", "HEALTHY", "REMOVED", ...
  std::string detail;     // exit code, reason
};

class Engine final : public runtime::EventSink {
 public:
  Engine(EngineConfig config, EngineParts parts);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Loads the checkpoints (quarantining those it cannot read), lets every
  // resource recover, and starts the threads.
  Status start();
  // Stops the threads. Tasks and their containers keep running.
  void stop();
  // How many tasks run, if the owner loop answers within `timeout`;
  // nullopt when it does not (the watchdog's test of a hung engine).
  std::optional<size_t> running_tasks(std::chrono::milliseconds timeout);

  // Validates and admits a task, and returns its id once its record is
  // durable. Nothing is created for a definition with problems (the error
  // lists them all) or one the node cannot hold, or when the record cannot
  // be written.
  Result<std::string> run_task(const RunRequest& request);
  Result<TaskView> describe(const std::string& id_or_name);
  std::vector<TaskView> list(bool include_stopped);
  // Asks a task to stop; returns once the request is durable (kUnavailable,
  // saying why, when it is not yet: it is still carried out once the
  // checkpoint can be written). ECS stop codes: UserInitiated (berthctl
  // stop), ServiceSchedulerInitiated (berthd's own decision).
  Status stop_task(const std::string& id_or_name, const std::string& stop_code = "UserInitiated",
                   const std::string& reason = "Task stopped by the user");
  // Removes a stopped (or quarantined) task: its record, logs and volumes.
  Status remove_task(const std::string& id_or_name);
  NodeView node();

  // The node shuts down (systemd/shutdown_inhibitor.h): new tasks are
  // refused, and every task not yet stopped is asked to stop with ECS's
  // stop code TerminationNotice. Returns how many were asked.
  size_t begin_shutdown(const std::string& reason);
  // The shutdown was called off: tasks are taken again.
  void end_shutdown();

  // A client follows a foreground task's output; a task that goes once it
  // stopped (remove_on_exit) waits until no client follows it.
  Status attach(const std::string& task_id);
  void detach(const std::string& task_id);

  // Tells subscribers (berthctl events) of something beside a task's own
  // lifecycle: an exec session opened, refused or ended.
  void announce(const std::string& task_id, const std::string& container, std::string status,
                std::string detail);

  // Subscribes to state changes; the callback runs on the owner thread and
  // must not block. Returns an id for unsubscribe.
  int subscribe(std::function<void(const EngineEvent&)> callback);
  void unsubscribe(int id);

  // runtime::EventSink, from the event monitor's thread.
  void on_task_event(const runtime::TaskEvent& event) override;
  void on_connection(bool connected, const std::string& detail) override;

 private:
  struct Retry {
    std::chrono::steady_clock::time_point at;
    std::chrono::steady_clock::time_point first_failure;
  };
  struct HealthSchedule {
    std::chrono::steady_clock::time_point next{};
    bool busy = false;
  };
  struct Pending {
    Action action;
    uint64_t seq = 0;                               // dispatched once this sequence is durable
    std::chrono::steady_clock::time_point planned;  // for the step's "queued" time
  };
  struct TaskRuntime {
    TaskRecord record;
    std::shared_ptr<const TaskSpec> spec;
    InFlight in_flight;  // steps dispatched or waiting to be
    std::map<ResourceKey, Retry> retries;
    std::vector<Pending> pending;
    std::vector<HealthSchedule> health;
    uint64_t seq = 0;          // of the last change
    uint64_t saved_seq = 0;    // handed to the store
    uint64_t durable_seq = 0;  // written
    std::string write_error;   // the last write failed: why
    std::multimap<uint64_t, std::promise<Status>> durable_waiters;
    int attached = 0;
    bool removing = false;
    uint64_t remove_seq = 0;      // the checkpoint's removal
    bool remove_durable = false;  // ... is written: gone once no step is in flight
    std::vector<std::promise<Status>> removed_waiters;
    bool dirty = true;  // to reconcile
    std::chrono::steady_clock::time_point wake = std::chrono::steady_clock::time_point::max();
  };
  enum class Pool { kControl, kSlow };

  // engine.cpp: threads, events, checkpoints.
  // Runs `fn` on the owner thread and waits for its result.
  template <typename Fn>
  auto call(Fn fn) -> decltype(fn()) {
    std::promise<decltype(fn())> promise;
    auto future = promise.get_future();
    post([&] { promise.set_value(fn()); });
    return future.get();
  }
  void post(std::function<void()> fn);
  void owner_loop();
  void changed(TaskRuntime& task, std::vector<Change> changes);
  void emit(const std::string& task_id, const std::string& container, std::string status,
            std::string detail);
  void flush_checkpoints();
  void on_written(const WriteOutcome& outcome);
  std::future<Status> when_durable(TaskRuntime& task);
  void handle_exit(const std::string& containerd_id, int exit_code, uint32_t pid, bool oom);
  TaskRuntime* find(const std::string& id_or_name);
  TaskRuntime* owner_of(const std::string& containerd_id, size_t* index);
  static TaskView view(const TaskRuntime& task);
  void index(TaskRuntime& task);
  void unindex(const TaskRuntime& task);

  // dispatch.cpp: the reconciler and the steps.
  void reconcile_all();
  bool reconcile(TaskRuntime& task, std::vector<std::pair<TaskRuntime*, Action>>& wanted);
  void dispatch(TaskRuntime& task, const Pending& pending);
  void start_ready_steps(TaskRuntime& task);
  StepInput step_input(const TaskRuntime& task, const ResourceKey& key) const;
  // A set-up step's figures for berth_task_start_step_duration_seconds:
  // its wait from being planned to running (the checkpoint and a worker),
  // its run, and its own phases.
  void observe_set_up(const Action& action, const StepOutput& output,
                      std::chrono::steady_clock::duration queued,
                      std::chrono::steady_clock::duration ran);
  void step_done(const std::string& task_id, const Action& action, Result<StepOutput> result,
                 bool containerd_away);
  static Pool pool_for(const Action& action);
  static bool needs_containerd(const Action& action);
  bool containerd_away();

  // health.cpp
  void schedule_health(TaskRuntime& task);

  // recovery.cpp
  Status recover();
  std::vector<OwnedResource> owned(ResourceKind kind) const;
  void sweep_task_files(const RecoveryScope& scope);

  // engine_api.cpp
  Resources used_resources() const;
  void expire_stopped();
  // Removes a stopped task: its files on a worker, then its checkpoint.
  void remove_now(TaskRuntime& task, std::optional<std::promise<Status>> done);
  // Removes a task whose checkpoint's removal is durable once no step of it
  // runs (a pull it started ends first, so that nothing it made outlives it).
  void finish_removal(TaskRuntime& task);
  void removed(TaskRuntime& task);
  // A task whose first checkpoint could not be written: never run.
  void abandon(const std::string& task_id);
  std::future<Status> remove_quarantined(const QuarantinedTask& task);

  EngineConfig config_;
  EngineParts parts_;
  WorkerPool control_;
  WorkerPool slow_;

  // Owner thread state.
  std::map<std::string, std::unique_ptr<TaskRuntime>> tasks_;
  std::map<std::string, QuarantinedTask> quarantined_;
  std::map<std::string, std::pair<std::string, size_t>> by_containerd_id_;
  std::map<std::string, std::string> sandbox_owner_;  // sandbox containerd id -> task id
  // Exits (pid, code, oom) that came while their container's start was in
  // flight: they count only if the start's pid is theirs.
  struct EarlyExit {
    uint32_t pid = 0;
    int code = 0;
    bool oom = false;
  };
  std::map<std::string, EarlyExit> early_exits_;
  // Containers whose own cgroup counted an OOM kill when the OOM event came
  // (the systemd driver's scope may be gone by the time the exit is read),
  // with the pid that ran then: only that pid's exit is an OOM kill, not a
  // restarted instance's under the same containerd id.
  std::map<std::string, uint32_t> oom_killed_;
  std::map<int, std::function<void(const EngineEvent&)>> subscribers_;
  int next_subscriber_ = 1;
  size_t control_busy_ = 0;  // steps dispatched or waiting to be, per pool
  size_t slow_busy_ = 0;
  std::set<std::string> waiting_for_slot_;  // tasks with steps no pool had room for
  bool containerd_up_ = true;
  std::chrono::steady_clock::time_point containerd_lost_at_{};
  std::chrono::steady_clock::time_point wake_{std::chrono::steady_clock::time_point::max()};
  std::chrono::steady_clock::time_point next_image_gc_{};
  bool image_gc_running_ = false;
  bool reconcile_everything_ = true;
  bool shutting_down_ = false;

  std::mutex mu_;  // guards the queue and stopping_
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread owner_;
};

// A new task id: 12 lower-case hex digits.
std::string new_task_id();

}  // namespace berth::agent
