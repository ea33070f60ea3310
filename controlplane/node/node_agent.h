// The node's side of the fleet: berthd registers with etcd, takes its
// desired tasks from it and writes their status back.
//
// Three threads, none of which the engine waits for:
//  - the session registers the node (its member key, and its node record
//    on a lease with a 10 s TTL), keeps the lease alive every 3 s, and
//    registers again when the lease was lost;
//  - the watcher lists the node's desired prefix, then watches it from the
//    revision after; a broken stream is resumed from the last revision
//    seen, and a compacted one lists again;
//  - the reconciler runs and stops engine tasks to match (plan.h), and
//    writes every task's status that changed: a burst of three writes per
//    task at once, then at most one per 200 ms (write_budget.h).
// While etcd is away the engine goes on: tasks keep running and their
// states are written once etcd answers again.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/engine/engine.h"
#include "common/clock.h"
#include "controlplane/etcd/client.h"
#include "controlplane/node/plan.h"
#include "controlplane/node/write_budget.h"
#include "controlplane/records.h"

namespace berth::controlplane {

struct NodeAgentConfig {
  std::string cluster = "default";
  std::string node;
  std::string version;
  std::map<std::string, std::string> attributes;
  std::string host_port_range;     // "LOW-HIGH", as the record shows it
  uint32_t host_port_min = 49153;  // the same range, as the network config parsed it
  uint32_t host_port_max = 65535;
  agent::ValidationPolicy policy;                // the engine's, to read desired definitions
  std::vector<std::string> excluded_interfaces;  // not listed as the node's addresses
  std::chrono::seconds lease_ttl{10};
  std::chrono::milliseconds keepalive_interval{3000};
  // Each task's status key: a burst of writes, then one per interval.
  size_t status_burst = 3;
  std::chrono::milliseconds status_interval{200};
  std::chrono::milliseconds max_backoff{1000};
};

class NodeAgent {
 public:
  NodeAgent(agent::Engine& engine, std::unique_ptr<etcd::Client> client, NodeAgentConfig config,
            const Clock& clock);
  ~NodeAgent();
  NodeAgent(const NodeAgent&) = delete;
  NodeAgent& operator=(const NodeAgent&) = delete;

  void start();
  // Stops the threads and revokes the lease (the node turns NOTREADY at
  // once); tasks keep running.
  void stop();
  // The node's own state changed (it shuts down): its record is written now,
  // not at the next keep-alive.
  void node_changed();

  // For /metrics and introspection.
  struct Health {
    bool registered = false;      // a session's lease is alive
    uint64_t sessions = 0;        // registrations since start
    bool desired_listed = false;  // the desired tasks were read
    std::string endpoint;         // the etcd member it talks to
  };
  Health health();

 private:
  void session_loop();
  Status register_node();
  NodeRecord node_record();
  void watch_loop();
  // A desired key's value, read and checked (a refusal is logged).
  DesiredEntry read_entry(const etcd::KeyValue& kv) const;
  Status list_desired();
  void apply_events(int64_t revision, const std::vector<etcd::WatchEvent>& events);
  void reconcile_loop();
  void reconcile();
  Status list_statuses();
  Status write_statuses(const std::map<std::string, TaskStatusRecord>& statuses);
  // Waits up to `delay` or until stop(); false once stopping.
  bool pause(std::chrono::milliseconds delay);
  // pause() that node_changed() also ends.
  bool pause_session(std::chrono::milliseconds delay);
  void mark_dirty();
  // Logs an error once per distinct message (a retry loop's failure).
  void log_failure(const std::string& what, const Error& error);

  agent::Engine& engine_;
  std::unique_ptr<etcd::Client> client_;
  NodeAgentConfig config_;
  Keys keys_;
  const Clock& clock_;
  int64_t started_at_ms_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool dirty_ = true;
  bool node_changed_ = false;  // the session loop writes the record now
  // The session's lease (0: not registered) and how often the node
  // registered: a new session rewrites every status.
  int64_t lease_ = 0;
  uint64_t sessions_ = 0;
  // The desired prefix as last read, and the revision it was read at.
  std::map<std::string, DesiredEntry> desired_;
  int64_t desired_revision_ = 0;
  bool desired_listed_ = false;
  std::map<std::string, std::string> failures_;  // what -> last message logged

  // The reconciler's own state.
  std::map<std::string, Refusal> refused_;
  std::map<std::string, std::string> written_;  // status key -> value in etcd
  bool status_listed_ = false;                  // written_ was read from etcd
  uint64_t written_session_ = 0;
  std::string last_record_;
  WriteBudget budget_;
  // When a status write that the budget held back may go.
  std::chrono::steady_clock::time_point deferred_until_ =
      std::chrono::steady_clock::time_point::max();

  etcd::WatchCanceller watch_canceller_;
  int subscription_ = 0;
  std::thread session_;
  std::thread watcher_;
  std::thread reconciler_;
};

}  // namespace berth::controlplane
