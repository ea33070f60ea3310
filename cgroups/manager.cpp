#include "cgroups/manager.h"

#include "cgroups/cgroupfs_v1.h"
#include "cgroups/cgroupfs_v2.h"

namespace berth::cgroups {

Result<std::unique_ptr<CgroupManager>> make_manager(const Layout& layout, std::string parent) {
  switch (layout.kind) {
    case LayoutKind::kV1:
      return std::make_unique<CgroupfsV1Manager>(layout.v1, std::move(parent));
    case LayoutKind::kHybrid: {
      // A hybrid host's cgroup2 mount holds only controllers v1 did not
      // take (hugetlb, misc at most): task limits must go to v1. A runtime
      // may still place container cgroups in the v2 tree too, so listing
      // and removal cover it as one more hierarchy (it is never written).
      V1Roots roots = layout.v1;
      if (!layout.unified.empty()) roots.emplace(std::string(kUnifiedKey), layout.unified);
      return std::make_unique<CgroupfsV1Manager>(std::move(roots), std::move(parent));
    }
    case LayoutKind::kV2:
      if (layout.unified.empty()) {
        return fail(ErrorCode::kFailedPrecondition, "cgroup v2 layout without a cgroup2 mount");
      }
      return std::make_unique<CgroupfsV2Manager>(layout.unified, std::move(parent));
  }
  return fail(ErrorCode::kInternal, "unknown cgroup layout");
}

Result<std::vector<std::string>> remove_unowned_tasks(CgroupManager& manager,
                                                      const std::set<std::string>& owned) {
  std::vector<std::string> tasks = BERTH_TRY_CTX(manager.list_tasks(), "remove unowned cgroups");
  std::vector<std::string> removed;
  std::optional<Error> first_error;
  for (const std::string& task : tasks) {
    if (owned.contains(task)) continue;
    Status status = manager.remove_task(task);
    if (status) {
      removed.push_back(task);
    } else if (!first_error) {
      first_error = status.error();
    }
  }
  if (first_error) return fail(first_error->with_context("remove unowned cgroups"));
  return removed;
}

}  // namespace berth::cgroups
