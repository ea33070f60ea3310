#include "controlplane/placement.h"

#include <algorithm>

namespace berth::controlplane {

namespace {

// Why `node` cannot take `demand`; "" when it can.
std::string why_not(const NodeState& node, const Capacity& demand) {
  if (!node.ready) return "NOTREADY";
  if (node.cordoned) return "drained";
  if (node.shutting_down) return "shutting down";
  int64_t cpu = node.allocatable.cpu_units - node.used.cpu_units;
  int64_t memory = node.allocatable.memory_mib - node.used.memory_mib;
  std::string why;
  if (demand.cpu_units > cpu) why = std::to_string(cpu) + " CPU units free";
  if (demand.memory_mib > memory) {
    why += (why.empty() ? "" : ", ") + std::to_string(memory) + " MiB free";
  }
  return why;
}

}  // namespace

Result<std::string> place(const std::vector<NodeState>& nodes, const Capacity& demand,
                          const std::string& only) {
  const std::string needs = std::to_string(demand.cpu_units) + " CPU units and " +
                            std::to_string(demand.memory_mib) + " MiB";
  if (!only.empty()) {
    auto it = std::find_if(nodes.begin(), nodes.end(),
                           [&](const NodeState& n) { return n.name == only; });
    if (it == nodes.end()) {
      return fail(ErrorCode::kNotFound, "node '" + only + "' is not a member of the cluster");
    }
    if (auto why = why_not(*it, demand); !why.empty()) {
      return fail(ErrorCode::kFailedPrecondition,
                  "node '" + only + "' cannot take a task of " + needs + ": " + why);
    }
    return only;
  }
  const NodeState* best = nullptr;
  std::string reasons;
  for (const auto& node : nodes) {
    if (auto why = why_not(node, demand); !why.empty()) {
      reasons += (reasons.empty() ? "" : "; ") + node.name + ": " + why;
      continue;
    }
    auto key = [](const NodeState& n) {
      return std::tuple(n.tasks, -(n.allocatable.cpu_units - n.used.cpu_units), n.name);
    };
    if (best == nullptr || key(node) < key(*best)) best = &node;
  }
  if (best == nullptr) {
    return fail(ErrorCode::kFailedPrecondition,
                "no node can take a task of " + needs +
                    (reasons.empty() ? ": the cluster has no nodes" : " (" + reasons + ")"));
  }
  return best->name;
}

}  // namespace berth::controlplane
