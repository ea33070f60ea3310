// A task's sandbox (runtime/sandbox.h): the pause container that holds the
// task's PID and IPC namespaces and its /dev/shm (pidMode/ipcMode task).
// Made after the task's network and cgroup (it joins both), removed after
// the last container; adopted, never restarted, by a restarted berthd: the
// containers live in its namespaces.
#pragma once

#include <mutex>
#include <set>

#include "agent/engine/resources/resource.h"
#include "cgroups/manager.h"
#include "common/failpoint.h"
#include "runtime/containers.h"
#include "runtime/events.h"
#include "runtime/sandbox.h"

namespace berth::agent {

class SandboxResource final : public TaskResource {
 public:
  SandboxResource(runtime::SandboxService& sandboxes, runtime::ContainerService& containers,
                  runtime::EventMonitor& events, cgroups::CgroupManager& cgroups,
                  const Failpoints* failpoints)
      : sandboxes_(sandboxes),
        containers_(containers),
        events_(events),
        cgroups_(cgroups),
        failpoints_(failpoints) {}

  ResourceKind kind() const override { return ResourceKind::kSandbox; }
  Result<StepOutput> ensure(const StepInput& input) override;
  Status release(const StepInput& input) override;
  std::vector<RecoveredResource> recover(const std::vector<OwnedResource>& owned,
                                         const RecoveryScope& scope,
                                         std::vector<std::string>& notes) override;
  Status purge(const std::string& task_id) override;

 private:
  runtime::SandboxService& sandboxes_;
  runtime::ContainerService& containers_;
  runtime::EventMonitor& events_;
  cgroups::CgroupManager& cgroups_;
  const Failpoints* failpoints_;
  // Sandboxes whose Create a crash cut off: containerd may still be
  // settling it, so their next Create waits for it.
  std::mutex mu_;
  std::set<std::string> interrupted_;
};

}  // namespace berth::agent
