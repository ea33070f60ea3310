// The on-disk cache of attachments, in libcni's "cniCacheV1" format.
#include "cni/config.h"
#include "common/base64.h"

namespace berth::cni {
namespace {

using nlohmann::json;
constexpr const char* kCacheKind = "cniCacheV1";

std::unexpected<Error> invalid(const std::string& message) {
  return fail(ErrorCode::kInvalidArgument, "CNI cache entry: " + message);
}

Result<std::string> read_string(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string())
    return invalid(std::string(key) + ": expected a string");
  return it->get<std::string>();
}

}  // namespace

json to_json(const CacheRecord& record) {
  json document = {{"kind", kCacheKind},
                   {"containerId", record.container_id},
                   {"config", base64_encode(record.config)},
                   {"ifName", record.ifname},
                   {"networkName", record.network}};
  // libcni leaves out what is empty (Go's omitempty).
  if (!record.args.empty()) {
    json args = json::array();
    for (const auto& [key, value] : record.args) args.push_back({key, value});
    document["cniArgs"] = std::move(args);
  }
  if (record.capability_args.is_object() && !record.capability_args.empty()) {
    document["capabilityArgs"] = record.capability_args;
  }
  if (record.result) document["result"] = *record.result;
  return document;
}

Result<CacheRecord> parse_cache_record(std::string_view text) {
  json document = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object()) return invalid("not a JSON object");
  if (document.value("kind", "") != kCacheKind) return invalid("kind: expected cniCacheV1");
  CacheRecord record;
  record.container_id = BERTH_TRY(read_string(document, "containerId"));
  record.network = BERTH_TRY(read_string(document, "networkName"));
  record.ifname = BERTH_TRY(read_string(document, "ifName"));
  // Go encodes []byte as base64; an entry without a config (written by an
  // old libcni) has nothing to DEL with, which callers learn from "".
  if (document.contains("config") && !document["config"].is_null()) {
    std::string encoded = BERTH_TRY(read_string(document, "config"));
    record.config = BERTH_TRY_CTX(base64_decode(encoded), "CNI cache entry: config");
  }
  if (document.contains("cniArgs") && !document["cniArgs"].is_null()) {
    const json& args = document["cniArgs"];
    if (!args.is_array()) return invalid("cniArgs: expected an array of pairs");
    for (const auto& pair : args) {
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
        return invalid("cniArgs: expected an array of pairs");
      }
      record.args.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
    }
  }
  if (document.contains("capabilityArgs") && !document["capabilityArgs"].is_null()) {
    if (!document["capabilityArgs"].is_object())
      return invalid("capabilityArgs: expected an object");
    record.capability_args = document["capabilityArgs"];
  }
  if (document.contains("result") && !document["result"].is_null()) {
    record.result = document["result"];
  }
  return record;
}

std::string cache_file_name(const std::string& network, const std::string& container_id,
                            const std::string& ifname) {
  return network + "-" + container_id + "-" + ifname;
}

}  // namespace berth::cni
