#include "runtime/images.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "runtime/content.h"
#include "runtime/reference.h"
#include "runtime/tar.h"

namespace berth::runtime {

namespace {

constexpr std::string_view kLabelUncompressed = "containerd.io/uncompressed";
constexpr std::string_view kLabelSnapshotRef = "containerd.io/snapshot.ref";

std::string gc_snapshot_label() {
  return "containerd.io/gc.ref.snapshot." + std::string(kSnapshotter);
}

std::map<std::string, std::string> manifest_gc_labels(const Manifest& manifest) {
  std::map<std::string, std::string> labels;
  labels["containerd.io/gc.ref.content.config"] = manifest.config.digest;
  for (size_t i = 0; i < manifest.layers.size(); ++i) {
    labels["containerd.io/gc.ref.content.l." + std::to_string(i)] = manifest.layers[i].digest;
  }
  return labels;
}

containerd::types::Descriptor to_proto(const Descriptor& desc) {
  containerd::types::Descriptor out;
  out.set_media_type(desc.media_type);
  out.set_digest(desc.digest);
  out.set_size(desc.size);
  return out;
}

bool is_cancelled(const std::atomic<bool>* cancelled) {
  return cancelled != nullptr && cancelled->load();
}

std::string nanos_now() {
  return std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count());
}

}  // namespace

ImageService::ImageService(Containerd& containerd, RegistryConfig registry, Platform platform)
    : containerd_(containerd), registry_(std::move(registry)), platform_(std::move(platform)) {}

Result<std::string> ImageService::image_name(std::string_view reference) {
  auto ref = BERTH_TRY(parse_image_reference(reference));
  return ref.string();
}

Result<ImageInfo> ImageService::pull(std::string_view reference, const ProgressFn& progress,
                                     const std::atomic<bool>* cancelled) {
  std::string context = "pull '" + std::string(reference) + "'";
  auto ref = BERTH_TRY_CTX(parse_image_reference(reference), context);
  auto endpoints = BERTH_TRY_CTX(registry_endpoints(registry_, ref.domain), context);
  std::string tried;
  for (size_t i = 0; i < endpoints.size(); ++i) {
    auto result = pull_from(endpoints[i], ref, progress, cancelled);
    if (result) return result;
    const Error& error = result.error();
    bool last = i + 1 == endpoints.size();
    // A mirror that lacks the image or is down hands over to the next
    // endpoint; any other failure, or the last endpoint's, is final.
    if (!last && endpoints[i].mirror &&
        (error.code() == ErrorCode::kNotFound || error.code() == ErrorCode::kUnavailable)) {
      tried += "mirror " + endpoints[i].url() + ": " + error.message() + "; ";
      continue;
    }
    return fail(error.with_context(context + (tried.empty() ? "" : " (" + tried + "then)")));
  }
  return fail(ErrorCode::kInternal, context + ": no endpoint");
}

