// Following a task's output: `berthctl run IMAGE` in the foreground is a
// one-container task whose output the call streams until it stops.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "agent/api/log_follower.h"
#include "agent/api/server.h"
#include "agent/engine/engine.h"
#include "common/fd.h"

namespace berth::agent {

namespace {

// The images a task definition names ("" when it is not JSON: the engine
// says what is wrong with it).
std::vector<std::string> images_of(const std::string& definition_json) {
  std::vector<std::string> images;
  auto json = nlohmann::json::parse(definition_json, nullptr, false);
  if (json.is_object() && json.contains("taskDefinition")) json = json["taskDefinition"];
  if (!json.is_object()) return images;
  for (const auto& c : json.value("containerDefinitions", nlohmann::json::array())) {
    if (c.is_object() && c.contains("image") && c["image"].is_string()) {
      images.push_back(c["image"].get<std::string>());
    }
  }
  return images;
}

}  // namespace

grpc::Status ApiService::check_images(const v1::RunTaskRequest& request) {
  if (!request.require_images()) return grpc::Status::OK;
  for (const auto& image : images_of(request.definition_json())) {
    auto resolved = images_.resolve(image);
    if (resolved) continue;
    if (resolved.error().code() == ErrorCode::kNotFound) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "image '" + image +
                              "' is not present: pull it first (berthctl image pull " + image +
                              ")");
    }
    return to_grpc(resolved.error());
  }
  return grpc::Status::OK;
}

grpc::Status ApiService::RunAttached(grpc::ServerContext* ctx, const v1::RunTaskRequest* request,
                                     grpc::ServerWriter<v1::AttachOutput>* writer) {
  if (auto present = check_images(*request); !present.ok()) return present;
  RunRequest run;
  run.definition_json = request->definition_json();
  run.name = request->name();
  run.remove_on_exit = request->remove_on_exit();
  run.foreground = true;
  auto id = engine_.run_task(run);
  if (!id) return to_grpc(id.error());
  return follow(ctx, *id, /*stop_on_detach=*/true, writer);
}

grpc::Status ApiService::AttachTask(grpc::ServerContext* ctx, const v1::AttachTaskRequest* request,
                                    grpc::ServerWriter<v1::AttachOutput>* writer) {
  auto view = engine_.describe(request->task());
  if (!view) return to_grpc(view.error());
  if (auto attached = engine_.attach(view->record.id); !attached) return to_grpc(attached.error());
  return follow(ctx, view->record.id, request->stop_on_detach(), writer);
}

grpc::Status ApiService::follow(grpc::ServerContext* ctx, const std::string& id,
                                bool stop_on_detach, grpc::ServerWriter<v1::AttachOutput>* writer) {
  struct Detach {
    Engine& engine;
    const std::string& id;
    ~Detach() { engine.detach(id); }
  } detach{engine_, id};
  v1::AttachOutput first;
  first.set_task_id(id);
  bool client_gone = !writer->Write(first);

  // The engine's events for this task wake the loop; STOPPED ends it.
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  std::atomic<bool> stopped{false};
  int subscription = engine_.subscribe([&](const EngineEvent& event) {
    if (event.task_id != id) return;
    if (event.container.empty() && (event.status == "STOPPED" || event.status == "REMOVED")) {
      stopped = true;
    }
    uint64_t one = 1;
    (void)!::write(wake.get(), &one, sizeof one);
  });
  struct Unsubscribe {
    Engine& engine;
    int subscription;
    ~Unsubscribe() { engine.unsubscribe(subscription); }
  } unsubscribe{engine_, subscription};

  auto view = engine_.describe(id);
  if (!view) return to_grpc(view.error());
  if (view->record.known == TaskStatus::kStopped) stopped = true;
  std::vector<std::string> log_paths;
  for (const auto& c : view->record.containers) log_paths.push_back(paths_.log(c.containerd_id));
  std::vector<std::optional<LogFollower>> followers(log_paths.size());
  auto drain = [&] {
    for (size_t i = 0; i < followers.size(); ++i) {
      // A container's log file appears when it starts.
      if (!followers[i]) {
        auto opened = LogFollower::open(log_paths[i]);
        if (!opened) continue;
        followers[i].emplace(std::move(*opened));
      }
      (void)followers[i]->drain([&](const runtime::LogRecord& record) -> Status {
        v1::AttachOutput out;
        if (record.stream == runtime::LogStream::kStderr) {
          out.set_stderr(record.text);
        } else {
          out.set_stdout(record.text);
        }
        if (!client_gone && !writer->Write(out)) client_gone = true;
        return {};
      });
    }
  };
  while (!stopped && !client_gone && !ctx->IsCancelled()) {
    drain();
    std::vector<pollfd> fds = {{wake.get(), POLLIN, 0}};
    for (auto& follower : followers) {
      if (follower) fds.push_back({follower->wait_fd(), POLLIN, 0});
    }
    // The timeout bounds how late a cancelled call, or a log file that
    // appeared, is noticed.
    ::poll(fds.data(), fds.size(), 200);
    uint64_t count = 0;
    (void)!::read(wake.get(), &count, sizeof count);
    for (auto& follower : followers) {
      if (follower) follower->clear_notifications();
    }
  }
  if (!stopped) {
    if (stop_on_detach) {
      (void)engine_.stop_task(id, "UserInitiated",
                              "Its foreground client (berthctl run) went away");
    }
    return grpc::Status(grpc::StatusCode::CANCELLED, "run cancelled by the client");
  }
  // Stopped: its containers were deleted, so their loggers wrote everything.
  drain();
  auto final_view = engine_.describe(id);
  if (!final_view) return grpc::Status::OK;  // removed meanwhile: nothing more to tell
  const TaskRecord& record = final_view->record;
  for (size_t i = 0; i < record.containers.size(); ++i) {
    if (i < final_view->essential.size() && !final_view->essential[i]) continue;
    const ContainerRecord& c = record.containers[i];
    if (c.exit_code) {
      v1::AttachOutput last;
      last.set_exit_code(*c.exit_code);
      writer->Write(last);
      return grpc::Status::OK;
    }
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        c.reason.empty() ? record.stopped_reason : c.reason);
  }
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, record.stopped_reason);
}

}  // namespace berth::agent
