// The fleet's keys in etcd and the JSON of every value, shared by berthd
// (the node's side) and berthctl (the control side). docs/control-plane.md
// is the reference; keep it in step.
//
//   /berth/<cluster>/members/<node>         MemberRecord: the node joined (kept)
//   /berth/<cluster>/nodes/<node>           NodeRecord, on the node's lease:
//                                           gone when the node stops heartbeating
//   /berth/<cluster>/desired/<node>/<task>  DesiredTask: written by clients
//   /berth/<cluster>/status/<node>/<task>   TaskStatusRecord: written by the node only
//   /berth/<cluster>/cordon/<node>          "drained": no new placements
//   /berth/<cluster>/tokens/<sha256>        JoinToken (the admin's only)
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace berth::controlplane {

// Node, cluster and task names: 1 to 63 of [A-Za-z0-9_.-], not starting
// with '.' (they are key segments). The error names `what`.
Status check_name(std::string_view what, std::string_view name);

class Keys {
 public:
  explicit Keys(std::string cluster) : root_("/berth/" + std::move(cluster) + "/") {}
  std::string members() const { return root_ + "members/"; }
  std::string member(const std::string& node) const { return members() + node; }
  std::string nodes() const { return root_ + "nodes/"; }
  std::string node(const std::string& node) const { return nodes() + node; }
  std::string desired() const { return root_ + "desired/"; }
  std::string desired(const std::string& node) const { return desired() + node + "/"; }
  std::string desired(const std::string& node, const std::string& task) const {
    return desired(node) + task;
  }
  std::string statuses() const { return root_ + "status/"; }
  std::string status(const std::string& node) const { return statuses() + node + "/"; }
  std::string status(const std::string& node, const std::string& task) const {
    return status(node) + task;
  }
  std::string cordons() const { return root_ + "cordon/"; }
  std::string cordon(const std::string& node) const { return cordons() + node; }
  std::string tokens() const { return root_ + "tokens/"; }
  // The last segment of a key under `prefix`.
  static std::string last_segment(const std::string& key);

 private:
  std::string root_;
};

struct Capacity {
  int64_t cpu_units = 0;  // 1024 per CPU
  int64_t memory_mib = 0;
};

struct MemberRecord {
  std::string name;
  int64_t joined_at_ms = 0;
};

struct NodeRecord {
  std::string name;
  std::string version;  // berth's
  std::vector<std::string> addresses;
  std::string cgroup_layout;  // "cgroup v1 (hybrid)", ...
  std::string cgroup_driver;  // "cgroupfs"
  std::vector<std::string> network_modes;
  Capacity allocatable;
  Capacity remaining;
  std::string host_port_range;             // "49153-65535", where hostPort 0 is taken from
  std::vector<int64_t> host_ports_in_use;  // published by the node's tasks
  int64_t host_ports_remaining = 0;        // of the range
  int64_t tasks = 0;                       // not yet STOPPED
  bool shutting_down = false;              // the host shuts down: it takes no tasks
  std::map<std::string, std::string> attributes;
  int64_t started_at_ms = 0;
  int64_t updated_at_ms = 0;  // when the node last wrote it
};

enum class Desired { kRunning, kStopped };
std::string_view desired_name(Desired desired);

struct DesiredTask {
  std::string name;
  Desired desired = Desired::kRunning;
  std::string definition_json;  // the ECS task definition, as written
  int64_t created_at_ms = 0;
};

struct ContainerStatus {
  std::string name;
  std::string status;  // PENDING, PULLED, CREATED, RUNNING, STOPPED
  std::optional<int> exit_code;
  std::string reason;
  std::string health;  // HEALTHY, UNHEALTHY, UNKNOWN
  int64_t started_at_ms = 0;
  int64_t stopped_at_ms = 0;
};

struct TaskStatusRecord {
  std::string name;
  std::string node;
  std::string task_id;           // berthd's id; "" when it was never run
  std::string desired;           // RUNNING, STOPPED
  std::string known;             // PENDING ... STOPPED; "REFUSED" when never run
  std::string health;            // the task's
  std::string error;             // why it was refused or could not be read
  std::string stop_code;         // ECS's stopCode
  std::string stopped_reason;    // ECS's stoppedReason
  int64_t desired_revision = 0;  // of the desired value this status answers
  int64_t created_at_ms = 0;
  int64_t started_at_ms = 0;
  int64_t stopped_at_ms = 0;
  std::vector<ContainerStatus> containers;
};

// A join token's key (controlplane/join.h): the identity it hands over.
struct JoinToken {
  std::string cluster;
  std::string node;      // the node it admits
  std::string user;      // that node's etcd user
  std::string password;  // removed when the token is redeemed
  int64_t expires_at_ms = 0;
  bool used = false;
};

// JSON, and its parse: a parse error names the field and what is wrong.
std::string to_json(const MemberRecord& record);
std::string to_json(const NodeRecord& record);
std::string to_json(const DesiredTask& task);
std::string to_json(const TaskStatusRecord& status);
std::string to_json(const JoinToken& token);
Result<MemberRecord> parse_member(std::string_view json);
Result<NodeRecord> parse_node(std::string_view json);
Result<DesiredTask> parse_desired(std::string_view json);
Result<TaskStatusRecord> parse_status(std::string_view json);
Result<JoinToken> parse_token(std::string_view json);

}  // namespace berth::controlplane
