// An in-process stand-in for containerd's gRPC API on a unix socket, with
// only what the unit tests of runtime/ need: Version, Containers.Create and
// Delete, Tasks.Get, Create and Delete, Events.Subscribe and Publish. It can
// be stopped and started again on the same socket, as containerd restarts.
#pragma once

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "github.com/containerd/containerd/api/services/events/v1/events.pb.h"
#include "github.com/containerd/containerd/api/types/task/task.pb.h"

namespace berth::testing {

class FakeContainerd {
 public:
  // Listens on `<dir>/containerd.sock`; `dir` must exist.
  explicit FakeContainerd(const std::string& dir);
  ~FakeContainerd();
  FakeContainerd(const FakeContainerd&) = delete;
  FakeContainerd& operator=(const FakeContainerd&) = delete;

  const std::string& socket_path() const { return socket_path_; }

  // Listens (again); false if the server could not be started.
  bool start();
  // Ends every call and stream and stops listening, as an exiting containerd.
  void stop();

  // Tasks.Get answers with `process` for `id`; without one, NOT_FOUND.
  void set_task(const std::string& id, const containerd::v1::types::Process& process);
  // Tasks.Create answers with these statuses in turn, then OK (pid kCreatedPid).
  void queue_create_results(const std::vector<grpc::Status>& results);
  static constexpr uint32_t kCreatedPid = 4242;
  int create_calls() const;
  // The options (a runc shim's, serialized) of the last Tasks.Create.
  google::protobuf::Any last_create_options() const;
  int delete_task_calls() const;

  // Sends an event to every subscriber, as containerd forwards a shim's.
  void publish(const std::string& topic, const std::string& type_url,
               const google::protobuf::Message& event);
  // Subscribe calls in progress.
  int subscribers() const;

  // What the services share; the services are made anew on every start,
  // since a gRPC service belongs to one server.
  struct State {
    mutable std::mutex mu;
    std::condition_variable cv;
    bool stopping = false;
    std::map<std::string, containerd::v1::types::Process> tasks;
    std::deque<grpc::Status> create_results;
    int create_calls = 0;
    google::protobuf::Any last_create_options;
    int delete_task_calls = 0;
    std::vector<std::deque<containerd::services::events::v1::Envelope>*> subscribers;
  };

 private:
  std::string socket_path_;
  State state_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace berth::testing
