#include "agent/api/server.h"

#include <spdlog/spdlog.h>

#include "agent/engine/engine.h"

namespace berth::agent {

namespace {

v1::Image to_proto(const runtime::ImageInfo& info) {
  v1::Image image;
  image.set_name(info.name);
  image.set_digest(info.target.digest);
  image.set_media_type(info.target.media_type);
  image.set_size(info.size);
  image.set_created_unix(info.created_unix);
  return image;
}

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
                       Engine& engine, Paths paths, std::string version, UsageSampler* sampler)
    : containerd_(containerd),
      images_(images),
      engine_(engine),
      paths_(std::move(paths)),
      version_(std::move(version)),
      sampler_(sampler) {}

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
  response->set_shutting_down(view.shutting_down);
  response->set_cpu_total(view.node.total.cpu_units);
  response->set_cpu_reserved(view.node.reserved.cpu_units);
  response->set_cpu_registered(registered.cpu_units);
  response->set_cpu_remaining(left.cpu_units);
  response->set_memory_total(view.node.total.memory_bytes);
  response->set_memory_reserved(view.node.reserved.memory_bytes);
  response->set_memory_registered(registered.memory_bytes);
  response->set_memory_remaining(left.memory_bytes);
  response->set_running_tasks(static_cast<uint32_t>(view.tasks));
  response->set_metrics_address(metrics_address_);
  response->set_introspection_address(introspection_address_);
  response->set_default_network_mode(std::string(network_mode_name(view.default_network_mode)));
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

}  // namespace berth::agent
