// A task's network (awsvpc: the task's own namespace and interface, or a
// host interface moved in) and a bridge container's network (its own
// namespace on the node's bridge, with its published ports), both made by
// the NetworkManager and known on the host by their id alone: the task id,
// or the container's containerd id.
#pragma once

#include "agent/engine/resources/resource.h"
#include "agent/network/task_network.h"

namespace berth::agent {

class NetworkResource final : public TaskResource {
 public:
  // `kind`: kTaskNetwork or kContainerNetwork.
  NetworkResource(ResourceKind kind, NetworkManager& network) : kind_(kind), network_(network) {}

  ResourceKind kind() const override { return kind_; }
  Result<StepOutput> ensure(const StepInput& input) override;
  Status release(const StepInput& input) override;
  std::vector<RecoveredResource> recover(const std::vector<OwnedResource>& owned,
                                         const RecoveryScope& scope,
                                         std::vector<std::string>& notes) override;
  Status purge(const std::string& task_id) override;

  // The network id of a step's resource.
  std::string host_id(const StepInput& input) const;

 private:
  // Whether a network id on the host is of this kind (task ids are bare;
  // a container's has its name after a '-').
  bool mine(const std::string& id) const;

  ResourceKind kind_;
  NetworkManager& network_;
};

}  // namespace berth::agent
