// berth's local API (proto/berth/v1/berth.proto) over the runtime.
#pragma once

#include <memory>
#include <string>

#include "berth/v1/berth.grpc.pb.h"
#include "runtime/containerd.h"
#include "runtime/containers.h"
#include "runtime/events.h"
#include "runtime/images.h"

namespace berth::agent {

// Maps a berth Error to the gRPC status the client sees.
grpc::Status to_grpc(const Error& error);

class ApiService final : public berth::v1::Berth::Service {
 public:
  ApiService(runtime::Containerd& containerd, runtime::ImageService& images,
             runtime::ContainerService& containers, runtime::EventMonitor& events,
             std::string version);

  grpc::Status Version(grpc::ServerContext* ctx, const v1::VersionRequest* request,
                       v1::VersionResponse* response) override;
  grpc::Status PullImage(grpc::ServerContext* ctx, const v1::PullImageRequest* request,
                         grpc::ServerWriter<v1::PullImageProgress>* writer) override;
  grpc::Status ImportImage(grpc::ServerContext* ctx,
                           grpc::ServerReader<v1::ImportImageChunk>* reader,
                           v1::ImportImageResponse* response) override;
  grpc::Status ListImages(grpc::ServerContext* ctx, const v1::ListImagesRequest* request,
                          v1::ListImagesResponse* response) override;
  grpc::Status RemoveImage(grpc::ServerContext* ctx, const v1::RemoveImageRequest* request,
                           v1::RemoveImageResponse* response) override;
  grpc::Status RunContainer(grpc::ServerContext* ctx, const v1::RunContainerRequest* request,
                            grpc::ServerWriter<v1::RunContainerOutput>* writer) override;

 private:
  runtime::Containerd& containerd_;
  runtime::ImageService& images_;
  runtime::ContainerService& containers_;
  runtime::EventMonitor& events_;
  std::string version_;
};

}  // namespace berth::agent
