// The engine's API: what berthctl (through agent/api) and the static task
// planner ask of it, each call carried out on the owner thread.
#include <spdlog/spdlog.h>

#include <filesystem>

#include "agent/engine/apply.h"
#include "agent/engine/engine.h"
#include "agent/engine/planner.h"
#include "agent/volumes/volume_mounts.h"
#include "runtime/reference.h"

namespace berth::agent {

namespace fs = std::filesystem;

namespace {

constexpr auto kFirstWriteWait = std::chrono::seconds(30);

bool waits_too_long(std::future<Status>& future, std::chrono::milliseconds limit) {
  return future.wait_for(limit) != std::future_status::ready;
}

}  // namespace

Resources Engine::used_resources() const {
  Resources used;
  for (const auto& [id, task] : tasks_) {
    if (task->record.known == TaskStatus::kStopped) continue;
    Resources demand = task_demand(task->spec->definition);
    used.cpu_units += demand.cpu_units;
    used.memory_bytes += demand.memory_bytes;
  }
  return used;
}

Result<std::string> Engine::run_task(const RunRequest& request) {
  auto parsed = parse_task_definition(request.definition_json, config_.policy);
  // Every image reference is read as a pull would read it, before anything
  // is made: a malformed one is refused now, not when its pull fails.
  if (parsed.definition) {
    const auto& containers = parsed.definition->containers;
    for (size_t i = 0; i < containers.size(); ++i) {
      if (auto ref = runtime::parse_image_reference(containers[i].image); !ref) {
        parsed.problems.push_back(
            {"containerDefinitions[" + std::to_string(i) + "].image", ref.error().message()});
      }
    }
    if (!parsed.problems.empty()) parsed.definition.reset();
  }
  if (!parsed.definition) {
    return fail(ErrorCode::kInvalidArgument,
                "invalid task definition:\n" + format_problems(parsed.problems));
  }
  std::future<Status> durable;
  auto id = call([&]() -> Result<std::string> {
    if (shutting_down_) {
      return fail(ErrorCode::kUnavailable, "the node is shutting down: it takes no new tasks");
    }
    const TaskDefinition& definition = *parsed.definition;
    std::string name = request.name.empty() ? definition.family : request.name;
    for (const auto& [other_id, other] : tasks_) {
      if (!request.name.empty() && other->record.name == request.name &&
          other->record.known != TaskStatus::kStopped) {
        return fail(ErrorCode::kAlreadyExists,
                    "a task named '" + request.name + "' is already running (" + other_id + ")");
      }
    }
    NetworkMode mode = effective_network_mode(definition, config_.policy);
    std::optional<EniSpec> eni;
    if (mode == NetworkMode::kAwsvpc) {
      std::map<std::string, std::string> in_use;
      for (const auto& [other_id, other] : tasks_) {
        const auto& r = other->record;
        if (!r.eni.empty() && r.network_resource && r.network_resource->phase != Phase::kReleased) {
          in_use[r.eni] = other_id;
        }
      }
      eni = BERTH_TRY(choose_eni(definition.tags, config_.eni_pool, in_use));
    } else if (definition.tags.contains(std::string(kEniTag))) {
      return fail(ErrorCode::kInvalidArgument, "tags." + std::string(kEniTag) +
                                                   ": an ENI is for awsvpc tasks, not " +
                                                   std::string(network_mode_name(mode)));
    }
    // Refused before anything is made, not started and then killed.
    BERTH_TRY(admit(task_demand(definition), config_.node, used_resources()));
    auto task = std::make_unique<TaskRuntime>();
    std::string task_id = new_task_id();
    task->record = new_task(task_id, request.name, request.definition_json, definition,
                            parts_.clock->wall_ms(), mode);
    if (eni) task->record.eni = eni->name;  // taken from now on
    task->record.manifest = request.manifest;
    task->record.manifest_digest = request.manifest_digest;
    task->record.foreground = request.foreground;
    task->record.remove_on_exit = request.remove_on_exit;
    // Its client follows it from the first moment (detach() ends that).
    if (request.foreground) task->attached = 1;
    task->spec = make_task_spec(definition);
    index(*task);
    parts_.image_gc->note(task->record, +1);
    TaskRuntime& added = *task;
    tasks_[task_id] = std::move(task);
    changed(added, {{"", "PENDING", ""}});
    durable = when_durable(added);
    return task_id;
  });
  if (!id) return id;
  // The task exists once its record is durable; until then nothing of it
  // touched the host.
  if (waits_too_long(durable, kFirstWriteWait)) {
    abandon(*id);
    return fail(ErrorCode::kUnavailable, "task not run: its checkpoint could not be written in " +
                                             std::to_string(kFirstWriteWait.count()) + " s");
  }
  if (auto written = durable.get(); !written) {
    abandon(*id);
    return fail(ErrorCode::kUnavailable,
                "task not run: cannot write its checkpoint: " + written.error().message());
  }
  return id;
}

void Engine::abandon(const std::string& task_id) {
  call([&] {
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) return 0;
    TaskRuntime& task = *it->second;
    for (const auto& pending : task.pending) {
      --(pool_for(pending.action) == Pool::kSlow ? slow_busy_ : control_busy_);
    }
    // Nothing was dispatched: every step waited for the record.
    unindex(task);
    parts_.image_gc->note(task.record, -1);
    parts_.store->remove(task_id, task.seq + 1);
    emit(task_id, "", "REMOVED", "its checkpoint could not be written");
    tasks_.erase(it);
    return 0;
  });
}

