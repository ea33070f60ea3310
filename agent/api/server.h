// berth's local API (proto/berth/v1/berth.proto) over the runtime.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/exec/audit.h"
#include "agent/exec/policy.h"
#include "agent/state/paths.h"
#include "agent/state/record.h"
#include "berth/v1/berth.grpc.pb.h"
#include "runtime/containerd.h"
#include "runtime/containers.h"
#include "runtime/events.h"
#include "runtime/exec_session.h"
#include "runtime/images.h"

namespace berth::agent {
class ApiListener;
class Engine;
class UsageSampler;
struct UsageSample;
}  // namespace berth::agent

namespace berth::agent {

// Maps a berth Error to the gRPC status the client sees.
grpc::Status to_grpc(const Error& error);

// A usage sample as WatchStats sends it: the containers of the tasks that
// `tasks` names (ids, id prefixes or names; empty: every task).
v1::StatsSample stats_to_proto(const UsageSample& sample, const std::vector<std::string>& tasks);

class ApiService final : public berth::v1::Berth::Service {
 public:
  ApiService(runtime::Containerd& containerd, runtime::ImageService& images, Engine& engine,
             Paths paths, std::string version, UsageSampler* sampler = nullptr);

  // Where /metrics and introspection are served, for NodeInfo.
  void set_http_addresses(std::string metrics, std::string introspection) {
    metrics_address_ = std::move(metrics);
    introspection_address_ = std::move(introspection);
  }
  // Who calls (the API socket's peer credentials), for the audit log.
  void set_callers(const ApiListener* callers) { callers_ = callers; }
  // The node's exec_policy, the audit log of sessions (null: none), and the
  // containers that debug sessions make (null: no debug sessions).
  void set_exec(ExecPolicy policy, AuditLog* audit, runtime::ContainerService* containers) {
    exec_policy_ = policy;
    audit_ = audit;
    containers_ = containers;
  }

  grpc::Status Version(grpc::ServerContext* ctx, const v1::VersionRequest* request,
                       v1::VersionResponse* response) override;
  grpc::Status NodeInfo(grpc::ServerContext* ctx, const v1::NodeInfoRequest* request,
                        v1::NodeInfoResponse* response) override;
  grpc::Status PullImage(grpc::ServerContext* ctx, const v1::PullImageRequest* request,
                         grpc::ServerWriter<v1::PullImageProgress>* writer) override;
  grpc::Status ImportImage(grpc::ServerContext* ctx,
                           grpc::ServerReader<v1::ImportImageChunk>* reader,
                           v1::ImportImageResponse* response) override;
  grpc::Status ListImages(grpc::ServerContext* ctx, const v1::ListImagesRequest* request,
                          v1::ListImagesResponse* response) override;
  grpc::Status RemoveImage(grpc::ServerContext* ctx, const v1::RemoveImageRequest* request,
                           v1::RemoveImageResponse* response) override;
  // Tasks (agent/api/tasks.cpp).
  grpc::Status RunTask(grpc::ServerContext* ctx, const v1::RunTaskRequest* request,
                       v1::RunTaskResponse* response) override;
  grpc::Status ListTasks(grpc::ServerContext* ctx, const v1::ListTasksRequest* request,
                         v1::ListTasksResponse* response) override;
  grpc::Status DescribeTask(grpc::ServerContext* ctx, const v1::DescribeTaskRequest* request,
                            v1::Task* response) override;
  grpc::Status StopTask(grpc::ServerContext* ctx, const v1::StopTaskRequest* request,
                        v1::StopTaskResponse* response) override;
  grpc::Status RemoveTask(grpc::ServerContext* ctx, const v1::RemoveTaskRequest* request,
                          v1::RemoveTaskResponse* response) override;
  grpc::Status TaskLogs(grpc::ServerContext* ctx, const v1::TaskLogsRequest* request,
                        grpc::ServerWriter<v1::LogEntry>* writer) override;
  grpc::Status WatchEvents(grpc::ServerContext* ctx, const v1::WatchEventsRequest* request,
                           grpc::ServerWriter<v1::Event>* writer) override;
  // agent/api/stats.cpp.
  grpc::Status WatchStats(grpc::ServerContext* ctx, const v1::WatchStatsRequest* request,
                          grpc::ServerWriter<v1::StatsSample>* writer) override;

