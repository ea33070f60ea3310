#include "agent/engine/resources/cgroup.h"

#include <set>

#include "agent/engine/admission.h"

namespace berth::agent {

Result<StepOutput> CgroupResource::ensure(const StepInput& input) {
  BERTH_TRY(failpoint(failpoints_, "cgroup.create.before"));
  // Made or found: a repeat sets the limits again.
  BERTH_TRY(
      cgroups_.create_task(input.task_id, task_limits(input.spec->definition, task_pids_limit_)));
  if (auto injected = failpoint(failpoints_, "cgroup.create.after"); !injected) {
    (void)cgroups_.remove_task(input.task_id);  // empty yet: nothing joined it
    return fail(injected.error());
  }
  return StepOutput{};
}

Status CgroupResource::release(const StepInput& input) {
  BERTH_TRY(failpoint(failpoints_, "cgroup.remove.before"));
  // A process left in it (one that escaped its container, or a container
  // berth failed to delete) fails this, and the engine tries again.
  BERTH_TRY(cgroups_.remove_task(input.task_id));
  return failpoint(failpoints_, "cgroup.remove.after");
}

std::vector<RecoveredResource> CgroupResource::recover(const std::vector<OwnedResource>& owned,
                                                       const RecoveryScope& scope,
                                                       std::vector<std::string>& notes) {
  std::vector<RecoveredResource> out;
  std::set<std::string> keep = scope.kept_tasks;
  for (const auto& resource : owned) {
    keep.insert(resource.task_id);
    // Nothing has joined a cgroup still being made: it is made again, and
    // making it is idempotent.
    Recovery outcome =
        resource.phase == Phase::kCreating ? Recovery::kRolledBack : Recovery::kAdopted;
    out.push_back({resource.task_id, {resource.resource, outcome}});
  }
  // Any other task cgroup is what a task berth no longer has left, or a
  // removal a crash cut off.
  auto removed = cgroups::remove_unowned_tasks(cgroups_, keep);
  if (!removed) {
    notes.push_back("remove task cgroups no task owns: " + removed.error().message() +
                    ", ignoring");
  } else {
    for (const auto& id : *removed)
      notes.push_back("removed the cgroup of '" + id + "': no task owns it");
  }
  return out;
}

Status CgroupResource::purge(const std::string& task_id) { return cgroups_.remove_task(task_id); }

}  // namespace berth::agent
