// Images in containerd: pull from a registry, import an OCI layout tarball,
// unpack into snapshots, list, resolve for running, remove.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "runtime/containerd.h"
#include "runtime/manifest.h"
#include "runtime/reference.h"
#include "runtime/registry.h"

namespace berth::runtime {

struct PullProgress {
  int64_t done_bytes = 0;
  int64_t total_bytes = 0;
};
using ProgressFn = std::function<void(const PullProgress&)>;

struct ImageInfo {
  std::string name;
  Descriptor target;
  int64_t size = 0;  // config and layers of this host's platform
  int64_t created_unix = 0;
};

// An image ready to run: its platform manifest, config, and the snapshot
// (chain ID) a container's rootfs is prepared from.
struct ResolvedImage {
  std::string name;
  std::string target_digest;
  Manifest manifest;
  std::string config_json;
  std::string top_chain_id;
};

class ImageService {
 public:
  ImageService(Containerd& containerd, RegistryConfig registry, Platform platform);

  // Pulls and unpacks an image; `cancelled` is polled between blobs.
  Result<ImageInfo> pull(std::string_view reference, const ProgressFn& progress,
                         const std::atomic<bool>* cancelled = nullptr);

  // Imports an OCI image-layout tarball read through `read`; images are
  // named from the layout's annotations, or `name` when it has none.
  Result<std::vector<ImageInfo>> import_oci_tar(
      const std::function<Result<size_t>(char*, size_t)>& read, std::string_view name);

  Result<std::vector<ImageInfo>> list();
  Result<ResolvedImage> resolve(std::string_view reference);
  Status remove(std::string_view reference);

  // The containerd image name for a user's reference ("busybox" ->
  // "docker.io/library/busybox:latest").
  static Result<std::string> image_name(std::string_view reference);

 private:
  Result<ImageInfo> pull_from(const Endpoint& endpoint, const ImageReference& ref,
                              const ProgressFn& progress, const std::atomic<bool>* cancelled);
  // Writes labels, unpacks layers and names the image; `lease` protects it all.
  Result<ImageInfo> store_image(Lease& lease, const std::string& name, const Descriptor& target,
                                const Manifest& manifest, const std::string& config_json);
  Status unpack(Lease& lease, const Manifest& manifest, const std::vector<std::string>& diff_ids);
  Result<ResolvedImage> resolve_target(const std::string& name, const Descriptor& target);

  Containerd& containerd_;
  RegistryConfig registry_;
  Platform platform_;
};

}  // namespace berth::runtime
