// A task as the engine holds it, driven by hand: the test plays the
// engine's part (intents, step results, exits, time) against the pure
// planner and apply().
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/engine/apply.h"
#include "agent/engine/planner.h"
#include "agent/engine/spec.h"

namespace berth::agent::testing {

inline ContainerDefinition container(std::string name, bool essential = true) {
  ContainerDefinition c;
  c.name = std::move(name);
  c.image = "busybox";
  c.essential = essential;
  return c;
}

inline TaskDefinition definition(std::vector<ContainerDefinition> containers) {
  TaskDefinition d;
  d.family = "fam";
  d.containers = std::move(containers);
  return d;
}

inline Action ensure(ResourceKind kind, size_t index = 0) {
  return {StepKind::kEnsure, {kind, index}};
}
inline Action release(ResourceKind kind, size_t index = 0) {
  return {StepKind::kRelease, {kind, index}};
}
inline Action signal(size_t index) {
  return {StepKind::kSignal, {ResourceKind::kContainer, index}};
}
inline Action kill(size_t index) { return {StepKind::kKill, {ResourceKind::kContainer, index}}; }

// "ensure image 0", for readable expectations.
inline std::string text(const Action& action) {
  return action_name(action) + " " + std::to_string(action.resource.index);
}
inline std::vector<std::string> text(const std::vector<Action>& actions) {
  std::vector<std::string> out;
  for (const auto& a : actions) out.push_back(text(a));
  return out;
}

class Task {
 public:
  explicit Task(const TaskDefinition& def, NetworkMode mode = NetworkMode::kBridge)
      : spec(make_task_spec(def)), record(new_task("t1", "", "{}", def, 1000, mode)) {}

  std::vector<Change> apply(const Event& event) { return agent::apply(record, *spec, event, now); }
  Plan plan() const { return agent::plan(record, *spec, in_flight, now); }
  std::vector<std::string> next() const { return text(plan().actions); }

  // The engine's part in a step: its intent, then (in flight) its result.
  void begin(const Action& action) {
    apply(Intent{action});
    in_flight.insert(action.resource);
  }
  std::vector<Change> finish(const Action& action, StepDone done = {}) {
    in_flight.erase(action.resource);
    done.action = action;
    return apply(done);
  }
  std::vector<Change> fail(const Action& action, const std::string& message) {
    StepDone done;
    done.error = Error(ErrorCode::kInternal, message);
    return finish(action, done);
  }
  // One step begun and done at once.
  std::vector<Change> step(const Action& action, StepDone done = {}) {
    begin(action);
    return finish(action, std::move(done));
  }
  // Runs every step the planner asks for, successfully, until it asks for
  // none; containers get pid 100 + their index. Returns what ran.
  std::vector<std::string> run_all() {
    std::vector<std::string> ran;
    for (int round = 0; round < 50; ++round) {
      auto actions = plan().actions;
      if (actions.empty()) break;
      for (const auto& action : actions) {
        StepDone done;
        if (action.resource.kind == ResourceKind::kContainer) {
          done.pid = 100 + static_cast<uint32_t>(action.resource.index);
        }
        if (action.resource.kind == ResourceKind::kImage) done.image_digest = "sha256:abc";
        if (action.resource.kind == ResourceKind::kTaskNetwork ||
            action.resource.kind == ResourceKind::kContainerNetwork) {
          done.network = NetworkAttachment{"/run/berth/netns/x", "eth0", {"10.0.0.5"}};
        }
        if (action.resource.kind == ResourceKind::kSandbox) done.pid = 99;
        step(action, done);
        ran.push_back(text(action));
      }
    }
    return ran;
  }
  std::vector<Change> exit(size_t index, int code, bool oom = false) {
    return apply(Exited{index, record.containers[index].pid, code, oom});
  }

  std::shared_ptr<const TaskSpec> spec;
  TaskRecord record;
  InFlight in_flight;
  int64_t now = 1000;
};

inline bool has(const std::vector<std::string>& actions, const std::string& action) {
  return std::find(actions.begin(), actions.end(), action) != actions.end();
}

}  // namespace berth::agent::testing
