// A task definition as the engine uses it: validated, immutable, shared by
// every step of the task (never copied per step), with its dependency graph
// resolved to container indexes once.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agent/taskdef/taskdef.h"

namespace berth::agent {

struct ResolvedDependency {
  size_t target = 0;  // container index
  DependencyCondition condition = DependencyCondition::kStart;
};

struct TaskSpec {
  TaskDefinition definition;
  std::vector<size_t> start_order;  // every dependsOn target before its dependents
  // Per container: what it waits for, the containers that wait for it, and
  // the containers its links name.
  std::vector<std::vector<ResolvedDependency>> depends_on;
  std::vector<std::vector<size_t>> dependents;
  std::vector<std::vector<size_t>> links;
};

// `definition` must be valid (parse_task_definition said so).
std::shared_ptr<const TaskSpec> make_task_spec(TaskDefinition definition);

}  // namespace berth::agent
