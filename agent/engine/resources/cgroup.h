// A task's cgroup, <namespace>/<task id> in every hierarchy, made with the
// task's limits before its sandbox and containers (whose own cgroups nest
// in it), removed after them.
#pragma once

#include "agent/engine/resources/resource.h"
#include "cgroups/manager.h"
#include "common/failpoint.h"

namespace berth::agent {

class CgroupResource final : public TaskResource {
 public:
  CgroupResource(cgroups::CgroupManager& cgroups, uint64_t task_pids_limit,
                 const Failpoints* failpoints)
      : cgroups_(cgroups), task_pids_limit_(task_pids_limit), failpoints_(failpoints) {}

  ResourceKind kind() const override { return ResourceKind::kTaskCgroup; }
  Result<StepOutput> ensure(const StepInput& input) override;
  Status release(const StepInput& input) override;
  std::vector<RecoveredResource> recover(const std::vector<OwnedResource>& owned,
                                         const RecoveryScope& scope,
                                         std::vector<std::string>& notes) override;
  Status purge(const std::string& task_id) override;

 private:
  cgroups::CgroupManager& cgroups_;
  uint64_t task_pids_limit_;
  const Failpoints* failpoints_;
};

}  // namespace berth::agent
