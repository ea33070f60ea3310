// Network configuration lists: parsing, validation, lookup in a directory,
// and the per-plugin stdin built from them.
#include "cni/config.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <limits>

#include "common/file.h"

namespace berth::cni {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::unexpected<Error> invalid(const std::string& source, const std::string& message) {
  if (source.empty()) return fail(ErrorCode::kInvalidArgument, message);
  return fail(ErrorCode::kInvalidArgument, "'" + source + "': " + message);
}

// A boolean that some tools write as a string ("disableCheck": "true").
Result<bool> read_flag(const json& value, const std::string& field, const std::string& source) {
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_string() && (value == "true" || value == "false")) return value == "true";
  return invalid(source, field + ": expected true or false");
}

}  // namespace

Result<NetworkList> parse_network_list(std::string_view text, const std::string& source) {
  json document = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return invalid(source, "not valid JSON");
  if (!document.is_object()) return invalid(source, "expected a JSON object");

  // A single-plugin .conf: the plugin object is the whole file.
  if (document.contains("type") && !document.contains("plugins")) {
    json list = json::object();
    for (const char* key : {"cniVersion", "name", "disableCheck"}) {
      if (document.contains(key)) list[key] = document[key];
    }
    list["plugins"] = json::array({document});
    document = std::move(list);
  }

  NetworkList list;
  list.source = source;
  const json* version = document.contains("cniVersion") ? &document["cniVersion"] : nullptr;
  if (version == nullptr) return invalid(source, "cniVersion: missing");
  if (!version->is_string() || version->get_ref<const std::string&>().empty()) {
    return invalid(source, "cniVersion: expected a version string");
  }
  list.cni_version = version->get<std::string>();

  if (!document.contains("name")) return invalid(source, "name: missing");
  if (!document["name"].is_string() || document["name"].get_ref<const std::string&>().empty()) {
    return invalid(source, "name: expected a non-empty string");
  }
  list.name = document["name"].get<std::string>();
  // The name becomes part of cache and IPAM file names.
  if (list.name.find('/') != std::string::npos || list.name == "." || list.name == "..") {
    return invalid(source, "name: '" + list.name + "' cannot be a file name");
  }

  if (document.contains("disableCheck")) {
    list.disable_check = BERTH_TRY(read_flag(document["disableCheck"], "disableCheck", source));
  }

  if (!document.contains("plugins")) return invalid(source, "plugins: missing");
  const json& plugins = document["plugins"];
  if (!plugins.is_array()) return invalid(source, "plugins: expected an array");
  if (plugins.empty()) return invalid(source, "plugins: empty");
  for (size_t i = 0; i < plugins.size(); ++i) {
    std::string field = "plugins[" + std::to_string(i) + "]";
    const json& plugin = plugins[i];
    if (!plugin.is_object()) return invalid(source, field + ": expected an object");
    if (!plugin.contains("type")) return invalid(source, field + ".type: missing");
    if (!plugin["type"].is_string() || plugin["type"].get_ref<const std::string&>().empty()) {
      return invalid(source, field + ".type: expected a non-empty string");
    }
    // A plugin type is looked up as a file name in the plugin directories.
    if (plugin["type"].get_ref<const std::string&>().find('/') != std::string::npos) {
      return invalid(source, field + ".type: must not contain '/'");
    }
    if (plugin.contains("capabilities") && !plugin["capabilities"].is_object()) {
      return invalid(source, field + ".capabilities: expected an object");
    }
    list.plugins.push_back(plugin);
  }
  return list;
}

Result<NetworkList> load_network_list(const std::string& conf_dir, const std::string& name) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(conf_dir, ec)) {
    auto extension = entry.path().extension();
    if (extension != ".conflist" && extension != ".conf" && extension != ".json") continue;
    if (!entry.is_regular_file(ec)) continue;
    files.push_back(entry.path());
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return fail(ErrorCode::kInternal, "read '" + conf_dir + "': " + ec.message());
  }
  std::sort(files.begin(), files.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });

  // A broken file does not hide the others; it is named if nothing matched,
  // since it may have been the one meant.
  std::string broken;
  for (const auto& file : files) {
    auto text = read_file(file.string());
    if (!text) {
      if (broken.empty()) broken = text.error().message();
      continue;
    }
    auto list = parse_network_list(*text, file.string());
    if (!list) {
      if (broken.empty()) broken = list.error().message();
      continue;
    }
    if (list->name == name) return list;
  }
  std::string message = "CNI network '" + name + "' not found in " + conf_dir;
  if (!broken.empty()) message += " (skipped " + broken + ")";
  return fail(ErrorCode::kNotFound, message);
}

json to_json(const NetworkList& list) {
  json document = {{"cniVersion", list.cni_version}, {"name", list.name}};
  if (list.disable_check) document["disableCheck"] = true;
  document["plugins"] = list.plugins;
  return document;
}

std::string format_cni_args(const std::vector<std::pair<std::string, std::string>>& args) {
  std::string text;
  bool has_ignore_unknown = std::any_of(
      args.begin(), args.end(), [](const auto& arg) { return arg.first == "IgnoreUnknown"; });
  if (!has_ignore_unknown) text = "IgnoreUnknown=1";
  for (const auto& [key, value] : args) {
    if (!text.empty()) text += ';';
    text += key + "=" + value;
  }
  return text;
}