Result<TaskView> Engine::describe(const std::string& id_or_name) {
  return call([&]() -> Result<TaskView> {
    if (TaskRuntime* task = find(id_or_name)) return view(*task);
    for (const auto& [id, q] : quarantined_) {
      if (id == id_or_name || id.starts_with(id_or_name)) {
        TaskView out;
        out.record.id = id;
        out.quarantine_reason = q.reason;
        out.quarantine_file = q.file;
        return out;
      }
    }
    return fail(ErrorCode::kNotFound, "no task '" + id_or_name + "'");
  });
}

std::vector<TaskView> Engine::list(bool include_stopped) {
  return call([&] {
    std::vector<TaskView> views;
    for (const auto& [id, q] : quarantined_) {
      TaskView out;
      out.record.id = id;
      out.quarantine_reason = q.reason;
      out.quarantine_file = q.file;
      views.push_back(std::move(out));
    }
    for (const auto& [id, task] : tasks_) {
      if (!include_stopped && task->record.known == TaskStatus::kStopped) continue;
      views.push_back(view(*task));
    }
    std::ranges::stable_sort(views, [](const TaskView& a, const TaskView& b) {
      return a.record.created_at_ms < b.record.created_at_ms;
    });
    return views;
  });
}

Status Engine::stop_task(const std::string& id_or_name, const std::string& stop_code,
                         const std::string& reason) {
  std::future<Status> durable;
  auto id = call([&]() -> Result<std::string> {
    TaskRuntime* task = find(id_or_name);
    if (!task) {
      for (const auto& [id, q] : quarantined_) {
        if (id == id_or_name || id.starts_with(id_or_name)) {
          return fail(ErrorCode::kFailedPrecondition,
                      "task '" + id + "' is quarantined (" + q.reason +
                          "): berth does not manage it; `berthctl rm " + id + "` clears it");
        }
      }
      return fail(ErrorCode::kNotFound, "no task '" + id_or_name + "'");
    }
    auto changes =
        apply(task->record, *task->spec, StopRequested{stop_code, reason}, parts_.clock->wall_ms());
    if (!changes.empty()) changed(*task, std::move(changes));
    durable = when_durable(*task);
    return task->record.id;
  });
  if (!id) return fail(id.error());
  if (waits_too_long(durable, config_.durable_wait)) {
    return fail(ErrorCode::kUnavailable,
                "task '" + *id +
                    "': stop requested, not yet durable (its checkpoint is not written yet); "
                    "berthd stops the task once it is");
  }
  if (auto written = durable.get(); !written) {
    return fail(ErrorCode::kUnavailable, "task '" + *id + "': stop requested, " +
                                             written.error().message() +
                                             "; berthd stops the task once it is written");
  }
  return {};
}

