#include "runtime/fake_containerd.h"

#include <unistd.h>

#include <chrono>

#include "github.com/containerd/containerd/api/services/containers/v1/containers.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/events/v1/events.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/tasks/v1/tasks.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/version/v1/version.grpc.pb.h"

namespace berth::testing {
namespace {

namespace cd_containers = containerd::services::containers::v1;
namespace cd_events = containerd::services::events::v1;
namespace cd_tasks = containerd::services::tasks::v1;
namespace cd_version = containerd::services::version::v1;
using State = FakeContainerd::State;

class VersionService final : public cd_version::Version::Service {
 public:
  grpc::Status Version(grpc::ServerContext* /*context*/, const google::protobuf::Empty* /*request*/,
                       cd_version::VersionResponse* response) override {
    response->set_version("v1.6.20");
    response->set_revision("fake");
    return grpc::Status::OK;
  }
};

class ContainersService final : public cd_containers::Containers::Service {
 public:
  grpc::Status Create(grpc::ServerContext* /*context*/,
                      const cd_containers::CreateContainerRequest* request,
                      cd_containers::CreateContainerResponse* response) override {
    *response->mutable_container() = request->container();
    return grpc::Status::OK;
  }
  grpc::Status Delete(grpc::ServerContext* /*context*/,
                      const cd_containers::DeleteContainerRequest* /*request*/,
                      google::protobuf::Empty* /*response*/) override {
    return grpc::Status::OK;
  }
};

class TasksService final : public cd_tasks::Tasks::Service {
 public:
  explicit TasksService(State& state) : state_(state) {}

  grpc::Status Get(grpc::ServerContext* /*context*/, const cd_tasks::GetRequest* request,
                   cd_tasks::GetResponse* response) override {
    std::lock_guard lock(state_.mu);
    auto it = state_.tasks.find(request->container_id());
    if (it == state_.tasks.end()) {
      return {grpc::StatusCode::NOT_FOUND, "task " + request->container_id() + ": not found"};
    }
    *response->mutable_process() = it->second;
    return grpc::Status::OK;
  }

  grpc::Status Create(grpc::ServerContext* /*context*/, const cd_tasks::CreateTaskRequest* request,
                      cd_tasks::CreateTaskResponse* response) override {
    std::lock_guard lock(state_.mu);
    ++state_.create_calls;
    state_.last_create_options = request->options();
    if (!state_.create_results.empty()) {
      grpc::Status result = state_.create_results.front();
      state_.create_results.pop_front();
      if (!result.ok()) return result;
    }
    response->set_container_id(request->container_id());
    response->set_pid(FakeContainerd::kCreatedPid);
    return grpc::Status::OK;
  }

  grpc::Status Delete(grpc::ServerContext* /*context*/, const cd_tasks::DeleteTaskRequest* request,
                      cd_tasks::DeleteResponse* /*response*/) override {
    std::lock_guard lock(state_.mu);
    ++state_.delete_task_calls;
    if (state_.tasks.erase(request->container_id()) == 0) {
      return {grpc::StatusCode::NOT_FOUND, "task " + request->container_id() + " not found"};
    }
    return grpc::Status::OK;
  }

 private:
  State& state_;
};

void broadcast(State& state, const cd_events::Envelope& envelope) {
  for (auto* queue : state.subscribers) queue->push_back(envelope);
  state.cv.notify_all();
}

class EventsService final : public cd_events::Events::Service {
 public:
  explicit EventsService(State& state) : state_(state) {}

  grpc::Status Publish(grpc::ServerContext* context, const cd_events::PublishRequest* request,
                       google::protobuf::Empty* /*response*/) override {
    cd_events::Envelope envelope;
    auto ns = context->client_metadata().find("containerd-namespace");
    if (ns != context->client_metadata().end()) {
      envelope.set_namespace_(std::string(ns->second.data(), ns->second.size()));
    }
    envelope.set_topic(request->topic());
    *envelope.mutable_event() = request->event();
    std::lock_guard lock(state_.mu);
    broadcast(state_, envelope);
    return grpc::Status::OK;
  }

  // Every event goes to every subscriber: the filters are not looked at.
  grpc::Status Subscribe(grpc::ServerContext* context,
                         const cd_events::SubscribeRequest* /*request*/,
                         grpc::ServerWriter<cd_events::Envelope>* writer) override {
    std::deque<cd_events::Envelope> queue;
    std::unique_lock lock(state_.mu);
    state_.subscribers.push_back(&queue);
    while (!state_.stopping && !context->IsCancelled()) {
      if (queue.empty()) {
        state_.cv.wait_for(lock, std::chrono::milliseconds(20));
        continue;
      }
      cd_events::Envelope envelope = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      bool written = writer->Write(envelope);
      lock.lock();
      if (!written) break;
    }
    std::erase(state_.subscribers, &queue);
    if (state_.stopping) return {grpc::StatusCode::UNAVAILABLE, "containerd is shutting down"};
    return grpc::Status::OK;
  }

 private:
  State& state_;
};

}  // namespace

FakeContainerd::FakeContainerd(const std::string& dir) : socket_path_(dir + "/containerd.sock") {}

FakeContainerd::~FakeContainerd() { stop(); }

bool FakeContainerd::start() {
  if (server_) return true;
  {
    std::lock_guard lock(state_.mu);
    state_.stopping = false;
  }
  ::unlink(socket_path_.c_str());
  services_.clear();
  services_.push_back(std::make_unique<VersionService>());
  services_.push_back(std::make_unique<ContainersService>());
  services_.push_back(std::make_unique<TasksService>(state_));
  services_.push_back(std::make_unique<EventsService>(state_));
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix://" + socket_path_, grpc::InsecureServerCredentials());
  for (auto& service : services_) builder.RegisterService(service.get());
  server_ = builder.BuildAndStart();
  return server_ != nullptr;
}

void FakeContainerd::stop() {
  if (!server_) return;
  {
    std::lock_guard lock(state_.mu);
    state_.stopping = true;
    state_.cv.notify_all();
  }
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_->Wait();
  server_.reset();
  services_.clear();
  ::unlink(socket_path_.c_str());
}

void FakeContainerd::set_task(const std::string& id,
                              const containerd::v1::types::Process& process) {
  std::lock_guard lock(state_.mu);
  state_.tasks[id] = process;
}

void FakeContainerd::queue_create_results(const std::vector<grpc::Status>& results) {
  std::lock_guard lock(state_.mu);
  state_.create_results.insert(state_.create_results.end(), results.begin(), results.end());
}

google::protobuf::Any FakeContainerd::last_create_options() const {
  std::lock_guard lock(state_.mu);
  return state_.last_create_options;
}

int FakeContainerd::create_calls() const {
  std::lock_guard lock(state_.mu);
  return state_.create_calls;
}

int FakeContainerd::delete_task_calls() const {
  std::lock_guard lock(state_.mu);
  return state_.delete_task_calls;
}

void FakeContainerd::publish(const std::string& topic, const std::string& type_url,
                             const google::protobuf::Message& event) {
  cd_events::Envelope envelope;
  envelope.set_topic(topic);
  envelope.mutable_event()->set_type_url(type_url);
  envelope.mutable_event()->set_value(event.SerializeAsString());
  std::lock_guard lock(state_.mu);
  broadcast(state_, envelope);
}

int FakeContainerd::subscribers() const {
  std::lock_guard lock(state_.mu);
  return static_cast<int>(state_.subscribers.size());
}

}  // namespace berth::testing