Result<ImageInfo> ImageService::pull_from(const Endpoint& endpoint, const ImageReference& ref,
                                          const ProgressFn& progress,
                                          const std::atomic<bool>* cancelled) {
  std::optional<Credentials> credentials;
  if (!registry_.credentials_file.empty()) {
    auto store = BERTH_TRY(CredentialStore::load(registry_.credentials_file));
    credentials = store.lookup(endpoint.mirror ? endpoint.host : ref.domain);
  }
  RegistryClient client(endpoint, ref.path, credentials);

  // Resolve: one GET of the tag (or digest) gives the top-level document.
  std::string wanted = ref.digest.empty() ? ref.tag : ref.digest;
  auto top = BERTH_TRY(client.get_manifest(wanted));
  std::string top_digest = sha256_digest(top.body);
  if (!ref.digest.empty() && top_digest != ref.digest) {
    return fail(ErrorCode::kDataLoss, "registry " + endpoint.url() +
                                          " returned content with digest " + top_digest + " for " +
                                          ref.digest);
  }
  if (!top.docker_content_digest.empty() && top.docker_content_digest != top_digest) {
    return fail(ErrorCode::kDataLoss, "registry " + endpoint.url() + " says the manifest is " +
                                          top.docker_content_digest + " but it hashes to " +
                                          top_digest);
  }
  Descriptor target;
  target.media_type = BERTH_TRY(detect_manifest_media_type(top.body, top.content_type));
  target.digest = top_digest;
  target.size = static_cast<int64_t>(top.body.size());

  // Only now, with something to store, take a lease.
  auto lease = BERTH_TRY(Lease::create(containerd_, "pull"));
  std::string manifest_body = top.body;
  Descriptor manifest_desc = target;
  if (is_index_media_type(target.media_type)) {
    auto index = BERTH_TRY(parse_index(top.body));
    manifest_desc = BERTH_TRY(select_platform(index, platform_));
    BERTH_TRY(put_blob(containerd_, lease.id(), "index-" + target.digest, top.body, target.digest,
                       {{"containerd.io/gc.ref.content.m.0", manifest_desc.digest}}));
    auto response = BERTH_TRY(client.get_manifest(manifest_desc.digest));
    if (sha256_digest(response.body) != manifest_desc.digest) {
      return fail(ErrorCode::kDataLoss, "manifest " + manifest_desc.digest + " from " +
                                            endpoint.url() + " does not match its digest");
    }
    manifest_body = std::move(response.body);
    if (manifest_desc.media_type.empty()) {
      manifest_desc.media_type =
          BERTH_TRY(detect_manifest_media_type(manifest_body, response.content_type));
    }
  }
  auto manifest = BERTH_TRY(parse_manifest(manifest_body));
  BERTH_TRY(put_blob(containerd_, lease.id(), "manifest-" + manifest_desc.digest, manifest_body,
                     manifest_desc.digest, manifest_gc_labels(manifest)));

  PullProgress state;
  state.total_bytes = manifest.config.size;
  for (const auto& layer : manifest.layers) state.total_bytes += layer.size;
  auto report = [&] {
    if (progress) progress(state);
  };

  // Fetch config and layers that the content store lacks.
  std::vector<Descriptor> blobs{manifest.config};
  blobs.insert(blobs.end(), manifest.layers.begin(), manifest.layers.end());
  std::string config_json;
  for (const auto& blob : blobs) {
    if (is_cancelled(cancelled)) return fail(ErrorCode::kCancelled, "pull cancelled");
    bool is_config = &blob == &blobs.front();
    std::string prefix = is_config ? "config-" : "layer-";
    auto writer = BERTH_TRY(
        ContentWriter::open(containerd_, lease.id(), prefix + blob.digest, blob.digest, blob.size));
    if (writer->already_exists()) {
      // Protect what was already there until the image references it.
      BERTH_TRY(lease.add_resource("content", blob.digest));
    } else {
      if (writer->offset() != 0) writer->restart();
      int64_t since_report = 0;
      std::string* keep = is_config ? &config_json : nullptr;
      BERTH_TRY(client.fetch_blob(blob.digest, [&](std::string_view chunk) -> Status {
        if (is_cancelled(cancelled)) return fail(ErrorCode::kCancelled, "pull cancelled");
        if (keep) keep->append(chunk);
        state.done_bytes += static_cast<int64_t>(chunk.size());
        since_report += static_cast<int64_t>(chunk.size());
        if (since_report >= (1 << 20)) {
          since_report = 0;
          report();
        }
        return writer->write(chunk);
      }));
      BERTH_TRY_CTX(writer->commit(), "blob " + blob.digest);
    }
    if (writer->already_exists()) state.done_bytes += blob.size;
    report();
  }
  if (config_json.empty()) config_json = BERTH_TRY(read_blob(containerd_, manifest.config.digest));
  return store_image(lease, ref.string(), target, manifest, config_json);
}

