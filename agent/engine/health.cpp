// Health checks: each container with a healthCheck has it run inside it
// (containerd exec) every interval, on the slow pool; results go through
// apply() like every other event.
#include <tuple>

#include "agent/engine/apply.h"
#include "agent/engine/engine.h"

namespace berth::agent {

void Engine::schedule_health(TaskRuntime& task) {
  if (!parts_.exec || task.record.known == TaskStatus::kStopped ||
      task.record.desired == TaskStatus::kStopped) {
    return;
  }
  auto now = parts_.clock->steady();
  task.health.resize(task.record.containers.size());
  for (size_t i = 0; i < task.record.containers.size(); ++i) {
    const auto& check = task.spec->definition.containers[i].health_check;
    const ContainerRecord& container = task.record.containers[i];
    HealthSchedule& schedule = task.health[i];
    if (!check || container.status != TaskStatus::kRunning) {
      if (!schedule.busy) schedule.next = {};
      continue;
    }
    if (schedule.busy || task.in_flight.contains({ResourceKind::kContainer, i})) continue;
    auto interval = std::chrono::seconds(check->interval_seconds);
    // The first check runs one interval after the start, as in Docker.
    if (schedule.next == std::chrono::steady_clock::time_point{}) schedule.next = now + interval;
    if (now < schedule.next || slow_busy_ >= slow_.threads()) continue;
    schedule.busy = true;
    ++slow_busy_;
    runtime::ExecRequest request;
    if (check->command.front() == "CMD-SHELL") {
      request.args = {"/bin/sh", "-c", check->command.size() > 1 ? check->command[1] : ""};
    } else {
      request.args.assign(check->command.begin() + 1, check->command.end());
    }
    request.timeout = std::chrono::seconds(check->timeout_seconds);
    std::string task_id = task.record.id;
    slow_.submit([this, task_id, i, request, cid = container.containerd_id,
                  timeout = check->timeout_seconds, interval] {
      auto result = parts_.exec->run(cid, request);
      bool passed = result && !result->timed_out && result->exit_code == 0;
      if (parts_.metrics) parts_.metrics->count_health_check(passed);
      std::string output;
      if (!result) {
        output = result.error().message();
      } else if (result->timed_out) {
        output = "health check timed out after " + std::to_string(timeout) + "s";
      } else {
        output = result->output;
      }
      post([this, task_id, i, passed, output = std::move(output), interval] {
        --slow_busy_;
        auto it = tasks_.find(task_id);
        if (it == tasks_.end()) return;
        TaskRuntime& t = *it->second;
        t.health[i].busy = false;
        t.health[i].next = parts_.clock->steady() + interval;
        t.dirty = true;
        const ContainerRecord& c = t.record.containers[i];
        auto before = std::tie(c.health, c.health_output, c.health_failures);
        auto was = std::make_tuple(c.health, c.health_output, c.health_failures);
        auto changes =
            apply(t.record, *t.spec, HealthResult{i, passed, output}, parts_.clock->wall_ms());
        // The same result again changes nothing worth a checkpoint write.
        if (!changes.empty() || before != was) changed(t, std::move(changes));
      });
    });
  }
}

}  // namespace berth::agent
