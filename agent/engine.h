// The task engine: the one owner of all task state.
//
// One owner thread holds every TaskRecord and runs the reconciler
// (agent/task_state.h decides, this carries out). It never blocks: pulls and
// containerd calls run on a small worker pool and come back to the owner as
// events, as do containerd's exit and OOM events and health check results.
// Every record is checkpointed (agent/task_store.h) before a step that
// touches the host, so a berthd killed at any moment finishes or rolls back
// that step at its next start, and adopts the containers still running.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/resources.h"
#include "agent/task_network.h"
#include "agent/task_state.h"
#include "agent/task_store.h"
#include "agent/taskdef/taskdef.h"
#include "cgroups/manager.h"
#include "runtime/containers.h"
#include "runtime/events.h"
#include "runtime/images.h"
#include "runtime/sandbox.h"

namespace berth::runtime {
class ExecService;
}

namespace berth::agent {

struct EngineConfig {
  std::string root;   // checkpoints under <root>/tasks, task volumes under <root>/volumes
  std::string state;  // per-container /etc/hosts and resolv.conf under <state>/tasks
  // A static init for initProcessEnabled (Debian's tini-static).
  std::string init_path = "/usr/bin/tini-static";
  // berth-pause, the process of a task's sandbox; empty: beside berthd.
  std::string pause_path;
  ValidationPolicy policy;
  size_t workers = 4;
  // How long a stopped task keeps its record and logs (ECS: 3 hours).
  std::chrono::seconds task_retention{3 * 3600};
  // Image GC: every interval (0: never), images no task names and no
  // container uses, unused for at least min_age, are removed.
  std::chrono::seconds image_gc_interval{3 * 3600};
  std::chrono::seconds image_gc_min_age{3600};
  // Task networking: the node's CNI settings, its own bridge network, host
  // ports and ENIs. root_dir and state_dir default to root and state.
  NetworkConfig network;
  // The node's resolv.conf, the source of a container's DNS settings.
  std::string resolv_conf_path = "/etc/resolv.conf";
  // Task cgroups (required): each task's berth/<task-id> holds its
  // containers' cgroups. cgroup_layout names the host's layout.
  std::shared_ptr<cgroups::CgroupManager> cgroups;
  std::string cgroup_layout;
  uint64_t task_pids_limit = 0;  // pids.max of a task cgroup; 0: none
  // What tasks may take: a task that does not fit what the others leave is
  // refused (RESOURCE:CPU, RESOURCE:MEMORY).
  NodeResources node;
};

// The node's capacity as `berthctl node info` shows it.
struct NodeView {
  NodeResources node;
  Resources used;  // by the tasks not yet STOPPED
  size_t tasks = 0;
  std::string cgroup_layout;
  std::string cgroup_driver;
};

// Where a static task came from (empty for a task run through the API).
struct TaskSource {
  std::string manifest;  // the file's path
  std::string digest;    // of the file's content
};

// What `describe` and `ps` show: a copy of the record and derived facts.
struct TaskView {
  TaskRecord record;
  Health health = Health::kUnknown;
  std::vector<bool> essential;  // per container, from the definition
};

// A state change, for `berthctl events` and tests.
struct EngineEvent {
  int64_t at_ms = 0;
  std::string task_id;
  std::string container;  // empty for the task itself
  std::string status;     // "RUNNING", "STOPPED", "HEALTHY", ...
  std::string detail;     // exit code, reason
};

class Engine {
 public:
  Engine(EngineConfig config, TaskStore store, runtime::ImageService& images,
         runtime::ContainerService& containers, runtime::EventMonitor& events,
         runtime::ExecService* exec);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Loads the checkpoints, adopts running containers, finishes or rolls back
  // interrupted steps, removes berth containers no task owns, and starts the
  // owner and worker threads.
  berth::Status start();
  // Stops the threads. Tasks and their containers keep running.
  void stop();

  // Validates and admits a task; returns its id. Nothing is created for a
  // definition with problems (the error lists them all).
  // `source` marks a static task: its manifest file and that file's digest.
  Result<std::string> run_task(const std::string& definition_json, const std::string& name,
                               const TaskSource& source = {});
  Result<TaskView> describe(const std::string& id_or_name);
  std::vector<TaskView> list(bool include_stopped);
  // ECS stop codes: UserInitiated (berthctl stop), ServiceSchedulerInitiated
  // (berthd's own decision, e.g. a static task's manifest changed).
  berth::Status stop_task(const std::string& id_or_name,
                          const std::string& stop_code = "UserInitiated",
                          const std::string& reason = "Task stopped by the user");
  // Removes a stopped task's record and its containers' log files.
  berth::Status remove_task(const std::string& id_or_name);

  NodeView node();

  // For containerd's event stream (any thread; does not block).
  void on_container_event(const runtime::TaskEvent& event);

  // Subscribes to state changes; the callback runs on the owner thread and
  // must not block. Returns an id for unsubscribe.
  int subscribe(std::function<void(const EngineEvent&)> callback);
  void unsubscribe(int id);

 private:
  struct TaskRuntime {
    TaskRecord record;
    TaskDefinition definition;
    std::vector<bool> busy;               // an action in flight per container
    std::vector<int64_t> next_health_ms;  // next health check per container
    std::vector<bool> health_busy;
    bool sandbox_busy = false;  // a sandbox action in flight
    bool network_busy = false;  // a task network action in flight
    bool cgroup_busy = false;   // the task cgroup's removal in flight
    std::string last_saved;     // the JSON last checkpointed
  };