Result<ImageInfo> ImageService::store_image(Lease& lease, const std::string& name,
                                            const Descriptor& target, const Manifest& manifest,
                                            const std::string& config_json) {
  auto diff_ids = BERTH_TRY(parse_diff_ids(config_json));
  if (diff_ids.size() != manifest.layers.size()) {
    return fail(ErrorCode::kInvalidArgument,
                "image config lists " + std::to_string(diff_ids.size()) + " layers, manifest " +
                    std::to_string(manifest.layers.size()));
  }
  BERTH_TRY(unpack(lease, manifest, diff_ids));
  auto chain = chain_ids(diff_ids);
  if (!chain.empty()) {
    BERTH_TRY(set_blob_labels(containerd_, lease.id(), manifest.config.digest,
                              {{gc_snapshot_label(), chain.back()}}));
  }

  cd_images::CreateImageRequest create;
  auto* image = create.mutable_image();
  image->set_name(name);
  *image->mutable_target() = to_proto(target);
  cd_images::CreateImageResponse created;
  auto ctx = containerd_.context(std::chrono::seconds(60), lease.id());
  auto status = containerd_.stubs().images->Create(ctx.get(), create, &created);
  if (status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
    cd_images::UpdateImageRequest update;
    *update.mutable_image() = create.image();
    update.mutable_update_mask()->add_paths("target");
    cd_images::UpdateImageResponse updated;
    auto uctx = containerd_.context(std::chrono::seconds(60), lease.id());
    status = containerd_.stubs().images->Update(uctx.get(), update, &updated);
  }
  if (!status.ok()) return fail(grpc_error(status, "store image '" + name + "'"));
  BERTH_TRY(lease.release());

  ImageInfo info;
  info.name = name;
  info.target = target;
  info.size = manifest.config.size;
  for (const auto& layer : manifest.layers) info.size += layer.size;
  info.created_unix = std::time(nullptr);
  return info;
}

Status ImageService::unpack(Lease& lease, const Manifest& manifest,
                            const std::vector<std::string>& diff_ids) {
  auto chain = chain_ids(diff_ids);
  for (size_t i = 0; i < chain.size(); ++i) {
    std::string key = "extract-" + nanos_now() + " " + chain[i];
    cd_snapshots::PrepareSnapshotRequest prepare;
    prepare.set_snapshotter(std::string(kSnapshotter));
    prepare.set_key(key);
    if (i > 0) prepare.set_parent(chain[i - 1]);
    (*prepare.mutable_labels())[std::string(kLabelSnapshotRef)] = chain[i];
    cd_snapshots::PrepareSnapshotResponse prepared;
    auto ctx = containerd_.context(std::chrono::seconds(60), lease.id());
    auto status = containerd_.stubs().snapshots->Prepare(ctx.get(), prepare, &prepared);
    if (status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
      // Committed before; containerd 1.6.20 does not add it to our lease.
      BERTH_TRY(lease.add_resource("snapshots/" + std::string(kSnapshotter), chain[i]));
      continue;
    }
    if (!status.ok())
      return fail(grpc_error(status, "prepare snapshot for layer " + std::to_string(i)));

    auto remove_extract = [&] {
      cd_snapshots::RemoveSnapshotRequest remove;
      remove.set_snapshotter(std::string(kSnapshotter));
      remove.set_key(key);
      google::protobuf::Empty empty;
      auto rctx = containerd_.context(std::chrono::seconds(60), lease.id());
      // Best effort: only the lease holds it, and it is collected with it.
      (void)containerd_.stubs().snapshots->Remove(rctx.get(), remove, &empty);
    };

    cd_diff::ApplyRequest apply;
    *apply.mutable_diff() = to_proto(manifest.layers[i]);
    *apply.mutable_mounts() = prepared.mounts();
    cd_diff::ApplyResponse applied;
    auto actx = containerd_.context(std::chrono::minutes(10), lease.id());
    status = containerd_.stubs().diff->Apply(actx.get(), apply, &applied);
    if (!status.ok()) {
      remove_extract();
      return fail(grpc_error(status, "apply layer " + manifest.layers[i].digest));
    }
    if (applied.applied().digest() != diff_ids[i]) {
      remove_extract();
      return fail(ErrorCode::kDataLoss, "layer " + manifest.layers[i].digest + " unpacks to " +
                                            applied.applied().digest() + ", the config says " +
                                            diff_ids[i]);
    }
    cd_snapshots::CommitSnapshotRequest commit;
    commit.set_snapshotter(std::string(kSnapshotter));
    commit.set_name(chain[i]);
    commit.set_key(key);
    google::protobuf::Empty empty;
    auto cctx = containerd_.context(std::chrono::seconds(60), lease.id());
    status = containerd_.stubs().snapshots->Commit(cctx.get(), commit, &empty);
    if (!status.ok()) {
      remove_extract();
      if (status.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
        return fail(grpc_error(status, "commit snapshot " + chain[i]));
      }
    }
    BERTH_TRY(set_blob_labels(containerd_, lease.id(), manifest.layers[i].digest,
                              {{std::string(kLabelUncompressed), diff_ids[i]}}));
  }
  return {};
}

