#include "runtime/manifest.h"

#include <sys/utsname.h>

#include <nlohmann/json.hpp>

#include "common/digest.h"

namespace berth::runtime {

using nlohmann::json;

bool is_index_media_type(std::string_view type) {
  return type == media_type::kOciIndex || type == media_type::kDockerManifestList;
}

bool is_manifest_media_type(std::string_view type) {
  return type == media_type::kOciManifest || type == media_type::kDockerManifest;
}

bool is_supported_layer_media_type(std::string_view type) {
  return type == "application/vnd.oci.image.layer.v1.tar" ||
         type == "application/vnd.oci.image.layer.v1.tar+gzip" ||
         type == "application/vnd.docker.image.rootfs.diff.tar.gzip" ||
         type == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" ||
         type == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}

std::string Platform::string() const {
  std::string out = os + "/" + architecture;
  if (!variant.empty()) out += "/" + variant;
  return out;
}

std::string normalize_architecture(std::string_view arch) {
  if (arch == "x86_64" || arch == "x86-64") return "amd64";
  if (arch == "aarch64") return "arm64";
  if (arch == "i386" || arch == "i686") return "386";
  return std::string(arch);
}

Platform host_platform() {
  struct utsname uts {};
  uname(&uts);
  return Platform{"linux", normalize_architecture(uts.machine), ""};
}

namespace {

Result<json> parse_json(std::string_view text, std::string_view what) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return fail(ErrorCode::kInvalidArgument, std::string(what) + " is not a JSON object");
  }
  return doc;
}

std::string string_field(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<Descriptor> parse_descriptor(const json& obj, std::string_view where) {
  if (!obj.is_object()) {
    return fail(ErrorCode::kInvalidArgument, std::string(where) + ": not an object");
  }
  Descriptor desc;
  desc.media_type = string_field(obj, "mediaType");
  desc.digest = string_field(obj, "digest");
  if (!is_sha256_digest(desc.digest)) {
    return fail(ErrorCode::kInvalidArgument,
                std::string(where) + ".digest: '" + desc.digest + "' is not a sha256 digest");
  }
  auto size = obj.find("size");
  if (size == obj.end() || !size->is_number_integer() || size->get<int64_t>() < 0) {
    return fail(ErrorCode::kInvalidArgument,
                std::string(where) + ".size: missing or not a non-negative integer");
  }
  desc.size = size->get<int64_t>();
  if (auto p = obj.find("platform"); p != obj.end() && p->is_object()) {
    desc.platform =
        Platform{string_field(*p, "os"), normalize_architecture(string_field(*p, "architecture")),
                 string_field(*p, "variant")};
  }
  if (auto a = obj.find("annotations"); a != obj.end() && a->is_object()) {
    for (const auto& [k, v] : a->items()) {
      if (v.is_string()) desc.annotations[k] = v.get<std::string>();
    }
  }
  return desc;
}

}  // namespace

Result<std::string> detect_manifest_media_type(std::string_view body,
                                               std::string_view content_type) {
  // Drop parameters such as "; charset=utf-8".
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && content_type.back() == ' ') content_type.remove_suffix(1);
  if (content_type == media_type::kDockerSchema1 ||
      content_type == "application/vnd.docker.distribution.manifest.v1+json") {
    return fail(ErrorCode::kInvalidArgument,
                "Docker image manifest schema 1 is not supported (deprecated since 2017)");
  }
  if (is_index_media_type(content_type) || is_manifest_media_type(content_type)) {
    return std::string(content_type);
  }
  auto doc = BERTH_TRY_CTX(parse_json(body, "manifest"), "detect manifest type");
  std::string declared = string_field(doc, "mediaType");
  if (is_index_media_type(declared) || is_manifest_media_type(declared)) return declared;
  if (doc.contains("schemaVersion") && doc["schemaVersion"] == 1) {
    return fail(ErrorCode::kInvalidArgument,
                "Docker image manifest schema 1 is not supported (deprecated since 2017)");
  }
  if (doc.contains("manifests")) return std::string(media_type::kOciIndex);
  if (doc.contains("layers") && doc.contains("config")) {
    return std::string(media_type::kOciManifest);
  }
  return fail(ErrorCode::kInvalidArgument,
              "unknown manifest type '" +
                  std::string(content_type.empty() ? declared : content_type) + "'");
}

