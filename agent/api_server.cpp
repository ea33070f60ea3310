#include "agent/api_server.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include "agent/engine.h"
#include "agent/log_follower.h"

namespace berth::agent {

namespace {

constexpr uint32_t kDefaultStopTimeoutSeconds = 10;

v1::Image to_proto(const runtime::ImageInfo& info) {
  v1::Image image;
  image.set_name(info.name);
  image.set_digest(info.target.digest);
  image.set_media_type(info.target.media_type);
  image.set_size(info.size);
  image.set_created_unix(info.created_unix);
  return image;
}

// An eventfd that one thread signals and another polls.
class Notifier {
 public:
  Notifier() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~Notifier() {
    if (fd_ >= 0) ::close(fd_);
  }
  void notify() {
    uint64_t one = 1;
    (void)!::write(fd_, &one, sizeof one);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

grpc::Status to_grpc(const Error& error) {
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (error.code()) {
    case ErrorCode::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case ErrorCode::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    case ErrorCode::kAlreadyExists:
      code = grpc::StatusCode::ALREADY_EXISTS;
      break;
    case ErrorCode::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    case ErrorCode::kUnauthenticated:
      code = grpc::StatusCode::UNAUTHENTICATED;
      break;
    case ErrorCode::kPermissionDenied:
      code = grpc::StatusCode::PERMISSION_DENIED;
      break;
    case ErrorCode::kDeadlineExceeded:
      code = grpc::StatusCode::DEADLINE_EXCEEDED;
      break;
    case ErrorCode::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case ErrorCode::kCancelled:
      code = grpc::StatusCode::CANCELLED;
      break;
    case ErrorCode::kDataLoss:
      code = grpc::StatusCode::DATA_LOSS;
      break;
    case ErrorCode::kInternal:
      break;
  }
  return grpc::Status(code, error.message());
}

ApiService::ApiService(runtime::Containerd& containerd, runtime::ImageService& images,
                       runtime::ContainerService& containers, runtime::EventMonitor& events,
                       Engine& engine, std::string version)
    : containerd_(containerd),
      images_(images),
      containers_(containers),
      events_(events),
      engine_(engine),
      version_(std::move(version)) {}

grpc::Status ApiService::Version(grpc::ServerContext*, const v1::VersionRequest*,
                                 v1::VersionResponse* response) {
  response->set_berth_version(version_);
  auto version = containerd_.query_version();
  if (!version) return to_grpc(version.error());
  response->set_containerd_version(version->version);
  response->set_containerd_revision(version->revision);
  response->set_namespace_(containerd_.ns());
  return grpc::Status::OK;
}

grpc::Status ApiService::NodeInfo(grpc::ServerContext*, const v1::NodeInfoRequest*,
                                  v1::NodeInfoResponse* response) {
  NodeView view = engine_.node();
  Resources registered = view.node.allocatable();
  Resources left = view.node.remaining(view.used);
  response->set_cgroup_layout(view.cgroup_layout);
  response->set_cgroup_driver(view.cgroup_driver);
  response->set_cpu_total(view.node.total.cpu_units);
  response->set_cpu_reserved(view.node.reserved.cpu_units);
  response->set_cpu_registered(registered.cpu_units);
  response->set_cpu_remaining(left.cpu_units);
  response->set_memory_total(view.node.total.memory_bytes);
  response->set_memory_reserved(view.node.reserved.memory_bytes);
  response->set_memory_registered(registered.memory_bytes);
  response->set_memory_remaining(left.memory_bytes);
  response->set_running_tasks(static_cast<uint32_t>(view.tasks));
  return grpc::Status::OK;
}

grpc::Status ApiService::PullImage(grpc::ServerContext* ctx, const v1::PullImageRequest* request,
                                   grpc::ServerWriter<v1::PullImageProgress>* writer) {
  std::atomic<bool> cancelled{false};
  auto progress = [&](const runtime::PullProgress& p) {
    if (ctx->IsCancelled()) cancelled = true;
    v1::PullImageProgress message;
    message.set_done_bytes(p.done_bytes);
    message.set_total_bytes(p.total_bytes);
    if (!writer->Write(message)) cancelled = true;
  };
  auto image = images_.pull(request->reference(), progress, &cancelled);
  if (!image) {
    spdlog::warn("pull '{}' failed: {}", request->reference(), image.error().message());
    return to_grpc(image.error());
  }
  spdlog::info("pulled '{}' ({})", image->name, image->target.digest);
  v1::PullImageProgress last;
  last.set_done_bytes(image->size);
  last.set_total_bytes(image->size);
  *last.mutable_image() = to_proto(*image);
  writer->Write(last);
  return grpc::Status::OK;
}

grpc::Status ApiService::ImportImage(grpc::ServerContext*,
                                     grpc::ServerReader<v1::ImportImageChunk>* reader,
                                     v1::ImportImageResponse* response) {
  v1::ImportImageChunk chunk;
  bool first = true;
  bool eof = false;
  std::string name;
  std::string pending;
  size_t pending_pos = 0;
  auto read = [&](char* buf, size_t len) -> Result<size_t> {
    while (pending_pos == pending.size()) {
      if (eof || !reader->Read(&chunk)) {
        eof = true;
        return size_t{0};
      }
      if (first) name = chunk.name();
      first = false;
      pending = std::move(*chunk.mutable_data());
      pending_pos = 0;
    }
    size_t n = std::min(len, pending.size() - pending_pos);
    std::copy_n(pending.data() + pending_pos, n, buf);
    pending_pos += n;
    return n;
  };
  // The name travels in the first chunk: read it before the archive starts.
  if (reader->Read(&chunk)) {
    name = chunk.name();
    first = false;
    pending = std::move(*chunk.mutable_data());
  } else {
    eof = true;
  }
  auto images = images_.import_oci_tar(read, name);
  if (!images) {
    spdlog::warn("import failed: {}", images.error().message());
    return to_grpc(images.error());
  }
  for (const auto& image : *images) {
    spdlog::info("imported '{}' ({})", image.name, image.target.digest);
    *response->add_images() = to_proto(image);
  }
  return grpc::Status::OK;
}

grpc::Status ApiService::ListImages(grpc::ServerContext*, const v1::ListImagesRequest*,
                                    v1::ListImagesResponse* response) {
  auto images = images_.list();
  if (!images) return to_grpc(images.error());
  for (const auto& image : *images) *response->add_images() = to_proto(image);
  return grpc::Status::OK;
}

grpc::Status ApiService::RemoveImage(grpc::ServerContext*, const v1::RemoveImageRequest* request,
                                     v1::RemoveImageResponse*) {
  auto removed = images_.remove(request->reference());
  if (!removed) return to_grpc(removed.error());
  spdlog::info("removed image '{}'", request->reference());
  return grpc::Status::OK;
}

grpc::Status ApiService::RunContainer(grpc::ServerContext* ctx,
                                      const v1::RunContainerRequest* request,
                                      grpc::ServerWriter<v1::RunContainerOutput>* writer) {
  auto image = images_.resolve(request->image());
  if (!image && image.error().code() == ErrorCode::kNotFound && request->pull()) {
    auto pulled = images_.pull(request->image(), {});
    if (!pulled) return to_grpc(pulled.error());
    image = images_.resolve(request->image());
  }
  if (!image) {
    if (image.error().code() == ErrorCode::kNotFound) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "image '" + request->image() +
                              "' is not present: pull it first (berthctl image pull " +
                              request->image() + ")");
    }
    return to_grpc(image.error());
  }