Result<std::vector<ImageInfo>> ImageService::import_oci_tar(
    const std::function<Result<size_t>(char*, size_t)>& read, std::string_view name) {
  auto lease = BERTH_TRY(Lease::create(containerd_, "import"));
  TarReader tar(read);
  std::string index_json;
  bool has_layout = false;
  while (true) {
    auto entry = BERTH_TRY_CTX(tar.next(), "import: read tar");
    if (!entry) break;
    if (entry->type != '0') continue;
    if (entry->path == "index.json" || entry->path == "oci-layout") {
      std::string data;
      char buf[65536];
      while (size_t n = BERTH_TRY(tar.read(buf, sizeof buf))) data.append(buf, n);
      if (entry->path == "index.json")
        index_json = std::move(data);
      else
        has_layout = true;
      continue;
    }
    constexpr std::string_view kBlobs = "blobs/sha256/";
    if (!std::string_view(entry->path).starts_with(kBlobs)) continue;
    std::string digest = "sha256:" + entry->path.substr(kBlobs.size());
    if (!is_sha256_digest(digest)) {
      return fail(ErrorCode::kInvalidArgument, "import: '" + entry->path + "' is not a blob name");
    }
    auto writer = BERTH_TRY(ContentWriter::open(containerd_, lease.id(), "tar-" + digest, digest,
                                                static_cast<int64_t>(entry->size)));
    if (writer->already_exists()) {
      BERTH_TRY(lease.add_resource("content", digest));
      continue;
    }
    if (writer->offset() != 0) writer->restart();
    char buf[1 << 16];
    while (size_t n = BERTH_TRY(tar.read(buf, sizeof buf))) BERTH_TRY(writer->write({buf, n}));
    BERTH_TRY_CTX(writer->commit(), "import blob '" + entry->path + "'");
  }
  if (!has_layout || index_json.empty()) {
    return fail(ErrorCode::kInvalidArgument,
                "import: not an OCI image layout (no oci-layout or index.json in the archive)");
  }
  auto index = BERTH_TRY_CTX(parse_index(index_json), "import: index.json");
  std::vector<ImageInfo> imported;
  for (const auto& entry : index.manifests) {
    std::string image_name;
    if (auto it = entry.annotations.find("io.containerd.image.name");
        it != entry.annotations.end()) {
      image_name = it->second;
    } else if (auto ref = entry.annotations.find("org.opencontainers.image.ref.name");
               ref != entry.annotations.end() && !name.empty()) {
      // A bare tag ("latest") completes the given name's repository.
      auto base = BERTH_TRY(parse_image_reference(name));
      image_name = ref->second.find_first_of("/:") == std::string::npos
                       ? base.repository() + ":" + ref->second
                       : ref->second;
    } else {
      image_name = std::string(name);
    }
    if (image_name.empty()) {
      return fail(ErrorCode::kInvalidArgument,
                  "import: manifest " + entry.digest + " carries no image name; give one");
    }
    image_name = BERTH_TRY_CTX(this->image_name(image_name), "import");
    Descriptor target = entry;
    std::string body = BERTH_TRY_CTX(read_blob(containerd_, target.digest), "import: target");
    if (target.media_type.empty())
      target.media_type = BERTH_TRY(detect_manifest_media_type(body, ""));
    std::string manifest_body = body;
    if (is_index_media_type(target.media_type)) {
      auto nested = BERTH_TRY_CTX(parse_index(body), "import");
      auto chosen =
          BERTH_TRY_CTX(select_platform(nested, platform_), "import '" + image_name + "'");
      BERTH_TRY(set_blob_labels(containerd_, lease.id(), target.digest,
                                {{"containerd.io/gc.ref.content.m.0", chosen.digest}}));
      manifest_body = BERTH_TRY_CTX(read_blob(containerd_, chosen.digest),
                                    "import: manifest for " + platform_.string());
    }
    auto manifest = BERTH_TRY_CTX(parse_manifest(manifest_body), "import");
    BERTH_TRY(set_blob_labels(containerd_, lease.id(), sha256_digest(manifest_body),
                              manifest_gc_labels(manifest)));
    std::string config =
        BERTH_TRY_CTX(read_blob(containerd_, manifest.config.digest), "import: config");
    // store_image releases the lease; keep one per image.
    auto image_lease = BERTH_TRY(Lease::create(containerd_, "import"));
    imported.push_back(BERTH_TRY_CTX(store_image(image_lease, image_name, target, manifest, config),
                                     "import '" + image_name + "'"));
  }
  BERTH_TRY(lease.release());
  return imported;
}

