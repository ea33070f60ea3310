// OCI and Docker image manifests, indexes and configs: parsing, platform
// selection and layer chain IDs. Pure functions over JSON text.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace berth::runtime {

namespace media_type {
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerSchema1 =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
}  // namespace media_type

// What a registry is asked to return for a manifest reference.
inline constexpr std::string_view kManifestAccept =
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.oci.image.index.v1+json, */*";

bool is_index_media_type(std::string_view type);
bool is_manifest_media_type(std::string_view type);
// Layers berth can unpack: tar, with or without gzip.
bool is_supported_layer_media_type(std::string_view type);

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;
  std::string string() const;  // "linux/arm64/v8"
};

// The platform of this host in OCI terms (linux/amd64 here).
Platform host_platform();
// Maps kernel machine names to OCI architectures: x86_64 -> amd64, aarch64 -> arm64.
std::string normalize_architecture(std::string_view arch);

struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
  std::optional<Platform> platform;
  std::map<std::string, std::string> annotations;
};

struct Index {
  std::string media_type;
  std::vector<Descriptor> manifests;
};

struct Manifest {
  std::string media_type;
  Descriptor config;
  std::vector<Descriptor> layers;
};

// The media type of a manifest-like document: the server's Content-Type when
// it is specific, else the document's own mediaType field, else its shape.
// Docker schema 1 is refused by name.
Result<std::string> detect_manifest_media_type(std::string_view body,
                                               std::string_view content_type);

Result<Index> parse_index(std::string_view json_text);
Result<Manifest> parse_manifest(std::string_view json_text);

// Picks the manifest for a platform from an index; the error lists what the
// index offers.
Result<Descriptor> select_platform(const Index& index, const Platform& want);

// The uncompressed layer digests (rootfs.diff_ids) of an image config.
Result<std::vector<std::string>> parse_diff_ids(std::string_view config_json);

// Chain IDs of each layer prefix: chain[0] = diff[0],
// chain[i] = sha256(chain[i-1] + " " + diff[i]).
std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids);

}  // namespace berth::runtime
