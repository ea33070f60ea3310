// The cross-field checks of a parsed task definition: container and volume
// names, essential containers, dependsOn targets and cycles, links, volume
// sources, network mode rules, ports and resource totals; and start_order,
// the order those dependsOn edges give the containers.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/taskdef/parser.h"
#include "agent/taskdef/reader.h"
#include "agent/taskdef/taskdef.h"
#include "common/strings.h"

namespace berth::agent {

namespace taskdef {

namespace {

// The network mode the checks hold a task to: its own or the node's default.
struct CheckedNetworkMode {
  // Unset for a networkMode that names no mode (reported already): no mode's
  // rules apply to it, but it is not bridge either, so links are refused
  // too, under the name it gives.
  std::optional<NetworkMode> mode;
  std::string name;  // for problems
};

CheckedNetworkMode checked_network_mode(const TaskDefinition& task, const ValidationPolicy& policy,
                                        const std::optional<std::string>& unknown_mode) {
  if (unknown_mode) return {std::nullopt, *unknown_mode};
  NetworkMode mode = effective_network_mode(task, policy);
  return {mode, std::string(network_mode_name(mode))};
}

}  // namespace

void Parser::check_containers(const TaskDefinition& task) {
  std::map<std::string, size_t> by_name;  // name -> model index
  for (size_t i = 0; i < task.containers.size(); ++i) {
    const auto& name = task.containers[i].name;
    if (name.empty()) continue;
    auto [first, fresh] = by_name.emplace(name, i);
    if (!fresh) {
      add(member(container_path(i), "name"),
          quote(name) + " is also the name of " + container_path(first->second));
    }
  }
  if (!task.containers.empty() &&
      std::ranges::none_of(task.containers, [](const auto& c) { return c.essential; })) {
    add("containerDefinitions", "at least one container must be essential");
  }

  std::map<std::string, size_t> volumes;  // name -> model index
  for (size_t i = 0; i < task.volumes.size(); ++i) {
    auto [first, fresh] = volumes.emplace(task.volumes[i].name, i);
    if (!fresh) {
      add(member(element("volumes", volume_origins_[i]), "name"),
          quote(task.volumes[i].name) + " is also the name of " +
              element("volumes", volume_origins_[first->second]));
    }
  }

  const CheckedNetworkMode network = checked_network_mode(task, policy_, unknown_network_mode_);
  const bool bridge = network.mode == NetworkMode::kBridge;
  uint64_t cpu_total = 0;
  for (size_t i = 0; i < task.containers.size(); ++i) {
    const ContainerDefinition& c = task.containers[i];
    const Origins& origins = origins_[i];
    const std::string path = container_path(i);
    for (size_t m = 0; m < c.mount_points.size(); ++m) {
      const auto& volume = c.mount_points[m].source_volume;
      if (!volumes.contains(volume)) {
        add(member(element(member(path, "mountPoints"), origins.mount_points[m]), "sourceVolume"),
            "no volume named " + quote(volume));
      }
    }
    for (size_t v = 0; v < c.volumes_from.size(); ++v) {
      const auto& source = c.volumes_from[v].source_container;
      std::string at =
          member(element(member(path, "volumesFrom"), origins.volumes_from[v]), "sourceContainer");
      if (source == c.name) {
        add(at, "a container cannot take volumes from itself");
      } else if (!by_name.contains(source)) {
        add(at, "no container named " + quote(source));
      }
    }
    // A namespaced parameter must have a namespace of the container's to
    // change, not the node's.
    for (const auto& [key, value] : c.system_controls) {
      SysctlNamespace scope = sysctl_namespace(key);
      if (scope == SysctlNamespace::kNetwork && network.mode &&
          container_network_mode(c, *network.mode) == NetworkMode::kHost) {
        add(member(path, "systemControls"),
            quote(key) + " would change the node's network: not in host network mode");
      } else if (scope == SysctlNamespace::kIpc && task.ipc_mode == IpcMode::kHost) {
        add(member(path, "systemControls"),
            quote(key) + " would change the node's IPC namespace: not with ipcMode host");
      }
    }
    if (c.disable_networking && network.mode == NetworkMode::kAwsvpc) {
      add(member(path, "disableNetworking"),
          "not supported in awsvpc network mode: the task's containers share its network "
          "namespace");
    }
    if (c.disable_networking && !c.links.empty()) {
      add(member(path, "links"), "a container with disableNetworking has no network to link on");
    }
    if (c.hostname && network.mode == NetworkMode::kAwsvpc) {
      add(member(path, "hostname"),
          "not supported in awsvpc network mode: the task's hostname comes from its address");
    }
    if (!c.links.empty() && !bridge) {
      add(member(path, "links"),
          "not supported in " + network.name + " network mode: links need bridge mode");
    } else {
      for (size_t l = 0; l < c.links.size(); ++l) {
        std::string target = c.links[l].substr(0, c.links[l].find(':'));
        std::string at = element(member(path, "links"), origins.links[l]);
        if (target == c.name) {
          add(at, "a container cannot link to itself");
        } else if (!by_name.contains(target)) {
          add(at, "no container named " + quote(target));
        } else if (task.containers[by_name[target]].disable_networking) {
          add(at, quote(target) + " has disableNetworking: it has no address to link to");
        }
      }
    }
    cpu_total += c.cpu.value_or(0);
    if (task.memory_mib && c.memory_mib && *c.memory_mib > *task.memory_mib) {
      add(member(path, "memory"), std::to_string(*c.memory_mib) + " MiB is more than the task's " +
                                      std::to_string(*task.memory_mib) + " MiB");
    }
    if (task.memory_mib && c.memory_reservation_mib &&
        *c.memory_reservation_mib > *task.memory_mib) {
      add(member(path, "memoryReservation"), std::to_string(*c.memory_reservation_mib) +
                                                 " MiB is more than the task's " +
                                                 std::to_string(*task.memory_mib) + " MiB");
    }
    if (c.linux_parameters && c.linux_parameters->max_swap_mib && !c.memory_mib &&
        !task.memory_mib) {
      // The kernel limits memory and swap together: there must be a memory limit.
      add(member(member(path, "linuxParameters"), "maxSwap"),
          "needs a memory limit: the container's memory or the task's");
    }
  }
  if (task.cpu && cpu_total > *task.cpu) {
    add("containerDefinitions", "the containers' cpu adds up to " + std::to_string(cpu_total) +
                                    " units, more than the task's " + std::to_string(*task.cpu));
  }
  check_dependencies(task, by_name);
  check_ports(task);
}

void Parser::check_dependencies(const TaskDefinition& task,
                                const std::map<std::string, size_t>& by_name) {
  for (size_t i = 0; i < task.containers.size(); ++i) {
    const ContainerDefinition& c = task.containers[i];
    for (size_t d = 0; d < c.depends_on.size(); ++d) {
      const ContainerDependency& dependency = c.depends_on[d];
      std::string at = element(member(container_path(i), "dependsOn"), origins_[i].depends_on[d]);
      auto target = by_name.find(dependency.container_name);
      if (!c.name.empty() && dependency.container_name == c.name) {
        add(member(at, "containerName"), "a container cannot depend on itself");
        continue;
      }
      if (target == by_name.end()) {
        add(member(at, "containerName"), "no container named " + quote(dependency.container_name));
        continue;
      }
      const ContainerDefinition& dependee = task.containers[target->second];
      if (dependency.condition == DependencyCondition::kHealthy && !dependee.health_check) {
        add(member(at, "condition"),
            "HEALTHY needs a healthCheck on container " + quote(dependee.name));
      }
      if ((dependency.condition == DependencyCondition::kComplete ||
           dependency.condition == DependencyCondition::kSuccess) &&
          dependee.essential) {
        add(member(at, "condition"), std::string(condition_name(dependency.condition)) +
                                         " needs container " + quote(dependee.name) +
                                         " to be non-essential: an essential container that "
                                         "exits stops the task");
      }
    }
  }
  find_cycles(task, by_name);
}

void Parser::find_cycles(const TaskDefinition& task, const std::map<std::string, size_t>& by_name) {
  enum class Mark { kNew, kOnPath, kDone };
  std::vector<Mark> marks(task.containers.size(), Mark::kNew);
  // Depth-first in definition order, with an explicit stack of (container,
  // next dependency to follow); an edge back into the current path closes a
  // cycle, reported at that edge.
  std::vector<std::pair<size_t, size_t>> path;
  for (size_t root = 0; root < task.containers.size(); ++root) {
    if (marks[root] != Mark::kNew) continue;
    marks[root] = Mark::kOnPath;
    path.emplace_back(root, 0);
    while (!path.empty()) {
      const size_t i = path.back().first;
      const auto& dependencies = task.containers[i].depends_on;
      if (path.back().second == dependencies.size()) {
        marks[i] = Mark::kDone;
        path.pop_back();
        continue;
      }
      const size_t d = path.back().second++;
      auto target = by_name.find(dependencies[d].container_name);
      if (target == by_name.end() || target->second == i) continue;
      const size_t next = target->second;
      if (marks[next] == Mark::kOnPath) {
        std::vector<std::string> names;
        auto start = std::ranges::find(path, next, &std::pair<size_t, size_t>::first);
        for (auto it = start; it != path.end(); ++it)
          names.push_back(task.containers[it->first].name);
        names.push_back(task.containers[next].name);
        add(member(element(member(container_path(i), "dependsOn"), origins_[i].depends_on[d]),
                   "containerName"),
            "dependency cycle: " + join(names, " -> "));
      } else if (marks[next] == Mark::kNew) {
        marks[next] = Mark::kOnPath;
        path.emplace_back(next, 0);
      }
    }
  }
}

void Parser::check_ports(const TaskDefinition& task) {
  const CheckedNetworkMode network = checked_network_mode(task, policy_, unknown_network_mode_);
  const bool same_port = network.mode == NetworkMode::kAwsvpc || network.mode == NetworkMode::kHost;
  std::map<std::pair<uint32_t, std::string>, std::string> taken;  // port/protocol -> path
  std::map<std::string, std::string> names;                       // port name -> path
  for (size_t i = 0; i < task.containers.size(); ++i) {
    const ContainerDefinition& c = task.containers[i];
    if (!c.port_mappings.empty() && network.mode == NetworkMode::kNone) {
      add(member(container_path(i), "portMappings"),
          "a task in none network mode has no network to map ports from");
      continue;
    }
    if (!c.port_mappings.empty() && c.disable_networking) {
      add(member(container_path(i), "portMappings"),
          "a container with disableNetworking has no network to map ports from");
      continue;
    }
    for (size_t m = 0; m < c.port_mappings.size(); ++m) {
      const PortMapping& mapping = c.port_mappings[m];
      std::string at =
          element(member(container_path(i), "portMappings"), origins_[i].port_mappings[m]);
      if (same_port && mapping.host_port.value_or(0) != 0 &&
          *mapping.host_port != mapping.container_port) {
        add(member(at, "hostPort"),
            "must equal containerPort (" + std::to_string(mapping.container_port) + ") in " +
                network.name + " network mode, not " + std::to_string(*mapping.host_port));
        continue;
      }
      uint32_t host_port = same_port ? mapping.container_port : mapping.host_port.value_or(0);
      if (host_port != 0) {
        auto [previous, fresh] = taken.emplace(std::pair{host_port, mapping.protocol}, at);
        if (!fresh) {
          add(member(at, mapping.host_port.value_or(0) != 0 ? "hostPort" : "containerPort"),
              "port " + std::to_string(host_port) + "/" + mapping.protocol +
                  " is already mapped by " + previous->second);
        }
      }
      if (!mapping.name.empty()) {
        auto [previous, fresh] = names.emplace(mapping.name, at);
        if (!fresh) {
          add(member(at, "name"), quote(mapping.name) + " is also the name of " + previous->second);
        }
      }
    }
  }
}

}  // namespace taskdef

std::vector<size_t> start_order(const TaskDefinition& definition) {
  const auto& containers = definition.containers;
  std::map<std::string_view, size_t> by_name;
  for (size_t i = 0; i < containers.size(); ++i) by_name.emplace(containers[i].name, i);
  // Kahn's algorithm, always taking the first ready container in definition
  // order: definitions without dependsOn keep their order.
  std::vector<size_t> waiting_on(containers.size(), 0);
  std::vector<std::vector<size_t>> dependents(containers.size());
  for (size_t i = 0; i < containers.size(); ++i) {
    for (const auto& dependency : containers[i].depends_on) {
      auto target = by_name.find(dependency.container_name);
      if (target == by_name.end() || target->second == i) continue;
      dependents[target->second].push_back(i);
      ++waiting_on[i];
    }
  }
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t i = 0; i < containers.size(); ++i) {
    if (waiting_on[i] == 0) ready.push(i);
  }
  std::vector<size_t> order;
  std::vector<bool> placed(containers.size(), false);
  while (!ready.empty()) {
    size_t next = ready.top();
    ready.pop();
    placed[next] = true;
    order.push_back(next);
    for (size_t dependent : dependents[next]) {
      if (--waiting_on[dependent] == 0) ready.push(dependent);
    }
  }
  // A cycle (validation refuses those): the rest in definition order.
  for (size_t i = 0; i < containers.size(); ++i) {
    if (!placed[i]) order.push_back(i);
  }
  return order;
}

}  // namespace berth::agent