  // Following a task's output (agent/api/attach.cpp).
  grpc::Status RunAttached(grpc::ServerContext* ctx, const v1::RunTaskRequest* request,
                           grpc::ServerWriter<v1::AttachOutput>* writer) override;
  grpc::Status AttachTask(grpc::ServerContext* ctx, const v1::AttachTaskRequest* request,
                          grpc::ServerWriter<v1::AttachOutput>* writer) override;

  // Sessions: exec (exec.cpp), attach (attach_container.cpp), debug (debug.cpp).
  using SessionStream = grpc::ServerReaderWriter<v1::ExecOutput, v1::ExecInput>;
  grpc::Status Exec(grpc::ServerContext* ctx, SessionStream* stream) override;
  grpc::Status Attach(grpc::ServerContext* ctx, SessionStream* stream) override;
  grpc::Status Debug(grpc::ServerContext* ctx, SessionStream* stream) override;

 private:
  // Follows task `id`'s output to `writer` until the task stopped (then its
  // exit) or the client went away (then, with `stop_on_detach`, the task is
  // stopped).
  grpc::Status follow(grpc::ServerContext* ctx, const std::string& id, bool stop_on_detach,
                      grpc::ServerWriter<v1::AttachOutput>* writer);

  // With require_images: NOT_FOUND naming an image the node lacks.
  grpc::Status check_images(const v1::RunTaskRequest& request);
  // The container a session opens into, once the policy allowed it.
  struct ExecTarget {
    std::string task_id;
    std::string container;
    std::string containerd_id;
    std::string image;         // as the definition names it
    bool interactive = false;  // its definition's interactive
    bool tty = false;          // and pseudoTerminal
    TaskStatus status = TaskStatus::kRunning;
    std::string reason;  // why it stopped
    bool task_stopped = false;
  };
  // kFailedPrecondition for a container not RUNNING, unless not
  // `require_running`; kPermissionDenied when the node's exec_policy
  // refuses the task (unless not `check_policy`: a client's own run).
  Result<ExecTarget> exec_target(const v1::ExecStart& start, bool require_running = true,
                                 bool check_policy = true);
  // A session's audit record as asked for: the caller, the task, the command.
  AuditRecord session_record(grpc::ServerContext* ctx, const v1::ExecStart& start,
                             std::string kind);
  // Writes a session's audit line and tells `berthctl events`.
  void audit(const AuditRecord& record);
  // `record`'s end line, with its outcome.
  void audit_end(AuditRecord& record, std::string outcome, std::optional<int> exit_code,
                 std::string error);
  // Carries a started session's bytes both ways until its process exited
  // (its exit is sent) or the client went away (the process is ended), then
  // writes the end of its audit record.
  grpc::Status serve_session(grpc::ServerContext* ctx, SessionStream* stream,
                             runtime::ExecSession& session, bool tty, AuditRecord& record);

  // Debug containers running now, by task id, for DescribeTask.
  void add_ephemeral(const std::string& task_id, const v1::EphemeralContainer& container);
  void remove_ephemeral(const std::string& task_id, const std::string& name);
  std::vector<v1::EphemeralContainer> ephemeral_of(const std::string& task_id);

  runtime::Containerd& containerd_;
  runtime::ImageService& images_;
  Engine& engine_;
  Paths paths_;
  std::string version_;
  UsageSampler* sampler_;
  std::string metrics_address_;
  std::string introspection_address_;
  const ApiListener* callers_ = nullptr;
  ExecPolicy exec_policy_ = ExecPolicy::kAllow;
  AuditLog* audit_ = nullptr;
  runtime::ContainerService* containers_ = nullptr;
  std::mutex ephemeral_mu_;
  std::map<std::string, std::vector<v1::EphemeralContainer>> ephemeral_;
};

}  // namespace berth::agent
