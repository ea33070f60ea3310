// A container: its containerd container, task and snapshot, its stdin FIFO
// (interactive), and its /etc files (hosts, resolv.conf, hostname).
// ensure() creates and starts it in its task's namespaces and cgroup;
// release() deletes it (its log file stays with the task). Stopping its
// process (signal, kill) is not a release: the planner orders those first.
#pragma once

#include <mutex>
#include <set>

#include "agent/engine/image_gc.h"
#include "agent/engine/resources/resource.h"
#include "agent/state/paths.h"
#include "agent/volumes/named_volumes.h"
#include "cgroups/manager.h"
#include "common/failpoint.h"
#include "runtime/containers.h"
#include "runtime/events.h"
#include "runtime/images.h"
#include "runtime/sandbox.h"

namespace berth::agent {

// The ECS task metadata endpoint (agent/metadata/): served inside the
// network namespace a container joins, at the URI its environment names.
class MetadataProvider {
 public:
  virtual ~MetadataProvider() = default;
  // Serves the endpoint in `netns` (idempotent) and returns the container's
  // ECS_CONTAINER_METADATA_URI_V4.
  virtual Result<std::string> serve(const std::string& task_id, const std::string& container,
                                    const std::string& netns) = 0;
};

struct ContainerResourceConfig {
  Paths paths;
  std::string init_path;                 // a static init for initProcessEnabled
  std::string resolv_conf_path;          // the node's resolv.conf
  MetadataProvider* metadata = nullptr;  // null: no metadata endpoint
};

class ContainerResource final : public TaskResource {
 public:
  ContainerResource(ContainerResourceConfig config, runtime::ContainerService& containers,
                    runtime::ImageService& images, runtime::SandboxService& sandboxes,
                    runtime::EventMonitor& events, cgroups::CgroupManager& cgroups, ImageGc& gc,
                    const Failpoints* failpoints);

  ResourceKind kind() const override { return ResourceKind::kContainer; }
  Result<StepOutput> ensure(const StepInput& input) override;
  Status release(const StepInput& input) override;
  std::vector<RecoveredResource> recover(const std::vector<OwnedResource>& owned,
                                         const RecoveryScope& scope,
                                         std::vector<std::string>& notes) override;
  Status purge(const std::string& task_id) override;
  // Stops the container as `docker stop` does: its stop signal (the image's
  // StopSignal, else SIGTERM) to its main process, or with `kill` SIGKILL to
  // every process in it.
  Status signal(const StepInput& input, bool kill);

 private:
  Result<std::map<std::string, std::string>> volume_sources(const StepInput& input);
  Result<std::vector<std::string>> environment_from_files(const ContainerDefinition& c);
  Status write_files(const std::string& dir,
                     const std::vector<std::pair<std::string, std::string>>& files);

  ContainerResourceConfig config_;
  runtime::ContainerService& containers_;
  runtime::ImageService& images_;
  runtime::SandboxService& sandboxes_;
  runtime::EventMonitor& events_;
  cgroups::CgroupManager& cgroups_;
  ImageGc& gc_;
  const Failpoints* failpoints_;
  std::mutex volumes_mutex_;  // a task volume is made (and mounted) once
  NamedVolumes named_volumes_;
  // Containers whose Create a crash cut off: containerd may still be
  // settling it (bundle directories appearing and vanishing, a late task),
  // so their next Create waits for it.
  std::mutex mu_;
  std::set<std::string> interrupted_;
};

}  // namespace berth::agent