Result<ResolvedImage> ImageService::resolve_target(const std::string& name,
                                                   const Descriptor& target) {
  ResolvedImage resolved;
  resolved.name = name;
  resolved.target_digest = target.digest;
  std::string body = BERTH_TRY(read_blob(containerd_, target.digest));
  std::string type = target.media_type.empty() ? BERTH_TRY(detect_manifest_media_type(body, ""))
                                               : target.media_type;
  if (is_index_media_type(type)) {
    auto index = BERTH_TRY(parse_index(body));
    auto chosen = BERTH_TRY(select_platform(index, platform_));
    body = BERTH_TRY(read_blob(containerd_, chosen.digest));
  }
  resolved.manifest = BERTH_TRY(parse_manifest(body));
  resolved.config_json = BERTH_TRY(read_blob(containerd_, resolved.manifest.config.digest));
  auto chain = chain_ids(BERTH_TRY(parse_diff_ids(resolved.config_json)));
  if (chain.empty()) return fail(ErrorCode::kInvalidArgument, "image '" + name + "' has no layers");
  resolved.top_chain_id = chain.back();
  return resolved;
}

Result<ResolvedImage> ImageService::resolve(std::string_view reference) {
  std::string name = BERTH_TRY(image_name(reference));
  cd_images::GetImageRequest request;
  request.set_name(name);
  cd_images::GetImageResponse response;
  auto ctx = containerd_.context();
  auto status = containerd_.stubs().images->Get(ctx.get(), request, &response);
  if (!status.ok()) return fail(grpc_error(status, "image '" + name + "'"));
  Descriptor target;
  target.media_type = response.image().target().media_type();
  target.digest = response.image().target().digest();
  target.size = response.image().target().size();
  return BERTH_TRY_CTX(resolve_target(name, target), "image '" + name + "'");
}

Result<std::vector<ImageInfo>> ImageService::list() {
  cd_images::ListImagesRequest request;
  cd_images::ListImagesResponse response;
  auto ctx = containerd_.context();
  auto status = containerd_.stubs().images->List(ctx.get(), request, &response);
  if (!status.ok()) return fail(grpc_error(status, "list images"));
  std::vector<ImageInfo> images;
  for (const auto& image : response.images()) {
    ImageInfo info;
    info.name = image.name();
    info.target.media_type = image.target().media_type();
    info.target.digest = image.target().digest();
    info.target.size = image.target().size();
    info.created_unix = image.created_at().seconds();
    if (auto resolved = resolve_target(info.name, info.target)) {
      info.size = resolved->manifest.config.size;
      for (const auto& layer : resolved->manifest.layers) info.size += layer.size;
    }
    images.push_back(std::move(info));
  }
  return images;
}

Status ImageService::remove(std::string_view reference) {
  std::string name = BERTH_TRY_CTX(image_name(reference), "remove image");
  cd_images::DeleteImageRequest request;
  request.set_name(name);
  // Synchronous: content and snapshots only this image held are collected now.
  request.set_sync(true);
  google::protobuf::Empty response;
  auto ctx = containerd_.context(std::chrono::seconds(120));
  auto status = containerd_.stubs().images->Delete(ctx.get(), request, &response);
  if (!status.ok()) return fail(grpc_error(status, "remove image '" + name + "'"));
  return {};
}

}  // namespace berth::runtime