Status Engine::remove_task(const std::string& id_or_name) {
  std::future<Status> done;
  auto asked = call([&]() -> Status {
    if (parts_.failpoints) BERTH_TRY(parts_.failpoints->at("engine.remove_task"));
    if (TaskRuntime* task = find(id_or_name)) {
      if (task->record.known != TaskStatus::kStopped) {
        return fail(ErrorCode::kFailedPrecondition,
                    "task '" + task->record.id + "' is " +
                        std::string(status_name(task->record.known)) + ": stop it first");
      }
      std::promise<Status> promise;
      done = promise.get_future();
      if (task->removing) {
        task->removed_waiters.push_back(std::move(promise));
      } else {
        remove_now(*task, std::move(promise));
      }
      return {};
    }
    for (const auto& [id, q] : quarantined_) {
      if (id == id_or_name || id.starts_with(id_or_name)) {
        done = remove_quarantined(q);
        return {};
      }
    }
    return fail(ErrorCode::kNotFound, "no task '" + id_or_name + "'");
  });
  if (!asked) return asked;
  return done.get();
}

void Engine::remove_now(TaskRuntime& task, std::optional<std::promise<Status>> done) {
  if (done) task.removed_waiters.push_back(std::move(*done));
  if (task.removing) return;
  task.removing = true;
  std::vector<std::string> files;
  for (const auto& c : task.record.containers) files.push_back(config_.paths.log(c.containerd_id));
  std::string volumes = config_.paths.task_volumes(task.record.id);
  // The files first, the checkpoint last: a crash in between leaves a
  // stopped task to remove again, never files that no record names.
  control_.submit([this, id = task.record.id, files, volumes] {
    std::string problem;
    for (const auto& file : files) {
      std::error_code ec;
      fs::remove_all(file, ec);
      if (ec && problem.empty()) problem = "remove '" + file + "': " + ec.message();
    }
    // Volumes may be mounts: unmounted first, never crossed.
    if (auto removed = remove_volumes(volumes); !removed && problem.empty()) {
      problem = removed.error().message();
    }
    post([this, id, problem] {
      auto it = tasks_.find(id);
      if (it == tasks_.end()) return;
      TaskRuntime& task = *it->second;
      if (!problem.empty()) spdlog::warn("task '{}': {}, ignoring", id, problem);
      task.remove_seq = ++task.seq;
      parts_.store->remove(id, task.remove_seq);
    });
  });
}

void Engine::finish_removal(TaskRuntime& task) {
  // Steps still waiting for a checkpoint never run.
  for (const auto& pending : task.pending) {
    --(pool_for(pending.action) == Pool::kSlow ? slow_busy_ : control_busy_);
    task.in_flight.erase(pending.action.resource);
  }
  task.pending.clear();
  if (task.in_flight.empty()) removed(task);
}

void Engine::removed(TaskRuntime& task) {
  std::string id = task.record.id;
  unindex(task);
  parts_.image_gc->note(task.record, -1);
  auto waiters = std::move(task.removed_waiters);
  tasks_.erase(id);
  emit(id, "", "REMOVED", "");
  for (auto& waiter : waiters) waiter.set_value({});
}

