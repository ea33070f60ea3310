// A container's image: pulled, or found in containerd's store. Nothing of
// it is the task's alone (image GC removes what no task names), so
// release() has nothing to undo (releases_inline()) and recover()
// only clears what a killed pull left: its leases.
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "agent/engine/image_gc.h"
#include "agent/engine/resources/resource.h"
#include "agent/metrics/agent_metrics.h"
#include "common/failpoint.h"
#include "runtime/containerd.h"
#include "runtime/images.h"

namespace berth::agent {

class ImageResource final : public TaskResource {
 public:
  ImageResource(runtime::Containerd& containerd, runtime::ImageService& images, ImageGc& gc,
                const Failpoints* failpoints, metrics::AgentMetrics* metrics = nullptr)
      : containerd_(containerd),
        images_(images),
        gc_(gc),
        failpoints_(failpoints),
        metrics_(metrics) {}

  ResourceKind kind() const override { return ResourceKind::kImage; }
  Result<StepOutput> ensure(const StepInput& input) override;
  Status release(const StepInput& input) override;
  bool releases_inline() const override { return true; }
  std::vector<RecoveredResource> recover(const std::vector<OwnedResource>& owned,
                                         const RecoveryScope& scope,
                                         std::vector<std::string>& notes) override;
  Status purge(const std::string& task_id) override;

 private:
  Result<std::string> pull(const std::string& reference);

  runtime::Containerd& containerd_;
  runtime::ImageService& images_;
  ImageGc& gc_;
  const Failpoints* failpoints_;
  metrics::AgentMetrics* metrics_;  // pull durations; null: none
  // One pull at a time per reference: containerd refuses a second writer of
  // the same blob, and the later ones find the image present. An entry
  // lives while a pull of its reference runs.
  struct PullLock {
    std::mutex mu;
    int users = 0;
  };
  std::mutex pulls_mu_;
  std::map<std::string, std::unique_ptr<PullLock>> pulls_;
};

}  // namespace berth::agent