  runtime::CreateContainerRequest create;
  create.id = request->name().empty() ? runtime::unique_id("run") : request->name();
  create.image = std::move(*image);
  if (request->entrypoint_set()) {
    create.overrides.entrypoint.emplace(request->entrypoint().begin(), request->entrypoint().end());
  }
  if (request->command_size() > 0) {
    create.overrides.command.emplace(request->command().begin(), request->command().end());
  }
  create.overrides.env.assign(request->env().begin(), request->env().end());
  if (!request->working_dir().empty()) create.overrides.working_dir = request->working_dir();
  if (!request->user().empty()) create.overrides.user = request->user();
  create.labels["berth.run"] = "true";
  const std::string& id = create.id;

  events_.watch(id);
  auto created = containers_.create(create);
  if (!created) {
    events_.unwatch(id);
    spdlog::warn("run '{}': {}", id, created.error().message());
    return to_grpc(created.error());
  }
  spdlog::info("container '{}' created from '{}'", id, create.image.name);

  auto cleanup = [&](bool remove) {
    events_.unwatch(id);
    auto done = remove ? containers_.remove(id) : containers_.delete_task(id);
    if (!done) spdlog::warn("clean up container '{}': {}, ignoring", id, done.error().message());
  };

  auto follower = LogFollower::open(containers_.log_path(id));
  if (!follower) {
    cleanup(true);
    return to_grpc(follower.error());
  }
  v1::RunContainerOutput first;
  first.set_container_id(id);
  writer->Write(first);
  if (auto started = containers_.start(id); !started) {
    cleanup(true);
    return to_grpc(started.error());
  }