  // Runs `fn` on the owner thread and waits for its result.
  template <typename Fn>
  auto call(Fn fn) -> decltype(fn());
  void post(std::function<void()> fn);
  void owner_loop();
  void worker_loop();
  void submit(std::function<void()> job);

  TaskRuntime* find(const std::string& id_or_name);
  static TaskView view(const TaskRuntime& task);
  void reconcile(TaskRuntime& task);
  void reconcile_all();
  void checkpoint(TaskRuntime& task);
  void dispatch(TaskRuntime& task, const Action& action);
  void dispatch_sandbox(TaskRuntime& task, const Action& action);
  void dispatch_network(TaskRuntime& task, const Action& action);
  void dispatch_cgroup(TaskRuntime& task);
  // What the tasks not yet STOPPED take from the node (owner thread).
  Resources used_resources() const;
  void schedule_health(TaskRuntime& task, int64_t now_ms);
  void expire_stopped(int64_t now_ms);
  void emit(const TaskRuntime& task, const std::string& container, std::string status,
            std::string detail);
  void handle_exit(const std::string& containerd_id, int exit_code, bool oom, uint32_t pid);

  // Worker-side steps: blocking calls, no access to task state.
  Result<std::string> pull_image(const std::string& reference);
  // What a container's start needs of its task besides the definition.
  struct StartContext {
    std::string task_id;
    std::string network_mode;
    std::optional<SandboxRecord> sandbox;
    std::optional<NetworkRecord> task_network;               // awsvpc
    std::map<std::string, std::string> container_addresses;  // bridge: for links
  };
  struct Started {
    uint32_t pid = 0;
    std::optional<NetworkRecord> network;  // bridge: the container's own
  };
  Result<Started> create_and_start(const StartContext& context, const TaskDefinition& definition,
                                   size_t index, const std::string& containerd_id,
                                   const std::string& image, bool after_interrupted_create);
  // The container definition's settings as the runtime takes them; writes
  // the task's volume directories and the container's /etc files.
  Result<runtime::ContainerSettings> container_settings(const StartContext& context,
                                                        const TaskDefinition& definition,
                                                        size_t index);
  // Writes the container's /etc/hosts and /etc/resolv.conf and says where
  // they are mounted; returns the hostname it gets.
  Result<std::string> network_files(const StartContext& context, const ContainerDefinition& spec,
                                    const std::optional<NetworkRecord>& network,
                                    runtime::ContainerSettings& settings);
  // Tears down a bridge container's network, logging a failure ("ignoring"
  // since the next start clears what is left).
  void teardown_container_network(const std::string& containerd_id);
  void adopt(TaskRuntime& task);
  // Counts the task's images in (+1) or out (-1) of use (owner thread).
  void note_images(const TaskRecord& record, int delta);
  // Image GC, on a worker.
  void collect_images();
  void adopt_sandbox(TaskRuntime& task);
  void adopt_network(TaskRuntime& task);
  // The ENI an awsvpc task is given: named by its tags, or free in the pool.
  Result<std::optional<EniSpec>> choose_eni(const TaskDefinition& definition);
  void handle_sandbox_exit(TaskRuntime& task, int exit_code);

  EngineConfig config_;
  TaskStore store_;
  runtime::ImageService& images_;
  runtime::ContainerService& containers_;
  runtime::EventMonitor& events_;
  runtime::ExecService* exec_;
  runtime::SandboxService sandboxes_;
  NetworkManager network_;

  // Owner thread state (touched only there, after start()).
  std::map<std::string, std::unique_ptr<TaskRuntime>> tasks_;
  std::map<std::string, std::pair<std::string, size_t>> by_containerd_id_;
  std::map<std::string, std::string> sandbox_owner_;  // sandbox containerd id -> task id
  std::map<int, std::function<void(const EngineEvent&)>> subscribers_;
  int next_subscriber_ = 1;
  int64_t wake_at_ms_ = 0;
  // Exits (pid, code) seen while a container's start was in flight.
  std::map<std::string, std::pair<uint32_t, int>> early_exits_;
  // Containers whose Create a berthd crash cut off (rolled back by adopt):
  // their next Create waits for containerd to settle.
  std::set<std::string> interrupted_creates_;
  // Containers whose removal failed, and when to try again.
  std::map<std::string, int64_t> retry_at_ms_;

  // Image GC. Pulls and creates hold image_gc_mu_ shared; the GC holds it
  // alone while it checks and removes, so it never removes an image that a
  // task admitted meanwhile is about to use.
  struct ImageUse {
    int tasks = 0;            // task records naming the image
    int64_t released_ms = 0;  // when the last one went
  };
  std::shared_mutex image_gc_mu_;
  std::mutex image_use_mu_;                       // guards image_use_
  std::map<std::string, ImageUse> image_use_;     // by containerd image name
  std::map<std::string, int64_t> image_seen_ms_;  // GC only: first seen
  std::atomic<bool> image_gc_running_{false};
  int64_t next_image_gc_ms_ = 0;  // owner thread

  std::mutex pulls_mu_;  // guards pulls_
  std::map<std::string, std::shared_ptr<std::mutex>> pulls_;

  std::mutex mu_;  // guards the queues and stopping_
  std::condition_variable owner_cv_;
  std::condition_variable worker_cv_;
  std::deque<std::function<void()>> owner_queue_;
  std::deque<std::function<void()>> worker_queue_;
  bool stopping_ = false;
  std::thread owner_;
  std::vector<std::thread> workers_;
};

// Milliseconds since the Unix epoch.
int64_t now_unix_ms();

}  // namespace berth::agent
