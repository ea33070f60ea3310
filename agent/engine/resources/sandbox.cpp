#include "agent/engine/resources/sandbox.h"

#include <algorithm>

#include "agent/state/paths.h"

namespace berth::agent {

namespace {
// A task /dev/shm's size when no container asks for more (Docker's default).
constexpr uint64_t kDefaultShmBytes = 64ULL << 20;
constexpr std::string_view kSandboxSuffix = ".sandbox";
}  // namespace

Result<StepOutput> SandboxResource::ensure(const StepInput& input) {
  const TaskDefinition& definition = input.spec->definition;
  runtime::SandboxRequest request;
  request.id = input.sandbox_id;
  {
    std::lock_guard lock(mu_);
    request.after_interrupted_create = interrupted_.erase(request.id) > 0;
  }
  request.labels = {{std::string(kTaskLabel), input.task_id}, {std::string(kSandboxLabel), "true"}};
  if (input.task_network) request.netns_path = input.task_network->netns;
  request.cgroups_path = cgroups_.container_cgroups_path(input.task_id, request.id);
  if (definition.ipc_mode == IpcMode::kTask) {
    // One /dev/shm for the task, as large as its largest container asks.
    request.shm_size_bytes = kDefaultShmBytes;
    uint64_t largest = 0;
    for (const auto& c : definition.containers) {
      if (c.linux_parameters && c.linux_parameters->shared_memory_size_mib) {
        largest = std::max<uint64_t>(largest, *c.linux_parameters->shared_memory_size_mib << 20);
      }
    }
    if (largest > 0) request.shm_size_bytes = largest;
  }
  BERTH_TRY(failpoint(failpoints_, "sandbox.create.before"));
  // Watched first, so that an exit right after the start is not missed.
  events_.watch(request.id);
  auto pid = sandboxes_.create(request);
  if (!pid) {
    events_.unwatch(request.id);
    return fail(pid.error());
  }
  if (auto injected = failpoint(failpoints_, "sandbox.create.after"); !injected) {
    events_.unwatch(request.id);
    (void)sandboxes_.remove(request.id);  // the injected error is what the task reports
    return fail(injected.error());
  }
  StepOutput out;
  out.pid = *pid;
  return out;
}

Status SandboxResource::release(const StepInput& input) {
  BERTH_TRY(failpoint(failpoints_, "sandbox.remove.before"));
  BERTH_TRY(sandboxes_.remove(input.sandbox_id));
  events_.unwatch(input.sandbox_id);
  return failpoint(failpoints_, "sandbox.remove.after");
}

std::vector<RecoveredResource> SandboxResource::recover(const std::vector<OwnedResource>& owned,
                                                        const RecoveryScope& scope,
                                                        std::vector<std::string>& notes) {
  std::vector<RecoveredResource> out;
  std::set<std::string> kept;
  for (const auto& resource : owned) {
    const std::string& id = resource.host_id;
    kept.insert(id);
    events_.watch(id);
    auto status = sandboxes_.status(id);
    if (status && status->state == runtime::ProcessState::kRunning) {
      out.push_back({resource.task_id, {resource.resource, Recovery::kAdopted, status->pid}});
      continue;
    }
    if (resource.phase == Phase::kCreating) {
      // Cut off during its creation: no container can use it yet, so roll
      // it back and let the planner make it again.
      events_.unwatch(id);
      if (auto removed = sandboxes_.remove(id); !removed) {
        notes.push_back("task '" + resource.task_id +
                        "': roll back its sandbox: " + removed.error().message() + ", ignoring");
      }
      std::lock_guard lock(mu_);
      interrupted_.insert(id);
      out.push_back({resource.task_id, {resource.resource, Recovery::kRolledBack}});
      continue;
    }
    if (!status && status.error().code() != ErrorCode::kNotFound) {
      // containerd did not answer clearly: keep what the checkpoint says;
      // the event stream reports an exit once it does.
      notes.push_back("task '" + resource.task_id + "': sandbox: " + status.error().message() +
                      ", keeping its recorded state");
      out.push_back({resource.task_id, {resource.resource, Recovery::kAdopted, resource.pid}});
      continue;
    }
    out.push_back(
        {resource.task_id,
         {resource.resource, Recovery::kGone, 0, 0, false, "it was gone when berthd restarted"}});
  }
  // Sandboxes no live task owns (an interrupted removal, a lost
  // checkpoint): their container and their host state (a mounted /dev/shm).
  std::set<std::string> orphans;
  auto ids = containers_.list_ids("labels.\"" + std::string(kSandboxLabel) + "\"");
  if (!ids) {
    notes.push_back("list sandboxes: " + ids.error().message() + ", ignoring");
  } else {
    orphans.insert(ids->begin(), ids->end());
  }
  for (const auto& id : sandboxes_.ids_with_host_state()) orphans.insert(id);
  for (const auto& id : orphans) {
    if (!id.ends_with(kSandboxSuffix) || kept.contains(id) ||
        scope.kept_tasks.contains(task_id_of(id))) {
      continue;
    }
    if (auto removed = sandboxes_.remove(id); !removed) {
      notes.push_back(removed.error().message() + ", ignoring");
    } else {
      notes.push_back("removed sandbox '" + id + "': no task owns it");
    }
  }
  return out;
}

Status SandboxResource::purge(const std::string& task_id) {
  std::string id = sandbox_id(task_id);
  events_.unwatch(id);
  return sandboxes_.remove(id);
}

}  // namespace berth::agent
