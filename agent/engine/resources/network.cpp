#include "agent/engine/resources/network.h"

#include <set>

#include "agent/state/paths.h"

namespace berth::agent {

std::string NetworkResource::host_id(const StepInput& input) const {
  return kind_ == ResourceKind::kTaskNetwork ? input.task_id : input.containerd_id;
}

bool NetworkResource::mine(const std::string& id) const {
  return (kind_ == ResourceKind::kTaskNetwork) == is_task_id(id);
}

Result<StepOutput> NetworkResource::ensure(const StepInput& input) {
  NetworkRequest request;
  request.id = host_id(input);
  if (kind_ == ResourceKind::kTaskNetwork) {
    // awsvpc: the task's ports are its own address's; nothing is published.
    request.mode = NetworkMode::kAwsvpc;
    if (!input.eni.empty()) {
      request.eni = BERTH_TRY(
          eni_by_name(input.eni, input.spec->definition.tags, network_.config().eni_pool));
    }
  } else {
    request.mode = NetworkMode::kBridge;
    const auto& spec = input.spec->definition.containers[input.resource.index];
    for (const auto& mapping : spec.port_mappings) {
      request.ports.push_back(
          {mapping.container_port, mapping.host_port.value_or(0), mapping.protocol});
    }
  }
  StepOutput out;
  out.network = BERTH_TRY(network_.setup(request));
  return out;
}

Status NetworkResource::release(const StepInput& input) {
  return network_.teardown(host_id(input));
}

std::vector<RecoveredResource> NetworkResource::recover(const std::vector<OwnedResource>& owned,
                                                        const RecoveryScope& scope,
                                                        std::vector<std::string>& notes) {
  std::vector<RecoveredResource> out;
  std::set<std::string> kept;
  for (const auto& resource : owned) {
    kept.insert(resource.host_id);
    if (resource.phase == Phase::kCreating) {
      // Cut off while being made: nothing runs in it yet, so undo it and
      // let the planner make it again.
      if (auto torn = network_.teardown(resource.host_id); !torn) {
        notes.push_back("task '" + resource.task_id + "': roll back network '" + resource.host_id +
                        "': " + torn.error().message() + ", ignoring");
      }
      out.push_back({resource.task_id, {resource.resource, Recovery::kRolledBack}});
      continue;
    }
    if (!network_.pinned(resource.host_id)) {
      out.push_back({resource.task_id,
                     {resource.resource, Recovery::kGone, 0, 0, false,
                      "its namespace was gone when berthd restarted"}});
      continue;
    }
    // Its host ports stay its own.
    if (resource.network) network_.reserve_ports(resource.host_id, resource.network->ports);
    out.push_back({resource.task_id, {resource.resource, Recovery::kAdopted}});
  }
  // Anything else on the host (a namespace, a CNI cache entry, an address,
  // a borrowed interface) belongs to a task berth no longer has, or to a
  // teardown a crash cut off.
  for (const auto& id : network_.ids_with_host_state()) {
    if (!mine(id) || kept.contains(id) || scope.kept_tasks.contains(task_id_of(id))) continue;
    if (auto torn = network_.teardown(id); !torn) {
      notes.push_back(torn.error().message() + ", ignoring");
    } else {
      notes.push_back("tearing down the network of '" + id + "': no task owns it");
    }
  }
  return out;
}

Status NetworkResource::purge(const std::string& task_id) {
  for (const auto& id : network_.ids_with_host_state()) {
    if (mine(id) && task_id_of(id) == task_id) BERTH_TRY(network_.teardown(id));
  }
  return {};
}

}  // namespace berth::agent
