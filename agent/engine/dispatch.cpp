// The reconciler: after every batch of events, each task that changed is
// settled (apply.h), planned (planner.h), and its steps are marked in its
// record, checkpointed, and handed to a worker pool once durable.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent/engine/apply.h"
#include "agent/engine/engine.h"
#include "agent/engine/planner.h"

namespace berth::agent {

namespace {

using Clock = std::chrono::steady_clock;

// A failed release is tried again soon, then less and less often.
constexpr auto kFirstReleaseRetry = std::chrono::milliseconds(250);
constexpr auto kLastReleaseRetry = std::chrono::seconds(5);
constexpr auto kFirstContainerdRetry = std::chrono::milliseconds(250);
constexpr auto kLastContainerdRetry = std::chrono::seconds(1);

// The next wait after failures that have lasted `failing`: as long again
// (so waits double), within [first, last].
Clock::duration backoff(Clock::duration failing, Clock::duration first, Clock::duration last) {
  return std::clamp<Clock::duration>(failing, first, last);
}

// Stops and teardown before set-up, across tasks.
int priority(const Action& action) {
  switch (action.step) {
    case StepKind::kSignal:
    case StepKind::kKill:
      return 0;
    case StepKind::kRelease:
      return 1;
    case StepKind::kEnsure:
      return 2;
  }
  return 2;
}

int64_t ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

}  // namespace

Engine::Pool Engine::pool_for(const Action& action) {
  bool slow = action.step == StepKind::kEnsure && action.resource.kind == ResourceKind::kImage;
  return slow ? Pool::kSlow : Pool::kControl;
}

bool Engine::needs_containerd(const Action& action) {
  switch (action.resource.kind) {
    case ResourceKind::kImage:
    case ResourceKind::kSandbox:
    case ResourceKind::kContainer:
      return true;
    default:
      return false;
  }
}

void Engine::reconcile_all() {
  std::vector<std::pair<TaskRuntime*, Action>> wanted;
  for (auto& [id, task] : tasks_) {
    if (reconcile_everything_ || task->dirty) reconcile(*task, wanted);
  }
  reconcile_everything_ = false;
  std::ranges::stable_sort(
      wanted, [](const auto& a, const auto& b) { return priority(a.second) < priority(b.second); });
  int64_t now = parts_.clock->wall_ms();
  std::set<TaskRuntime*> touched;
  for (auto& [task, action] : wanted) {
    // A release that touches nothing on the host is done here, not queued
    // behind real steps.
    TaskResource* resource = parts_.resources.at(action.resource.kind);
    if (action.step == StepKind::kRelease && resource->releases_inline()) {
      auto released = resource->release(step_input(*task, action.resource));
      StepDone done{action};
      if (!released) done.error = released.error();
      changed(*task, apply(task->record, *task->spec, done, now));
      continue;
    }
    bool slow = pool_for(action) == Pool::kSlow;
    size_t& busy = slow ? slow_busy_ : control_busy_;
    if (busy >= (slow ? slow_ : control_).threads()) {
      waiting_for_slot_.insert(task->record.id);  // planned again once a step ends
      continue;
    }
    if (needs_containerd(action) && !containerd_up_) continue;  // planned again on its return
    ++busy;
    auto changes = apply(task->record, *task->spec, Intent{action}, now);
    // A release leaves no mark of its own: the task's stop is its intent.
    if (action.step != StepKind::kRelease) changed(*task, std::move(changes));
    task->in_flight.insert(action.resource);
    task->pending.push_back({action, task->seq, Clock::now()});
    touched.insert(task);
  }
  for (TaskRuntime* task : touched) start_ready_steps(*task);

  auto steady = parts_.clock->steady();
  for (auto& [id, task] : tasks_) schedule_health(*task);
  expire_stopped();
  if (config_.image_gc_interval.count() > 0) {
    if (next_image_gc_ == Clock::time_point{}) next_image_gc_ = steady + config_.image_gc_interval;
    if (steady >= next_image_gc_ && !image_gc_running_ && slow_busy_ < slow_.threads()) {
      next_image_gc_ = steady + config_.image_gc_interval;
      image_gc_running_ = true;
      ++slow_busy_;
      slow_.submit([this] {
        auto notes = parts_.image_gc->collect();
        post([this, notes] {
          --slow_busy_;
          image_gc_running_ = false;
          for (size_t i = 0; i + 1 < notes.size(); ++i) spdlog::info("{}", notes[i]);
          if (!notes.empty()) spdlog::debug("{}", notes.back());
        });
      });
    }
  }
  wake_ = Clock::time_point::max();
  if (config_.image_gc_interval.count() > 0) wake_ = std::min(wake_, next_image_gc_);
  for (auto& [id, task] : tasks_) {
    wake_ = std::min(wake_, task->wake);
    for (const auto& [key, retry] : task->retries) wake_ = std::min(wake_, retry.at);
    for (const auto& health : task->health) {
      if (health.next != Clock::time_point{} && !health.busy) wake_ = std::min(wake_, health.next);
    }
  }
}

bool Engine::reconcile(TaskRuntime& task, std::vector<std::pair<TaskRuntime*, Action>>& wanted) {
  task.dirty = false;
  task.wake = Clock::time_point::max();
  if (task.removing) return false;
  int64_t now = parts_.clock->wall_ms();
  // Time alone may decide (a startTimeout passed).
  if (auto changes = apply(task.record, *task.spec, Tick{}, now); !changes.empty()) {
    changed(task, std::move(changes));
  }
  if (task.record.known == TaskStatus::kStopped) {
    if (task.record.remove_on_exit && task.attached == 0) remove_now(task, std::nullopt);
    return false;
  }
  auto steady = parts_.clock->steady();
  InFlight busy = task.in_flight;
  for (const auto& [key, retry] : task.retries) {
    if (retry.at > steady) busy.insert(key);
  }
  Plan plan = agent::plan(task.record, *task.spec, busy, now);
  if (plan.wake_at_ms > 0) {
    task.wake = steady + std::chrono::milliseconds(std::max<int64_t>(0, plan.wake_at_ms - now));
  }
  for (const auto& action : plan.actions) wanted.emplace_back(&task, action);
  return !plan.actions.empty();
}

void Engine::start_ready_steps(TaskRuntime& task) {
  auto ready = std::ranges::partition(task.pending,
                                      [&](const Pending& p) { return p.seq > task.durable_seq; });
  std::vector<Pending> go(ready.begin(), ready.end());
  task.pending.erase(ready.begin(), ready.end());
  for (const auto& pending : go) dispatch(task, pending);
}

StepInput Engine::step_input(const TaskRuntime& task, const ResourceKey& key) const {
  const TaskRecord& record = task.record;
  StepInput input;
  input.task_id = record.id;
  input.resource = key;
  input.spec = task.spec;
  input.network_mode = record.network_mode;
  input.eni = record.eni;
  input.task_network = record.network;
  input.sandbox_id = record.sandbox_id;
  input.sandbox_pid = record.sandbox_pid;
  input.foreground = record.foreground;
  bool per_container = key.kind == ResourceKind::kImage ||
                       key.kind == ResourceKind::kContainerNetwork ||
                       key.kind == ResourceKind::kContainer;
  if (per_container) {
    const ContainerRecord& c = record.containers[key.index];
    input.containerd_id = c.containerd_id;
    input.image = c.image;
    input.container_network = c.network;
    if (key.kind == ResourceKind::kContainer && !task.spec->links[key.index].empty()) {
      for (const auto& other : record.containers) {
        if (other.network && !other.network->addresses.empty()) {
          input.container_addresses[other.name] = other.network->addresses.front();
        }
      }
    }
  }
  return input;
}

bool Engine::containerd_away() {
  if (!parts_.containerd) return false;
  return !parts_.containerd->query_version();
}

void Engine::dispatch(TaskRuntime& task, const Pending& pending) {
  const Action& action = pending.action;
  StepInput input = step_input(task, action.resource);
  TaskResource* resource = parts_.resources.at(action.resource.kind);
  std::string task_id = task.record.id;
  (pool_for(action) == Pool::kSlow ? slow_ : control_)
      .submit([this, task_id, action, input, resource, planned = pending.planned] {
        auto began = Clock::now();
        Result<StepOutput> result = StepOutput{};
        switch (action.step) {
          case StepKind::kEnsure:
            result = resource->ensure(input);
            break;
          case StepKind::kRelease:
            if (auto released = resource->release(input); !released)
              result = fail(released.error());
            break;
          case StepKind::kSignal:
          case StepKind::kKill: {
            const bool kill = action.step == StepKind::kKill;
            if (auto sent = parts_.containers->signal(input, kill); !sent)
              result = fail(sent.error());
            break;
          }
        }
        int64_t took = ms_since(began);
        const bool timed = parts_.metrics && action.step == StepKind::kEnsure && result;
        if (timed) observe_set_up(action, *result, began - planned, Clock::now() - began);
        // A step that failed because containerd is away waits for it; one that
        // failed with containerd there failed for good.
        bool away = !result && needs_containerd(action) &&
                    (result.error().code() == ErrorCode::kUnavailable ||
                     result.error().code() == ErrorCode::kDeadlineExceeded) &&
                    containerd_away();
        post([this, task_id, action, result = std::move(result), away, took, timed,
              posted = Clock::now()]() mutable {
          if (timed) {
            parts_.metrics->observe_start_step(
                "report", std::chrono::duration<double>(Clock::now() - posted).count());
          }
          if (result) result->took_ms = took;
          step_done(task_id, action, std::move(result), away);
        });
      });
}

void Engine::observe_set_up(const Action& action, const StepOutput& output, Clock::duration queued,
                            Clock::duration ran) {
  using Seconds = std::chrono::duration<double>;
  std::string step(resource_kind_name(action.resource.kind));
  std::ranges::replace(step, ' ', '_');
  parts_.metrics->observe_start_step("queued", Seconds(queued).count());
  parts_.metrics->observe_start_step(step, Seconds(ran).count());
  for (const auto& [phase, seconds] : output.phases) {
    parts_.metrics->observe_start_step(step + "." + phase, seconds);
  }
}

void Engine::step_done(const std::string& task_id, const Action& action, Result<StepOutput> result,
                       bool containerd_away) {
  --(pool_for(action) == Pool::kSlow ? slow_busy_ : control_busy_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return;
  TaskRuntime& task = *it->second;
  task.in_flight.erase(action.resource);
  task.dirty = true;
  // A slot is free: tasks that wanted one plan again.
  for (const auto& id : waiting_for_slot_) {
    if (auto waiting = tasks_.find(id); waiting != tasks_.end()) waiting->second->dirty = true;
  }
  waiting_for_slot_.clear();
  if (task.removing) {
    if (task.remove_durable) finish_removal(task);
    return;
  }
  auto now = parts_.clock->steady();
  std::string what = "task '" + task_id + "': " + action_name(action);
  if (action.resource.kind == ResourceKind::kImage ||
      action.resource.kind == ResourceKind::kContainerNetwork ||
      action.resource.kind == ResourceKind::kContainer) {
    what += " '" + task.record.containers[action.resource.index].name + "'";
  }
  if (!result) {
    const std::string& message = result.error().message();
    if (containerd_away) {
      auto [retry, first] = task.retries.try_emplace(action.resource, Retry{now, now});
      auto waited = now - retry->second.first_failure;
      if (waited < config_.containerd_patience) {
        retry->second.at = now + backoff(waited, kFirstContainerdRetry, kLastContainerdRetry);
        if (first) spdlog::warn("{}: waits for containerd ({})", what, message);
        return;
      }
      spdlog::warn("{}: containerd stayed away for {} s", what,
                   std::chrono::duration_cast<std::chrono::seconds>(waited).count());
    } else if (action.step == StepKind::kRelease) {
      // Doubling: the wait is as long as the failures have lasted.
      auto retry = task.retries.try_emplace(action.resource, Retry{now, now}).first;
      retry->second.at =
          now + backoff(now - retry->second.first_failure, kFirstReleaseRetry, kLastReleaseRetry);
      spdlog::warn("{}: {}; will retry", what, message);
      return;
    } else if (action.step != StepKind::kEnsure) {
      spdlog::warn("{}: {}, ignoring", what, message);
      return;
    }
  }
  task.retries.erase(action.resource);
  StepDone done{action};
  if (result) {
    done.image_digest = result->image_digest;
    done.network = result->network;
    done.pid = result->pid;
    done.took_ms = result->took_ms;
  } else {
    done.error = result.error();
    spdlog::warn("{}: {}", what, result.error().message());
  }
  changed(task, apply(task.record, *task.spec, done, parts_.clock->wall_ms()));
  if (action.resource.kind != ResourceKind::kContainer || action.step != StepKind::kEnsure) return;
  const ContainerRecord& c = task.record.containers[action.resource.index];
  auto early = early_exits_.find(c.containerd_id);
  if (early == early_exits_.end()) return;
  EarlyExit exit = early->second;
  early_exits_.erase(early);
  // An exit that arrived while the start was in flight counts only if it
  // is this instance's.
  if (result && exit.pid == result->pid)
    handle_exit(c.containerd_id, exit.code, exit.pid, exit.oom);
}

}  // namespace berth::agent
