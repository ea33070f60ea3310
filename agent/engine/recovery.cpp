// berthd's start: the checkpoints are read (those that cannot be are
// quarantined, and their tasks' containers left as they are), then every
// resource kind recovers what the records say it holds, in teardown order.
#include <spdlog/spdlog.h>

#include <filesystem>

#include "agent/engine/apply.h"
#include "agent/engine/engine.h"
#include "agent/volumes/volume_mounts.h"

namespace berth::agent {

namespace fs = std::filesystem;

namespace {

// Teardown order: what lives in a resource goes before it.
constexpr ResourceKind kRecoveryOrder[] = {
    ResourceKind::kContainer, ResourceKind::kContainerNetwork, ResourceKind::kImage,
    ResourceKind::kSandbox,   ResourceKind::kTaskCgroup,       ResourceKind::kTaskNetwork,
};

bool held(const std::optional<Resource>& resource) {
  return resource && (resource->phase == Phase::kCreating || resource->phase == Phase::kReady);
}

}  // namespace

std::vector<OwnedResource> Engine::owned(ResourceKind kind) const {
  std::vector<OwnedResource> out;
  for (const auto& [id, task] : tasks_) {
    const TaskRecord& r = task->record;
    bool running = r.desired == TaskStatus::kRunning;
    auto add = [&](const std::optional<Resource>& resource, size_t index, std::string host_id,
                   const std::optional<NetworkAttachment>& network, uint32_t pid) {
      if (!held(resource)) return;
      out.push_back(
          {id, {kind, index}, resource->phase, std::move(host_id), running, network, pid});
    };
    switch (kind) {
      case ResourceKind::kTaskNetwork:
        add(r.network_resource, 0, id, r.network, 0);
        break;
      case ResourceKind::kTaskCgroup:
        add(r.cgroup, 0, id, std::nullopt, 0);
        break;
      case ResourceKind::kSandbox:
        add(r.sandbox, 0, r.sandbox_id, std::nullopt, r.sandbox_pid);
        break;
      case ResourceKind::kImage:
      case ResourceKind::kContainerNetwork:
      case ResourceKind::kContainer:
        for (size_t i = 0; i < r.containers.size(); ++i) {
          const ContainerRecord& c = r.containers[i];
          if (kind == ResourceKind::kImage) add(c.image_resource, i, c.containerd_id, {}, 0);
          if (kind == ResourceKind::kContainerNetwork) {
            add(c.network_resource, i, c.containerd_id, c.network, 0);
          }
          if (kind == ResourceKind::kContainer) add(c.runtime, i, c.containerd_id, {}, c.pid);
        }
        break;
    }
  }
  return out;
}

Status Engine::recover() {
  auto loaded = parts_.store->load();
  for (auto& q : loaded.quarantined) {
    spdlog::error(
        "task '{}': its checkpoint cannot be read ({}); quarantined at '{}': its containers "
        "are left as they are, `berthctl rm {}` clears it",
        q.id, q.reason, q.file, q.id);
    quarantined_[q.id] = std::move(q);
  }
  for (auto& record : loaded.tasks) {
    auto parsed = parse_task_definition(record.definition_json, config_.policy);
    if (!parsed.definition) {
      std::string reason =
          "its definition is no longer valid here: " + format_problems(parsed.problems);
      auto kept = parts_.store->quarantine(record.id, reason);
      QuarantinedTask q = kept ? *kept : QuarantinedTask{record.id, "", reason};
      spdlog::error("task '{}': {}; quarantined: its containers are left as they are", record.id,
                    reason);
      quarantined_[record.id] = std::move(q);
      continue;
    }
    auto task = std::make_unique<TaskRuntime>();
    task->record = std::move(record);
    task->spec = make_task_spec(std::move(*parsed.definition));
    index(*task);
    parts_.image_gc->note(task->record, +1);
    std::string id = task->record.id;
    tasks_[id] = std::move(task);
  }

  RecoveryScope scope;
  for (const auto& [id, q] : quarantined_) scope.kept_tasks.insert(id);
  for (const auto& [id, task] : tasks_) scope.live_tasks.insert(id);
  int64_t now = parts_.clock->wall_ms();
  for (ResourceKind kind : kRecoveryOrder) {
    std::vector<std::string> notes;
    auto found = parts_.resources.at(kind)->recover(owned(kind), scope, notes);
    for (const auto& note : notes) spdlog::info("recovery: {}", note);
    for (const auto& [task_id, recovered] : found) {
      TaskRuntime& task = *tasks_.at(task_id);
      std::string what(resource_kind_name(kind));
      if (kind == ResourceKind::kContainer || kind == ResourceKind::kContainerNetwork ||
          kind == ResourceKind::kImage) {
        what += " '" + task.record.containers[recovered.resource.index].name + "'";
      }
      if (kind == ResourceKind::kSandbox) what = "its sandbox";
      switch (recovered.outcome) {
        case Recovery::kAdopted:
          if (kind == ResourceKind::kContainer || kind == ResourceKind::kSandbox) {
            spdlog::info("task '{}': adopted {} (pid {})", task_id, what, recovered.pid);
          }
          break;
        case Recovery::kRolledBack:
          spdlog::info("task '{}': rolled back the interrupted making of {}", task_id, what);
          break;
        case Recovery::kExited:
          spdlog::info("task '{}': {} exited with {} while berthd was away", task_id, what,
                       recovered.exit_code);
          break;
        case Recovery::kGone:
          spdlog::warn("task '{}': {} is gone: {}", task_id, what, recovered.reason);
          break;
      }
      changed(task, apply(task.record, *task.spec, recovered, now));
    }
  }
  // A foreground run's client went with the berthd that served it.
  for (auto& [id, task] : tasks_) {
    if (!task->record.foreground || task->record.desired != TaskStatus::kRunning) continue;
    changed(*task,
            apply(task->record, *task->spec,
                  StopRequested{"ServiceSchedulerInitiated",
                                "Its foreground client (berthctl run) went away with berthd"},
                  now));
  }
  sweep_task_files(scope);
  return {};
}

void Engine::sweep_task_files(const RecoveryScope& scope) {
  auto known = [&](const std::string& task_id) {
    return scope.live_tasks.contains(task_id) || scope.kept_tasks.contains(task_id);
  };
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(config_.paths.volumes_dir(), ec)) {
    std::string id = entry.path().filename().string();
    if (known(id)) continue;
    if (auto removed = remove_volumes(entry.path().string()); !removed) {
      spdlog::warn("recovery: the volumes of '{}': {}", id, removed.error().message());
      continue;
    }
    spdlog::info("recovery: removed the volumes of '{}': no task owns them", id);
  }
  for (const auto& entry : fs::directory_iterator(config_.paths.log_dir(), ec)) {
    std::string name = entry.path().filename().string();
    if (!name.ends_with(".log") || known(task_id_of(name.substr(0, name.size() - 4)))) continue;
    fs::remove(entry.path(), ec);
  }
}

}  // namespace berth::agent
