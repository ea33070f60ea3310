#include "agent/engine/spec.h"

#include <map>

namespace berth::agent {

std::shared_ptr<const TaskSpec> make_task_spec(TaskDefinition definition) {
  auto spec = std::make_shared<TaskSpec>();
  spec->definition = std::move(definition);
  const auto& containers = spec->definition.containers;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < containers.size(); ++i) index[containers[i].name] = i;
  spec->start_order = start_order(spec->definition);
  spec->depends_on.resize(containers.size());
  spec->dependents.resize(containers.size());
  spec->links.resize(containers.size());
  for (size_t i = 0; i < containers.size(); ++i) {
    for (const auto& dependency : containers[i].depends_on) {
      auto target = index.find(dependency.container_name);
      if (target == index.end()) continue;  // validation refuses it; never here
      spec->depends_on[i].push_back({target->second, dependency.condition});
      spec->dependents[target->second].push_back(i);
    }
    for (const auto& link : containers[i].links) {
      auto target = index.find(link.substr(0, link.find(':')));
      if (target != index.end()) spec->links[i].push_back(target->second);
    }
  }
  return spec;
}

}  // namespace berth::agent