Result<Index> parse_index(std::string_view json_text) {
  auto doc = BERTH_TRY_CTX(parse_json(json_text, "image index"), "parse image index");
  Index index;
  index.media_type = string_field(doc, "mediaType");
  auto manifests = doc.find("manifests");
  if (manifests == doc.end() || !manifests->is_array()) {
    return fail(ErrorCode::kInvalidArgument, "parse image index: 'manifests' is not an array");
  }
  for (size_t i = 0; i < manifests->size(); ++i) {
    index.manifests.push_back(
        BERTH_TRY_CTX(parse_descriptor((*manifests)[i], "manifests[" + std::to_string(i) + "]"),
                      "parse image index"));
  }
  return index;
}

Result<Manifest> parse_manifest(std::string_view json_text) {
  auto doc = BERTH_TRY_CTX(parse_json(json_text, "image manifest"), "parse image manifest");
  Manifest manifest;
  manifest.media_type = string_field(doc, "mediaType");
  auto config = doc.find("config");
  if (config == doc.end()) {
    return fail(ErrorCode::kInvalidArgument, "parse image manifest: no 'config'");
  }
  manifest.config = BERTH_TRY_CTX(parse_descriptor(*config, "config"), "parse image manifest");
  auto layers = doc.find("layers");
  if (layers == doc.end() || !layers->is_array()) {
    return fail(ErrorCode::kInvalidArgument, "parse image manifest: 'layers' is not an array");
  }
  for (size_t i = 0; i < layers->size(); ++i) {
    auto layer = BERTH_TRY_CTX(parse_descriptor((*layers)[i], "layers[" + std::to_string(i) + "]"),
                               "parse image manifest");
    if (!is_supported_layer_media_type(layer.media_type)) {
      return fail(ErrorCode::kInvalidArgument, "parse image manifest: layers[" + std::to_string(i) +
                                                   "]: media type '" + layer.media_type +
                                                   "' is not supported");
    }
    manifest.layers.push_back(std::move(layer));
  }
  return manifest;
}

Result<Descriptor> select_platform(const Index& index, const Platform& want) {
  std::string offered;
  for (const auto& desc : index.manifests) {
    if (!desc.platform) continue;
    const Platform& p = *desc.platform;
    offered += (offered.empty() ? "" : ", ") + p.string();
    if (p.os != want.os || p.architecture != want.architecture) continue;
    // A variant only narrows the choice when both sides name one.
    if (!want.variant.empty() && !p.variant.empty() && p.variant != want.variant) continue;
    if (!is_manifest_media_type(desc.media_type) && !desc.media_type.empty()) continue;
    return desc;
  }
  return fail(ErrorCode::kNotFound,
              "no manifest for platform " + want.string() +
                  " (the image offers: " + (offered.empty() ? "none" : offered) + ")");
}

Result<std::vector<std::string>> parse_diff_ids(std::string_view config_json) {
  auto doc = BERTH_TRY_CTX(parse_json(config_json, "image config"), "parse image config");
  auto rootfs = doc.find("rootfs");
  if (rootfs == doc.end() || !rootfs->is_object() || !rootfs->contains("diff_ids") ||
      !(*rootfs)["diff_ids"].is_array()) {
    return fail(ErrorCode::kInvalidArgument, "parse image config: no rootfs.diff_ids");
  }
  std::vector<std::string> ids;
  for (const auto& id : (*rootfs)["diff_ids"]) {
    if (!id.is_string() || !is_sha256_digest(id.get<std::string>())) {
      return fail(ErrorCode::kInvalidArgument,
                  "parse image config: rootfs.diff_ids holds a value that is not a sha256 digest");
    }
    ids.push_back(id.get<std::string>());
  }
  return ids;
}

std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids) {
  std::vector<std::string> chain;
  chain.reserve(diff_ids.size());
  for (const auto& diff : diff_ids) {
    chain.push_back(chain.empty() ? diff : sha256_digest(chain.back() + " " + diff));
  }
  return chain;
}

}  // namespace berth::runtime
