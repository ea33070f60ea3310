// The task half of berth's local API: a thin layer over the engine.
#include <poll.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "agent/api/log_follower.h"
#include "agent/api/server.h"
#include "agent/engine/engine.h"
#include "systemd/journal.h"

namespace berth::agent {

namespace {

v1::TaskStatus to_proto(TaskStatus status) {
  switch (status) {
    case TaskStatus::kPending:
      return v1::PENDING;
    case TaskStatus::kPulled:
      return v1::PULLED;
    case TaskStatus::kCreated:
      return v1::CREATED;
    case TaskStatus::kRunning:
      return v1::RUNNING;
    case TaskStatus::kStopped:
      return v1::STOPPED;
  }
  return v1::PENDING;
}

v1::Health to_proto(Health health) {
  switch (health) {
    case Health::kUnknown:
      return v1::UNKNOWN;
    case Health::kHealthy:
      return v1::HEALTHY;
    case Health::kUnhealthy:
      return v1::UNHEALTHY;
  }
  return v1::UNKNOWN;
}

v1::NetworkMode to_proto(NetworkMode mode) {
  switch (mode) {
    case NetworkMode::kBridge:
      return v1::NETWORK_MODE_BRIDGE;
    case NetworkMode::kAwsvpc:
      return v1::NETWORK_MODE_AWSVPC;
    case NetworkMode::kHost:
      return v1::NETWORK_MODE_HOST;
    case NetworkMode::kNone:
      return v1::NETWORK_MODE_NONE;
  }
  return v1::NETWORK_MODE_UNSPECIFIED;
}

void fill_task(const TaskView& view, v1::Task* out) {
  const TaskRecord& record = view.record;
  out->set_id(record.id);
  if (!view.quarantine_reason.empty()) {
    out->set_status(v1::QUARANTINED);
    out->set_desired_status(v1::QUARANTINED);
    out->set_quarantine_reason(view.quarantine_reason);
    out->set_quarantine_file(view.quarantine_file);
    return;
  }
  out->set_name(record.name);
  out->set_family(record.family);
  out->set_desired_status(to_proto(record.desired));
  out->set_status(to_proto(record.known));
  out->set_health(to_proto(view.health));
  out->set_stop_code(record.stop_code);
  out->set_stopped_reason(record.stopped_reason);
  out->set_manifest(record.manifest);
  out->set_created_at_ms(record.created_at_ms);
  out->set_started_at_ms(record.started_at_ms);
  out->set_stopped_at_ms(record.stopped_at_ms);
  out->set_network_mode(to_proto(record.network_mode));
  out->set_checkpoint_error(view.checkpoint_error);
  out->set_foreground(record.foreground);
  if (record.network) {
    for (const auto& address : record.network->addresses) out->add_addresses(address);
    out->set_interface(record.network->interface);
    out->set_gateway(record.network->gateway);
  }
  out->set_eni(record.eni);
  for (size_t i = 0; i < record.containers.size(); ++i) {
    const ContainerRecord& c = record.containers[i];
    auto* container = out->add_containers();
    container->set_name(c.name);
    container->set_containerd_id(c.containerd_id);
    container->set_image(c.image);
    container->set_image_digest(c.image_digest);
    container->set_status(to_proto(c.status));
    container->set_pid(c.pid);
    if (c.exit_code) {
      container->set_has_exit_code(true);
      container->set_exit_code(*c.exit_code);
    }
    container->set_reason(c.reason);
    container->set_health(to_proto(c.health));
    container->set_health_output(c.health_output);
    container->set_started_at_ms(c.started_at_ms);
    container->set_stopped_at_ms(c.stopped_at_ms);
    container->set_restart_count(c.restart_count);
    container->set_essential(i < view.essential.size() ? view.essential[i] : true);
    if (c.network) {
      for (const auto& address : c.network->addresses) container->add_addresses(address);
      for (const auto& port : c.network->ports) {
        auto* binding = container->add_ports();
        binding->set_container_port(port.container_port);
        binding->set_host_port(port.host_port);
        binding->set_protocol(port.protocol);
      }
    }
  }
}

}  // namespace

grpc::Status ApiService::RunTask(grpc::ServerContext*, const v1::RunTaskRequest* request,
                                 v1::RunTaskResponse* response) {
  if (auto present = check_images(*request); !present.ok()) return present;
  RunRequest run;
  run.definition_json = request->definition_json();
  run.name = request->name();
  run.remove_on_exit = request->remove_on_exit();
  auto id = engine_.run_task(run);
  if (!id) return to_grpc(id.error());
  response->set_task_id(*id);
  return grpc::Status::OK;
}

grpc::Status ApiService::ListTasks(grpc::ServerContext*, const v1::ListTasksRequest* request,
                                   v1::ListTasksResponse* response) {
  for (const auto& view : engine_.list(request->all())) fill_task(view, response->add_tasks());
  return grpc::Status::OK;
}

grpc::Status ApiService::DescribeTask(grpc::ServerContext*, const v1::DescribeTaskRequest* request,
                                      v1::Task* response) {
  auto view = engine_.describe(request->task());
  if (!view) return to_grpc(view.error());
  fill_task(*view, response);
  for (auto& ephemeral : ephemeral_of(view->record.id)) {
    *response->add_ephemeral_containers() = std::move(ephemeral);
  }
  return grpc::Status::OK;
}

grpc::Status ApiService::StopTask(grpc::ServerContext* ctx, const v1::StopTaskRequest* request,
                                  v1::StopTaskResponse* response) {
  auto view = engine_.describe(request->task());
  if (!view) return to_grpc(view.error());
  std::string id = view->record.id;
  if (!request->wait()) {
    if (auto stopped = engine_.stop_task(id); !stopped) return to_grpc(stopped.error());
    if (auto now = engine_.describe(id); now) fill_task(*now, response->mutable_task());
    return grpc::Status::OK;
  }
  // Subscribe before asking, so that the STOPPED event cannot be missed.
  std::mutex mu;
  std::condition_variable cv;
  bool stopped = view->record.known == TaskStatus::kStopped;
  int subscription = engine_.subscribe([&](const EngineEvent& event) {
    if (event.task_id == id && event.container.empty() && event.status == "STOPPED") {
      std::lock_guard lock(mu);
      stopped = true;
      cv.notify_all();
    }
  });
  if (auto asked = engine_.stop_task(id); !asked) {
    engine_.unsubscribe(subscription);
    return to_grpc(asked.error());
  }
  {
    std::unique_lock lock(mu);
    while (!stopped && !ctx->IsCancelled()) cv.wait_for(lock, std::chrono::milliseconds(200));
  }
  engine_.unsubscribe(subscription);
  if (auto final_view = engine_.describe(id); final_view) {
    fill_task(*final_view, response->mutable_task());
  }
  return grpc::Status::OK;
}

grpc::Status ApiService::RemoveTask(grpc::ServerContext*, const v1::RemoveTaskRequest* request,
                                    v1::RemoveTaskResponse*) {
  if (auto removed = engine_.remove_task(request->task()); !removed) {
    return to_grpc(removed.error());
  }
  return grpc::Status::OK;
}

grpc::Status ApiService::TaskLogs(grpc::ServerContext* ctx, const v1::TaskLogsRequest* request,
                                  grpc::ServerWriter<v1::LogEntry>* writer) {
  auto view = engine_.describe(request->task());
  if (!view) return to_grpc(view.error());
  struct Source {
    std::string name;
    std::optional<LogFollower> follower;
  };
  std::vector<Source> sources;
  bool client_gone = false;
  // One line to the client, from the journal or a file, unless it is older
  // than asked for.
  auto send = [&](const std::string& container, bool from_stderr,
                  std::chrono::system_clock::time_point time, const std::string& text) {
    int64_t nanos =
        std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
    if (nanos < request->since_unix_nanos() || client_gone) return;
    v1::LogEntry entry;
    entry.set_container(container);
    entry.set_stream(from_stderr ? "stderr" : "stdout");
    entry.set_time_unix_nanos(nanos);
    entry.set_text(text);
    if (!writer->Write(entry)) client_gone = true;
  };
  bool read_journal = false;
  for (size_t i = 0; i < view->record.containers.size(); ++i) {
    const auto& c = view->record.containers[i];
    if (!request->container().empty() && c.name != request->container()) continue;
    // The journald driver's lines are read back from the journal; a follow,
    // or a journal that cannot be read, reads the container's file (dual
    // logging), as for every driver.
    std::optional<std::vector<systemd::JournalEntry>> journaled;
    if (!request->follow() && view->spec && view->spec->definition.containers.size() > i &&
        view->spec->definition.containers[i].log_driver == "journald") {
      if (auto read = systemd::read_entries({"CONTAINER_ID=" + c.containerd_id}); read) {
        journaled = std::move(*read);
      }
    }
    if (journaled) {
      for (const auto& e : *journaled) send(c.name, e.priority <= 3, e.time, e.line);
      read_journal = true;
      continue;
    }
    auto follower = LogFollower::open(paths_.log(c.containerd_id));
    if (!follower) {
      if (follower.error().code() == ErrorCode::kNotFound) continue;  // never started
      return to_grpc(follower.error());
    }
    sources.push_back({c.name, std::move(*follower)});
  }
  if (!request->container().empty() && sources.empty() && !read_journal) {
    bool known = false;
    for (const auto& c : view->record.containers) known = known || c.name == request->container();
    if (!known) {
      return grpc::Status(
          grpc::StatusCode::NOT_FOUND,
          "task '" + view->record.id + "' has no container '" + request->container() + "'");
    }
  }
  auto drain_all = [&] {
    for (auto& source : sources) {
      (void)source.follower->drain([&](const runtime::LogRecord& record) -> berth::Status {
        send(source.name, record.stream == runtime::LogStream::kStderr, record.time, record.text);
        return {};
      });
    }
  };
  drain_all();
  if (!request->follow()) return grpc::Status::OK;
  std::string id = view->record.id;
  while (!ctx->IsCancelled() && !client_gone) {
    std::vector<pollfd> fds;
    for (auto& source : sources) fds.push_back({source.follower->wait_fd(), POLLIN, 0});
    ::poll(fds.data(), fds.size(), 500);
    for (auto& source : sources) source.follower->clear_notifications();
    drain_all();
    auto now = engine_.describe(id);
    if (!now || now->record.known == TaskStatus::kStopped) {
      drain_all();
      break;
    }
  }
  return grpc::Status::OK;
}

grpc::Status ApiService::WatchEvents(grpc::ServerContext* ctx,
                                     const v1::WatchEventsRequest* request,
                                     grpc::ServerWriter<v1::Event>* writer) {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<EngineEvent> pending;
  std::string filter;
  if (!request->task().empty()) {
    auto view = engine_.describe(request->task());
    if (!view) return to_grpc(view.error());
    filter = view->record.id;
  }
  int subscription = engine_.subscribe([&](const EngineEvent& event) {
    if (!filter.empty() && event.task_id != filter) return;
    std::lock_guard lock(mu);
    pending.push_back(event);
    cv.notify_all();
  });
  while (!ctx->IsCancelled()) {
    std::deque<EngineEvent> batch;
    {
      std::unique_lock lock(mu);
      cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return !pending.empty(); });
      batch.swap(pending);
    }
    bool gone = false;
    for (const auto& event : batch) {
      v1::Event out;
      out.set_at_ms(event.at_ms);
      out.set_task_id(event.task_id);
      out.set_container(event.container);
      out.set_status(event.status);
      out.set_detail(event.detail);
      if (!writer->Write(out)) gone = true;
    }
    if (gone) break;
  }
  engine_.unsubscribe(subscription);
  return grpc::Status::OK;
}

}  // namespace berth::agent
