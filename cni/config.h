// The pure parts of CNI invocation, apart from the process running: what a
// plugin gets on stdin and in CNI_ARGS, and the cache entry's format. They
// are declared here (not in cni.h) so that tests can check them on strings.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cni/cni.h"
#include "common/error.h"

namespace berth::cni {

// "IgnoreUnknown=1;K=V;...": plugins reject arguments they do not know
// unless IgnoreUnknown is set, and berth passes arguments meant for some
// plugins of a list only.
std::string format_cni_args(const std::vector<std::pair<std::string, std::string>>& args);

// The capability arguments as runtimeConfig spells them; only those that
// are set ({"portMappings": [...], "bandwidth": {...}}).
nlohmann::json capability_args_json(const CapabilityArgs& capabilities);
Result<CapabilityArgs> parse_capability_args(const nlohmann::json& json);

// The stdin of plugin `index` of `list`: the plugin object with the list's
// name and cniVersion, "capabilities" replaced by a "runtimeConfig" holding
// the capability arguments the plugin declares, and prevResult unless
// `prev_result` is empty.
nlohmann::json plugin_config(const NetworkList& list, size_t index,
                             const nlohmann::json& capability_args,
                             const std::optional<nlohmann::json>& prev_result);

// -1, 0 or 1 as spec version `a` ("0.4.0") is below, equal to or above `b`.
int compare_versions(std::string_view a, std::string_view b);

// libcni's "cniCacheV1" record, so that its tools can read berth's cache
// and the other way round.
struct CacheRecord {
  std::string container_id;
  std::string network;
  std::string ifname;
  std::string config;  // the list JSON (base64 in the file)
  std::vector<std::pair<std::string, std::string>> args;
  nlohmann::json capability_args = nlohmann::json::object();
  std::optional<nlohmann::json> result;  // none until ADD has finished
};
nlohmann::json to_json(const CacheRecord& record);
Result<CacheRecord> parse_cache_record(std::string_view text);

// "<network>-<container id>-<ifname>", the cache file's name.
std::string cache_file_name(const std::string& network, const std::string& container_id,
                            const std::string& ifname);

}  // namespace berth::cni