json capability_args_json(const CapabilityArgs& capabilities) {
  json args = json::object();
  if (!capabilities.port_mappings.empty()) {
    json mappings = json::array();
    for (const auto& mapping : capabilities.port_mappings) {
      json entry = {{"hostPort", mapping.host_port},
                    {"containerPort", mapping.container_port},
                    {"protocol", mapping.protocol}};
      if (!mapping.host_ip.empty()) entry["hostIP"] = mapping.host_ip;
      mappings.push_back(std::move(entry));
    }
    args["portMappings"] = std::move(mappings);
  }
  if (capabilities.bandwidth) {
    const Bandwidth& bandwidth = *capabilities.bandwidth;
    args["bandwidth"] = {{"ingressRate", bandwidth.ingress_rate},
                         {"ingressBurst", bandwidth.ingress_burst},
                         {"egressRate", bandwidth.egress_rate},
                         {"egressBurst", bandwidth.egress_burst}};
  }
  return args;
}

namespace {

template <typename T>
Status read_number(const json& object, const char* key, const std::string& field, T* into) {
  if (!object.contains(key)) return {};
  const json& value = object[key];
  if (!value.is_number_unsigned() || value.get<uint64_t>() > std::numeric_limits<T>::max()) {
    return fail(ErrorCode::kInvalidArgument, field + "." + key + ": expected a port or rate");
  }
  *into = value.get<T>();
  return {};
}

Status read_string(const json& object, const char* key, const std::string& field,
                   std::string* into) {
  if (!object.contains(key)) return {};
  if (!object[key].is_string()) {
    return fail(ErrorCode::kInvalidArgument, field + "." + key + ": expected a string");
  }
  *into = object[key].get<std::string>();
  return {};
}

}  // namespace

Result<CapabilityArgs> parse_capability_args(const json& json_args) {
  CapabilityArgs capabilities;
  if (!json_args.is_object()) {
    return fail(ErrorCode::kInvalidArgument, "capabilityArgs: expected an object");
  }
  if (json_args.contains("portMappings")) {
    const json& mappings = json_args["portMappings"];
    if (!mappings.is_array()) {
      return fail(ErrorCode::kInvalidArgument, "portMappings: expected an array");
    }
    for (size_t i = 0; i < mappings.size(); ++i) {
      std::string field = "portMappings[" + std::to_string(i) + "]";
      if (!mappings[i].is_object()) {
        return fail(ErrorCode::kInvalidArgument, field + ": expected an object");
      }
      PortMapping mapping;
      BERTH_TRY(read_number(mappings[i], "hostPort", field, &mapping.host_port));
      BERTH_TRY(read_number(mappings[i], "containerPort", field, &mapping.container_port));
      BERTH_TRY(read_string(mappings[i], "protocol", field, &mapping.protocol));
      BERTH_TRY(read_string(mappings[i], "hostIP", field, &mapping.host_ip));
      capabilities.port_mappings.push_back(std::move(mapping));
    }
  }
  if (json_args.contains("bandwidth")) {
    const json& value = json_args["bandwidth"];
    if (!value.is_object())
      return fail(ErrorCode::kInvalidArgument, "bandwidth: expected an object");
    Bandwidth bandwidth;
    BERTH_TRY(read_number(value, "ingressRate", "bandwidth", &bandwidth.ingress_rate));
    BERTH_TRY(read_number(value, "ingressBurst", "bandwidth", &bandwidth.ingress_burst));
    BERTH_TRY(read_number(value, "egressRate", "bandwidth", &bandwidth.egress_rate));
    BERTH_TRY(read_number(value, "egressBurst", "bandwidth", &bandwidth.egress_burst));
    capabilities.bandwidth = bandwidth;
  }
  return capabilities;
}

json plugin_config(const NetworkList& list, size_t index, const json& capability_args,
                   const std::optional<json>& prev_result) {
  json config = list.plugins.at(index);
  config["cniVersion"] = list.cni_version;
  config["name"] = list.name;

  // Only what the plugin declares: a plugin may reject runtimeConfig keys
  // it does not know, and each capability is meant for one kind of plugin.
  json runtime_config = json::object();
  if (config.contains("capabilities") && config["capabilities"].is_object()) {
    for (const auto& [capability, enabled] : config["capabilities"].items()) {
      if (enabled == true && capability_args.contains(capability)) {
        runtime_config[capability] = capability_args[capability];
      }
    }
  }
  config.erase("capabilities");
  config.erase("runtimeConfig");
  if (!runtime_config.empty()) config["runtimeConfig"] = std::move(runtime_config);

  config.erase("prevResult");
  if (prev_result) config["prevResult"] = *prev_result;
  return config;
}

int compare_versions(std::string_view a, std::string_view b) {
  auto parts = [](std::string_view version) {
    std::array<int, 3> numbers{};
    for (int& number : numbers) {
      auto [end, ec] = std::from_chars(version.data(), version.data() + version.size(), number);
      if (ec != std::errc()) break;
      version.remove_prefix(end - version.data());
      if (!version.empty() && version.front() == '.') version.remove_prefix(1);
    }
    return numbers;
  };
  auto left = parts(a);
  auto right = parts(b);
  if (left < right) return -1;
  return left == right ? 0 : 1;
}

}  // namespace berth::cni
