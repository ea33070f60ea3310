#include "ctl/cluster.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "agent/engine/admission.h"
#include "agent/taskdef/taskdef.h"
#include "controlplane/etcd/client.h"
#include "controlplane/join.h"
#include "controlplane/placement.h"
#include "controlplane/records.h"
#include "ctl/tasks.h"

namespace berthctl {

namespace {

using berth::ErrorCode;
using berth::Result;
using berth::Status;
namespace cp = berth::controlplane;
namespace etcd = berth::etcd;

constexpr int kFailed = 1;

std::string env_or(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : std::move(fallback);
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Definitions are checked here as a node with the loosest policy would:
// what a node's own policy refuses shows in the task's status.
berth::agent::ValidationPolicy loose_policy() {
  berth::agent::ValidationPolicy policy;
  policy.allow_privileged = true;
  policy.allowed_host_paths = {"/"};
  policy.journal_available = true;
  return policy;
}

cp::Capacity demand_of(const std::string& definition_json) {
  auto parsed = berth::agent::parse_task_definition(definition_json, loose_policy());
  if (!parsed.definition) return {};
  auto demand = berth::agent::task_demand(*parsed.definition);
  return {static_cast<int64_t>(demand.cpu_units), static_cast<int64_t>(demand.memory_bytes >> 20)};
}

// The fleet at one revision, read in one transaction.
struct Fleet {
  int64_t revision = 0;
  std::map<std::string, cp::MemberRecord> members;
  std::map<std::string, cp::NodeRecord> nodes;  // READY ones
  std::set<std::string> cordoned;
  // node -> task -> the desired key's value and revisions
  std::map<std::string, std::map<std::string, etcd::KeyValue>> desired;
  std::map<std::string, std::map<std::string, cp::TaskStatusRecord>> statuses;
};

// "<node>/<task>" under a prefix.
std::pair<std::string, std::string> node_and_task(const std::string& key,
                                                  const std::string& prefix) {
  std::string rest = key.substr(prefix.size());
  auto slash = rest.find('/');
  if (slash == std::string::npos) return {rest, ""};
  return {rest.substr(0, slash), rest.substr(slash + 1)};
}

Result<Fleet> read_fleet(etcd::Client& client, const cp::Keys& keys) {
  using Op = etcd::Operation;
  auto read = BERTH_TRY(client.txn({}, {{Op::Kind::kGet, keys.members(), "", 0, true},
                                        {Op::Kind::kGet, keys.nodes(), "", 0, true},
                                        {Op::Kind::kGet, keys.cordons(), "", 0, true},
                                        {Op::Kind::kGet, keys.desired(), "", 0, true},
                                        {Op::Kind::kGet, keys.statuses(), "", 0, true}}));
  Fleet fleet;
  fleet.revision = read.revision;
  for (const auto& kv : read.gets.at(0).kvs) {
    if (auto m = cp::parse_member(kv.value)) fleet.members[cp::Keys::last_segment(kv.key)] = *m;
  }
  for (const auto& kv : read.gets.at(1).kvs) {
    if (auto n = cp::parse_node(kv.value)) fleet.nodes[cp::Keys::last_segment(kv.key)] = *n;
  }
  for (const auto& kv : read.gets.at(2).kvs) {
    fleet.cordoned.insert(cp::Keys::last_segment(kv.key));
  }
  for (const auto& kv : read.gets.at(3).kvs) {
    auto [node, task] = node_and_task(kv.key, keys.desired());
    if (!task.empty()) fleet.desired[node][task] = kv;
  }
  for (const auto& kv : read.gets.at(4).kvs) {
    auto [node, task] = node_and_task(kv.key, keys.statuses());
    if (auto s = cp::parse_status(kv.value); s && !task.empty()) fleet.statuses[node][task] = *s;
  }
  return fleet;
}

const cp::TaskStatusRecord* status_of(const Fleet& fleet, const std::string& node,
                                      const std::string& task) {
  auto n = fleet.statuses.find(node);
  if (n == fleet.statuses.end()) return nullptr;
  auto t = n->second.find(task);
  return t == n->second.end() ? nullptr : &t->second;
}

// What the desired tasks placed on each node take: those meant to run,
// unless the node said they stopped (or refused them) for this value.
std::vector<cp::NodeState> node_states(const Fleet& fleet) {
  std::vector<cp::NodeState> out;
  for (const auto& [name, member] : fleet.members) {
    cp::NodeState state;
    state.name = name;
    auto record = fleet.nodes.find(name);
    state.ready = record != fleet.nodes.end();
    if (state.ready) state.allocatable = record->second.allocatable;
    state.shutting_down = state.ready && record->second.shutting_down;
    state.cordoned = fleet.cordoned.contains(name);
    if (auto d = fleet.desired.find(name); d != fleet.desired.end()) {
      for (const auto& [task, kv] : d->second) {
        auto desired = cp::parse_desired(kv.value);
        if (!desired || desired->desired != cp::Desired::kRunning) continue;
        const auto* status = status_of(fleet, name, task);
        if (status != nullptr && status->desired_revision == kv.mod_revision &&
            (status->known == "STOPPED" || status->known == "REFUSED")) {
          continue;
        }
        auto demand = demand_of(desired->definition_json);
        state.used.cpu_units += demand.cpu_units;
        state.used.memory_mib += demand.memory_mib;
        ++state.tasks;
      }
    }
    out.push_back(std::move(state));
  }
  return out;
}

// The node that holds a desired task named `task`.
Result<std::string> find_task(const Fleet& fleet, const std::string& task) {
  for (const auto& [node, tasks] : fleet.desired) {
    if (tasks.contains(task)) return node;
  }
  return berth::fail(ErrorCode::kNotFound, "no task named '" + task + "' in the cluster");
}

Result<std::chrono::seconds> parse_duration(const std::string& text) {
  size_t used = 0;
  long long value = -1;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
  }
  std::string unit = text.substr(std::min(used, text.size()));
  long long scale = unit.empty() || unit == "s" ? 1
                    : unit == "m"               ? 60
                    : unit == "h"               ? 3600
                    : unit == "d"               ? 86400
                                                : 0;
  if (value < 1 || scale == 0) {
    return berth::fail(ErrorCode::kInvalidArgument,
                       "--ttl '" + text + "': expected a duration such as 30m, 1h, 2d or 90");
  }
  return std::chrono::seconds(value * scale);
}

int report(const berth::Error& error, const std::string& what) {
  std::cerr << "berthctl: cluster " << what << ": " << error.message() << "\n";
  return kFailed;
}

Result<std::string> read_definition(const std::string& file) {
  std::stringstream text;
  if (file == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(file);
    if (!in) return berth::fail(ErrorCode::kNotFound, "'" + file + "': cannot read the file");
    text << in.rdbuf();
  }
  auto parsed = berth::agent::parse_task_definition(text.str(), loose_policy());
  if (!parsed.definition) {
    return berth::fail(ErrorCode::kInvalidArgument,
                       "'" + file + "': invalid task definition:\n" +
                           berth::agent::format_problems(parsed.problems));
  }
  // Stored compact, as one JSON value inside the desired task.
  return nlohmann::json::parse(text.str()).dump();
}

// Writes a desired task's new status with a compare on the revision read,
// so that a concurrent change is not lost.
Status set_desired(etcd::Client& client, const etcd::KeyValue& kv, cp::Desired desired) {
  auto task = BERTH_TRY(cp::parse_desired(kv.value));
  task.desired = desired;
  using C = etcd::Compare;
  auto done =
      BERTH_TRY(client.txn({{kv.key, C::Target::kModRevision, C::Op::kEqual, kv.mod_revision}},
                           {{etcd::Operation::Kind::kPut, kv.key, cp::to_json(task)}}));
  if (!done.succeeded) {
    return berth::fail(ErrorCode::kAlreadyExists, "'" + kv.key + "' changed meanwhile");
  }
  return {};
}

}  // namespace

ClusterCommands::ClusterCommands(CLI::App& app) {
  cluster_ = app.add_subcommand("cluster", "drive a fleet of nodes through etcd");
  cluster_->require_subcommand(1);
  cluster_->fallthrough();
  endpoints_ = env_or("BERTH_ETCD_ENDPOINTS", "http://127.0.0.1:2379");
  ca_ = env_or("BERTH_ETCD_CACERT", "");
  cert_ = env_or("BERTH_ETCD_CERT", "");
  key_ = env_or("BERTH_ETCD_KEY", "");
  user_ = env_or("BERTH_ETCD_USER", "");
  cluster_name_ = env_or("BERTH_CLUSTER", "default");
  cluster_->add_option("--etcd-endpoints", endpoints_, "URL[,URL...] (or BERTH_ETCD_ENDPOINTS)");
  cluster_->add_option("--etcd-cacert", ca_, "CA of etcd's certificate (or BERTH_ETCD_CACERT)");
  cluster_->add_option("--etcd-cert", cert_, "client certificate (or BERTH_ETCD_CERT)");
  cluster_->add_option("--etcd-key", key_, "its key (or BERTH_ETCD_KEY)");
  cluster_->add_option("--etcd-user", user_, "USER:PASSWORD (or BERTH_ETCD_USER)");
  cluster_->add_option("--cluster", cluster_name_, "the fleet's name (or BERTH_CLUSTER)");

  nodes_ = cluster_->add_subcommand("nodes", "list the nodes: NAME STATUS CPU MEM TASKS AGE");
  run_ = cluster_->add_subcommand("run", "place a task definition on a node");
  run_->add_option("-f,--file", file_, "ECS task definition JSON ('-' for stdin)")->required();
  run_->add_option("--name", name_, "task name (default: the family)");
  run_->add_option("--node", node_, "this node rather than one placement picks");
  ps_ = cluster_->add_subcommand("ps", "list the fleet's tasks and their status");
  describe_ = cluster_->add_subcommand("describe", "show a task: desired and known state");
  describe_->add_option("TASK", task_, "task name")->required();
  stop_ = cluster_->add_subcommand("stop", "set a task's desired status to STOPPED");
  stop_->add_option("TASK", task_, "task name")->required();
  rm_ = cluster_->add_subcommand("rm", "remove a task from the fleet (its node stops it)");
  rm_->add_option("TASK", task_, "task name")->required();
  drain_ = cluster_->add_subcommand("drain", "mark a node unschedulable and stop its tasks");
  drain_->add_option("NODE", node_, "node name")->required();
  uncordon_ = cluster_->add_subcommand("uncordon", "let placement use a drained node again");
  uncordon_->add_option("NODE", node_, "node name")->required();
  auto* token = cluster_->add_subcommand("token", "join tokens for Anywhere nodes");
  token->require_subcommand(1);
  token_create_ = token->add_subcommand(
      "create", "print a single-use token that gives a new node its etcd identity");
  token_create_->add_option("--ttl", ttl_, "how long it can be used: 30m, 1h, 2d, or seconds");
  token_create_->add_option("--node", node_, "the node it admits (default: node-<token id>)");
}

int ClusterCommands::run(bool json) {
  etcd::Options options;
  std::stringstream list(endpoints_);
  for (std::string url; std::getline(list, url, ',');) {
    if (!url.empty()) options.endpoints.push_back(url);
  }
  options.ca_file = ca_;
  options.cert_file = cert_;
  options.key_file = key_;
  if (!user_.empty()) {
    auto colon = user_.find(':');
    if (colon == std::string::npos) {
      std::cerr << "berthctl: cluster: --etcd-user: expected USER:PASSWORD\n";
      return kFailed;
    }
    options.user = user_.substr(0, colon);
    options.password = user_.substr(colon + 1);
  }
  if (auto valid = cp::check_name("cluster", cluster_name_); !valid) {
    return report(valid.error(), "--cluster");
  }
  auto connected = etcd::Client::connect(options);
  if (!connected) return report(connected.error(), "connect");
  etcd::Client& client = **connected;
  cp::Keys keys(cluster_name_);

  if (nodes_->parsed()) {
    auto fleet = read_fleet(client, keys);
    if (!fleet) return report(fleet.error(), "nodes");
    auto states = node_states(*fleet);
    nlohmann::json out = nlohmann::json::array();
    if (!json)
      std::printf("%-20s %-28s %-12s %-14s %-6s %s\n", "NAME", "STATUS", "CPU", "MEM", "TASKS",
                  "AGE");
    for (const auto& state : states) {
      std::string status = state.ready ? "READY" : "NOTREADY";
      if (state.cordoned) status += ",SchedulingDisabled";
      if (state.shutting_down) status += ",ShuttingDown";
      const auto record = fleet->nodes.find(state.name);
      const auto& member = fleet->members.at(state.name);
      if (json) {
        nlohmann::json node = {
            {"name", state.name},
            {"status", state.ready ? "READY" : "NOTREADY"},
            {"schedulable", !state.cordoned && !state.shutting_down},
            {"shuttingDown", state.shutting_down},
            {"joinedAt", member.joined_at_ms},
            {"placedTasks", state.tasks},
            {"placed", {{"cpu", state.used.cpu_units}, {"memoryMiB", state.used.memory_mib}}}};
        if (record != fleet->nodes.end()) {
          node["record"] = nlohmann::json::parse(cp::to_json(record->second));
        }
        out.push_back(std::move(node));
        continue;
      }
      std::string cpu = "-", mem = "-", tasks = "-";
      if (record != fleet->nodes.end()) {
        const auto& r = record->second;
        cpu = std::to_string(r.remaining.cpu_units) + "/" + std::to_string(r.allocatable.cpu_units);
        mem = std::to_string(r.remaining.memory_mib) + "/" +
              std::to_string(r.allocatable.memory_mib) + "Mi";
        tasks = std::to_string(r.tasks);
      }
      std::printf("%-20s %-28s %-12s %-14s %-6s %s\n", state.name.c_str(), status.c_str(),
                  cpu.c_str(), mem.c_str(), tasks.c_str(), age_ms(member.joined_at_ms).c_str());
    }
    if (json) std::cout << out.dump(2) << "\n";
    return 0;
  }

  if (run_->parsed()) {
    auto definition = read_definition(file_);
    if (!definition) return report(definition.error(), "run");
    std::string name = name_;
    if (name.empty()) name = nlohmann::json::parse(*definition).value("family", "");
    if (auto valid = cp::check_name("task name", name); !valid) {
      return report(valid.error(), "run");
    }
    cp::Capacity demand = demand_of(*definition);
    std::mt19937 random(std::random_device{}());
    // Optimistic: place on what was read, write only if no desired task
    // changed since; a concurrent placement makes this one read again.
    for (int attempt = 0; attempt < 100; ++attempt) {
      auto fleet = read_fleet(client, keys);
      if (!fleet) return report(fleet.error(), "run");
      if (auto taken = find_task(*fleet, name); taken) {
        return report(berth::Error(ErrorCode::kAlreadyExists,
                                   "a task named '" + name + "' is already on node '" + *taken +
                                       "' (berthctl cluster rm " + name + ")"),
                      "run");
      }
      auto node = cp::place(node_states(*fleet), demand, node_);
      if (!node) return report(node.error(), "run");
      cp::DesiredTask task{name, cp::Desired::kRunning, *definition, now_ms()};
      using C = etcd::Compare;
      auto placed = client.txn(
          {{keys.desired(), C::Target::kModRevision, C::Op::kLess, fleet->revision + 1, "", true}},
          {{etcd::Operation::Kind::kPut, keys.desired(*node, name), cp::to_json(task)}});
      if (!placed) return report(placed.error(), "run");
      if (!placed->succeeded) {
        std::this_thread::sleep_for(std::chrono::milliseconds(random() % 20));  // jitter
        continue;
      }
      if (json) {
        std::cout << nlohmann::json{{"name", name}, {"node", *node}, {"revision", placed->revision}}
                         .dump(2)
                  << "\n";
      } else {
        std::cout << name << " " << *node << "\n";
      }
      return 0;
    }
    std::cerr << "berthctl: cluster run: placement kept meeting concurrent placements; try again\n";
    return kFailed;
  }

  auto fleet = read_fleet(client, keys);
  if (!fleet) return report(fleet.error(), "read the fleet");

  if (ps_->parsed()) {
    nlohmann::json out = nlohmann::json::array();
    if (!json)
      std::printf("%-24s %-16s %-8s %-9s %-9s %-13s %s\n", "NAME", "NODE", "DESIRED", "STATUS",
                  "HEALTH", "TASK ID", "AGE");
    for (const auto& [node, tasks] : fleet->desired) {
      for (const auto& [name, kv] : tasks) {
        auto desired = cp::parse_desired(kv.value);
        const auto* status = status_of(*fleet, node, name);
        std::string want = desired ? std::string(cp::desired_name(desired->desired)) : "INVALID";
        std::string known = status ? status->known : "-";
        if (!fleet->nodes.contains(node)) known += "?";  // the node is NOTREADY
        if (json) {
          nlohmann::json row = {{"name", name},
                                {"node", node},
                                {"desiredStatus", want},
                                {"desiredRevision", kv.mod_revision},
                                {"nodeReady", fleet->nodes.contains(node)}};
          if (status) row["status"] = nlohmann::json::parse(cp::to_json(*status));
          out.push_back(std::move(row));
          continue;
        }
        std::printf("%-24s %-16s %-8s %-9s %-9s %-13s %s\n", name.c_str(), node.c_str(),
                    want.c_str(), known.c_str(), status ? status->health.c_str() : "-",
                    status && !status->task_id.empty() ? status->task_id.c_str() : "-",
                    age_ms(desired ? desired->created_at_ms : 0).c_str());
      }
    }
    if (json) std::cout << out.dump(2) << "\n";
    return 0;
  }

  if (describe_->parsed()) {
    auto node = find_task(*fleet, task_);
    if (!node) return report(node.error(), "describe");
    const auto& kv = fleet->desired.at(*node).at(task_);
    const auto* status = status_of(*fleet, *node, task_);
    auto desired = nlohmann::json::parse(kv.value, nullptr, false);
    if (json) {
      nlohmann::json out = {{"name", task_},
                            {"node", *node},
                            {"desired", desired},
                            {"desiredRevision", kv.mod_revision},
                            {"nodeReady", fleet->nodes.contains(*node)}};
      if (status) out["status"] = nlohmann::json::parse(cp::to_json(*status));
      std::cout << out.dump(2) << "\n";
      return 0;
    }
    std::cout << "Name:     " << task_ << "\nNode:     " << *node
              << (fleet->nodes.contains(*node) ? "" : " (NOTREADY)") << "\nDesired:  "
              << (desired.is_object() ? desired.value("desiredStatus", "?") : "INVALID") << "\n";
    if (status == nullptr) {
      std::cout << "Status:   (none yet)\n";
      return 0;
    }
    std::cout << "Status:   " << status->known << "\nHealth:   " << status->health
              << "\nTask ID:  " << (status->task_id.empty() ? "-" : status->task_id) << "\n";
    if (!status->error.empty()) std::cout << "Error:    " << status->error << "\n";
    if (!status->stopped_reason.empty()) {
      std::cout << "Stopped:  " << status->stop_code << ": " << status->stopped_reason << "\n";
    }
    for (const auto& c : status->containers) {
      std::cout << "  " << c.name << ": " << c.status;
      if (c.exit_code) std::cout << " (exit " << *c.exit_code << ")";
      if (!c.reason.empty()) std::cout << " " << c.reason;
      std::cout << ", health " << c.health << "\n";
    }
    return 0;
  }

  if (stop_->parsed() || rm_->parsed()) {
    const char* what = stop_->parsed() ? "stop" : "rm";
    auto node = find_task(*fleet, task_);
    if (!node) return report(node.error(), what);
    const auto& kv = fleet->desired.at(*node).at(task_);
    if (stop_->parsed()) {
      if (auto done = set_desired(client, kv, cp::Desired::kStopped); !done) {
        return report(done.error(), what);
      }
    } else if (auto removed = client.remove(kv.key); !removed) {
      return report(removed.error(), what);
    }
    std::cout << task_ << "\n";
    return 0;
  }

  if (drain_->parsed()) {
    if (!fleet->members.contains(node_)) {
      return report(berth::Error(ErrorCode::kNotFound, "node '" + node_ + "' is not a member"),
                    "drain");
    }
    if (auto cordoned = client.put(keys.cordon(node_), "drained"); !cordoned) {
      return report(cordoned.error(), "drain");
    }
    int stopping = 0;
    for (const auto& [name, kv] : fleet->desired[node_]) {
      auto desired = cp::parse_desired(kv.value);
      if (!desired || desired->desired != cp::Desired::kRunning) continue;
      if (auto done = set_desired(client, kv, cp::Desired::kStopped); !done) {
        return report(done.error(), "drain");
      }
      ++stopping;
    }
    if (json) {
      std::cout << nlohmann::json{{"node", node_}, {"stopping", stopping}}.dump(2) << "\n";
    } else {
      std::cout << "node " << node_ << " drained: " << stopping << " tasks stopping\n";
    }
    return 0;
  }

  if (token_create_->parsed()) {
    auto ttl = parse_duration(ttl_);
    if (!ttl) return report(ttl.error(), "token create");
    auto created = cp::create_join_token(client, cluster_name_, node_, *ttl, now_ms());
    if (!created) return report(created.error(), "token create");
    if (json) {
      std::cout << nlohmann::json{{"token", created->token},
                                  {"node", created->node},
                                  {"expiresAt", created->expires_at_ms}}
                       .dump(2)
                << "\n";
    } else {
      std::cout << created->token << "\n";
      std::cerr << "admits node '" << created->node << "' once, for " << ttl_ << "\n";
    }
    return 0;
  }

  if (uncordon_->parsed()) {
    if (auto done = client.remove(keys.cordon(node_)); !done) {
      return report(done.error(), "uncordon");
    }
    std::cout << node_ << "\n";
    return 0;
  }
  return 0;
}

}  // namespace berthctl