std::future<Status> Engine::remove_quarantined(const QuarantinedTask& task) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  std::vector<TaskResource*> order;
  for (ResourceKind kind :
       {ResourceKind::kContainer, ResourceKind::kContainerNetwork, ResourceKind::kSandbox,
        ResourceKind::kTaskCgroup, ResourceKind::kTaskNetwork}) {
    order.push_back(parts_.resources.at(kind));
  }
  control_.submit([this, task, order, promise] {
    // Everything the task id names on the host, then its checkpoint.
    Status purged;
    for (TaskResource* resource : order) {
      if (purged) purged = resource->purge(task.id);
    }
    std::error_code ec;
    if (purged) purged = remove_volumes(config_.paths.task_volumes(task.id));
    for (const auto& entry : fs::directory_iterator(config_.paths.log_dir(), ec)) {
      std::string name = entry.path().filename().string();
      if (task_id_of(name) == task.id) fs::remove(entry.path(), ec);
    }
    if (purged) purged = parts_.store->forget_quarantined(task);
    post([this, task, purged, promise] {
      if (purged) {
        quarantined_.erase(task.id);
        spdlog::info("task '{}': quarantined task removed with everything it held", task.id);
        emit(task.id, "", "REMOVED", "");
      }
      promise->set_value(purged);
    });
  });
  return future;
}

void Engine::expire_stopped() {
  int64_t now = parts_.clock->wall_ms();
  int64_t retention_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.task_retention).count();
  for (auto& [id, task] : tasks_) {
    if (task->record.known != TaskStatus::kStopped || task->removing) continue;
    int64_t at = task->record.stopped_at_ms + retention_ms;
    if (now >= at) {
      spdlog::info("task '{}': removed after its retention period", id);
      remove_now(*task, std::nullopt);
    } else {
      task->wake =
          std::min(task->wake, parts_.clock->steady() + std::chrono::milliseconds(at - now));
    }
  }
}

NodeView Engine::node() {
  return call([&] {
    NodeView view;
    view.node = config_.node;
    view.used = used_resources();
    for (const auto& [id, task] : tasks_) {
      if (task->record.known != TaskStatus::kStopped) ++view.tasks;
    }
    view.cgroup_layout = config_.cgroup_layout;
    view.cgroup_driver = parts_.cgroups ? std::string(parts_.cgroups->name()) : "";
    view.default_network_mode = config_.policy.default_network_mode;
    view.shutting_down = shutting_down_;
    return view;
  });
}

size_t Engine::begin_shutdown(const std::string& reason) {
  // Each stop's steps go once its record is durable, as for every stop; no
  // one waits here, so a slow disk takes nothing from the grace period.
  return call([&] {
    shutting_down_ = true;
    size_t count = 0;
    for (auto& [id, task] : tasks_) {
      if (task->record.known == TaskStatus::kStopped) continue;
      auto changes =
          apply(task->record, *task->spec,
                StopRequested{std::string(kNodeShutdownStopCode), reason}, parts_.clock->wall_ms());
      if (!changes.empty()) changed(*task, std::move(changes));
      ++count;
    }
    return count;
  });
}

void Engine::end_shutdown() {
  post([this] { shutting_down_ = false; });
}

Status Engine::attach(const std::string& task_id) {
  return call([&]() -> Status {
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) return fail(ErrorCode::kNotFound, "no task '" + task_id + "'");
    ++it->second->attached;
    return {};
  });
}

std::optional<size_t> Engine::running_tasks(std::chrono::milliseconds timeout) {
  // Shared: a late answer must not touch a promise that is gone.
  auto answer = std::make_shared<std::promise<size_t>>();
  auto future = answer->get_future();
  post([this, answer] {
    size_t running = 0;
    for (const auto& [id, task] : tasks_) running += task->record.known == TaskStatus::kRunning;
    answer->set_value(running);
  });
  if (future.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return future.get();
}

void Engine::announce(const std::string& task_id, const std::string& container, std::string status,
                      std::string detail) {
  post([this, task_id, container, status = std::move(status), detail = std::move(detail)] {
    emit(task_id, container, status, detail);
  });
}

void Engine::detach(const std::string& task_id) {
  post([this, task_id] {
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) return;
    if (it->second->attached > 0) --it->second->attached;
    it->second->dirty = true;
  });
}

}  // namespace berth::agent
