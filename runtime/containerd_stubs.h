// The generated gRPC stubs of containerd's services, for runtime's own
// sources only: headers outside runtime/ see Containerd without them.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string_view>

#include "common/error.h"
#include "common/grpc/status.h"
#include "github.com/containerd/containerd/api/services/containers/v1/containers.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/content/v1/content.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/diff/v1/diff.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/events/v1/events.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/images/v1/images.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/leases/v1/leases.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/tasks/v1/tasks.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/version/v1/version.grpc.pb.h"
#include "github.com/containerd/containerd/api/types/task/task.pb.h"
#include "runtime/containerd.h"

namespace berth::runtime {

namespace cd_containers = containerd::services::containers::v1;
namespace cd_content = containerd::services::content::v1;
namespace cd_diff = containerd::services::diff::v1;
namespace cd_events = containerd::services::events::v1;
namespace cd_images = containerd::services::images::v1;
namespace cd_leases = containerd::services::leases::v1;
namespace cd_snapshots = containerd::services::snapshots::v1;
namespace cd_tasks = containerd::services::tasks::v1;
namespace cd_version = containerd::services::version::v1;

struct ContainerdStubs {
  explicit ContainerdStubs(const std::shared_ptr<grpc::Channel>& channel)
      : containers(cd_containers::Containers::NewStub(channel)),
        content(cd_content::Content::NewStub(channel)),
        diff(cd_diff::Diff::NewStub(channel)),
        events(cd_events::Events::NewStub(channel)),
        images(cd_images::Images::NewStub(channel)),
        leases(cd_leases::Leases::NewStub(channel)),
        snapshots(cd_snapshots::Snapshots::NewStub(channel)),
        tasks(cd_tasks::Tasks::NewStub(channel)),
        version(cd_version::Version::NewStub(channel)) {}

  std::unique_ptr<cd_containers::Containers::Stub> containers;
  std::unique_ptr<cd_content::Content::Stub> content;
  std::unique_ptr<cd_diff::Diff::Stub> diff;
  std::unique_ptr<cd_events::Events::Stub> events;
  std::unique_ptr<cd_images::Images::Stub> images;
  std::unique_ptr<cd_leases::Leases::Stub> leases;
  std::unique_ptr<cd_snapshots::Snapshots::Stub> snapshots;
  std::unique_ptr<cd_tasks::Tasks::Stub> tasks;
  std::unique_ptr<cd_version::Version::Stub> version;
};

enum class ProcessState;
// containerd's process status (containerd.v1.types.Status) as a ProcessState.
ProcessState to_process_state(containerd::v1::types::Status status);

}  // namespace berth::runtime
