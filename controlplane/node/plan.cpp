#include "controlplane/node/plan.h"

#include <algorithm>

#include "common/digest.h"

namespace berth::controlplane {

std::string task_source(const Keys& keys, const std::string& node, const std::string& name) {
  return std::string(agent::kControlPlaneSource) + keys.desired(node, name);
}

std::string desired_digest(const DesiredEntry& entry) {
  std::string definition = entry.task ? entry.task->definition_json : std::string();
  return std::to_string(entry.create_revision) + ":" + sha256_digest(definition);
}

std::vector<LocalTask> local_tasks(const std::vector<agent::TaskView>& views, const Keys& keys,
                                   const std::string& node) {
  const std::string prefix = std::string(agent::kControlPlaneSource) + keys.desired(node);
  std::vector<LocalTask> out;
  for (const auto& view : views) {
    const auto& r = view.record;
    if (!view.quarantine_reason.empty() || !r.manifest.starts_with(prefix)) continue;
    out.push_back({r.id, r.manifest.substr(prefix.size()), r.manifest_digest,
                   r.known == agent::TaskStatus::kStopped, r.desired == agent::TaskStatus::kStopped,
                   r.created_at_ms});
  }
  return out;
}

std::vector<NodeAction> plan_node(const std::map<std::string, DesiredEntry>& desired,
                                  const std::vector<LocalTask>& local,
                                  const std::map<std::string, Refusal>& refused,
                                  const std::map<std::string, int64_t>& finished) {
  std::vector<NodeAction> actions;
  auto stop_live = [&](const std::string& name, const std::string& except_digest,
                       const std::string& reason) {
    bool any_live = false;
    for (const auto& task : local) {
      if (task.name != name || task.stopped) continue;
      if (!except_digest.empty() && task.digest == except_digest) continue;
      any_live = true;
      if (!task.stop_requested) {
        actions.push_back({NodeAction::Kind::kStop, name, task.id, reason});
      }
    }
    return any_live;
  };
  for (const auto& [name, entry] : desired) {
    // A value that cannot be read changes nothing: what runs keeps running.
    if (!entry.task) continue;
    if (entry.task->desired == Desired::kStopped) {
      stop_live(name, "", "desired status is STOPPED");
      continue;
    }
    const std::string digest = desired_digest(entry);
    bool ran = std::any_of(local.begin(), local.end(), [&](const LocalTask& task) {
      return task.name == name && task.digest == digest;
    });
    if (ran) continue;
    // A new value replaces the old task: it stops first (the name is
    // taken while it runs).
    if (stop_live(name, digest, "desired task replaced")) continue;
    auto it = refused.find(name);
    if (it != refused.end() && it->second.digest == digest) continue;
    auto done = finished.find(name);
    if (done != finished.end() && done->second == entry.mod_revision) continue;
    actions.push_back({NodeAction::Kind::kRun, name, "", "desired RUNNING"});
  }
  for (const auto& task : local) {
    if (desired.contains(task.name) || task.stopped || task.stop_requested) continue;
    actions.push_back({NodeAction::Kind::kStop, task.name, task.id, "desired task removed"});
  }
  return actions;
}

namespace {

TaskStatusRecord status_of(const agent::TaskView& view) {
  const auto& r = view.record;
  TaskStatusRecord s;
  s.name = r.name;
  s.task_id = r.id;
  s.desired = std::string(agent::status_name(r.desired));
  s.known = std::string(agent::status_name(r.known));
  s.health = std::string(agent::health_name(view.health));
  s.stop_code = r.stop_code;
  s.stopped_reason = r.stopped_reason;
  s.created_at_ms = r.created_at_ms;
  s.started_at_ms = r.started_at_ms;
  s.stopped_at_ms = r.stopped_at_ms;
  for (const auto& c : r.containers) {
    ContainerStatus out;
    out.name = c.name;
    out.status = std::string(agent::status_name(c.status));
    out.exit_code = c.exit_code;
    out.reason = c.reason;
    out.health = std::string(agent::health_name(c.health));
    out.started_at_ms = c.started_at_ms;
    out.stopped_at_ms = c.stopped_at_ms;
    s.containers.push_back(std::move(out));
  }
  return s;
}

}  // namespace

std::map<std::string, TaskStatusRecord> build_statuses(
    const std::map<std::string, DesiredEntry>& desired, const std::vector<agent::TaskView>& views,
    const Keys& keys, const std::string& node, const std::map<std::string, Refusal>& refused) {
  const std::string prefix = std::string(agent::kControlPlaneSource) + keys.desired(node);
  // The newest task of each name.
  std::map<std::string, const agent::TaskView*> newest;
  for (const auto& view : views) {
    const auto& r = view.record;
    if (!view.quarantine_reason.empty() || !r.manifest.starts_with(prefix)) continue;
    std::string name = r.manifest.substr(prefix.size());
    auto& slot = newest[name];
    if (slot == nullptr || slot->record.created_at_ms < r.created_at_ms) slot = &view;
  }
  std::map<std::string, TaskStatusRecord> out;
  for (const auto& [name, entry] : desired) {
    TaskStatusRecord s;
    auto it = newest.find(name);
    if (it != newest.end()) s = status_of(*it->second);
    s.name = name;
    s.node = node;
    s.desired_revision = entry.mod_revision;
    if (entry.task) s.desired = std::string(desired_name(entry.task->desired));
    if (!entry.task) {
      s.error = entry.error;
    } else if (auto r = refused.find(name);
               r != refused.end() && r->second.digest == desired_digest(entry)) {
      s.error = r->second.error;
    }
    if (s.known.empty()) s.known = s.error.empty() ? "PENDING" : "REFUSED";
    out[name] = std::move(s);
  }
  // A task whose key is gone is reported until it has stopped.
  for (const auto& [name, view] : newest) {
    if (desired.contains(name) || view->record.known == agent::TaskStatus::kStopped) continue;
    TaskStatusRecord s = status_of(*view);
    s.name = name;
    s.node = node;
    out[name] = std::move(s);
  }
  return out;
}

}  // namespace berth::controlplane