  Notifier exited;
  std::optional<runtime::ExitStatus> exit;
  std::thread waiter([&] {
    // Returns on the exit, or when cleanup stops watching.
    exit = events_.wait_exit(id, std::chrono::steady_clock::now() + std::chrono::hours(24 * 365));
    exited.notify();
  });

  bool client_gone = false;
  auto send = [&](const runtime::LogRecord& record) -> Status {
    v1::RunContainerOutput out;
    if (record.stream == runtime::LogStream::kStderr)
      out.set_stderr(record.text);
    else
      out.set_stdout(record.text);
    if (!client_gone && !writer->Write(out)) client_gone = true;
    return {};
  };

  bool stopping = false;
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  uint32_t stop_timeout = request->stop_timeout_seconds() ? request->stop_timeout_seconds()
                                                          : kDefaultStopTimeoutSeconds;
  while (true) {
    (void)follower->drain(send);
    pollfd fds[2] = {{exited.fd(), POLLIN, 0}, {follower->wait_fd(), POLLIN, 0}};
    // The timeout only bounds how late a cancelled call is noticed.
    int ready = ::poll(fds, 2, 200);
    if (ready > 0 && (fds[0].revents & POLLIN)) break;
    if (ready > 0 && (fds[1].revents & POLLIN)) follower->clear_notifications();
    if ((ctx->IsCancelled() || client_gone) && !stopping) {
      stopping = true;
      spdlog::info("run '{}': client went away, stopping the container", id);
      (void)containers_.kill(id, SIGTERM);
      stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(stop_timeout);
    }
    if (stopping && std::chrono::steady_clock::now() >= stop_deadline) {
      (void)containers_.kill(id, SIGKILL);
      stop_deadline = std::chrono::steady_clock::time_point::max();
    }
  }
  waiter.join();

  // Deleting the task makes the shim stop berth-logger once it has written
  // everything; then the file is complete.
  cleanup(request->remove());
  (void)follower->drain(send);
  int code = exit ? static_cast<int>(exit->code) : -1;
  spdlog::info("container '{}' exited with {}{}", id, code,
               request->remove() ? ", removed" : ", task deleted");
  if (stopping) return grpc::Status(grpc::StatusCode::CANCELLED, "run cancelled by the client");
  v1::RunContainerOutput last;
  last.set_exit_code(code);
  writer->Write(last);
  return grpc::Status::OK;
}

}  // namespace berth::agent
