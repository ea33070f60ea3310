// ADD / CHECK / DEL / VERSION over a network list, with the result cache.
#include "cni/cni.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "cni/config.h"
#include "cni/exec.h"
#include "common/file.h"
#include "common/strings.h"

namespace berth::cni {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Args = std::vector<std::pair<std::string, std::string>>;

// What every plugin of one list run gets besides its own config.
struct Invocation {
  const NetworkList* list = nullptr;
  std::string command;  // ADD, CHECK, DEL
  std::string container_id;
  std::string netns;
  std::string ifname;
  Args args;
  json capability_args = json::object();
};

std::string label(const std::string& type, const Invocation& invocation) {
  return "CNI plugin '" + type + "' (network '" + invocation.list->name + "') " +
         invocation.command;
}

Result<std::string> find_plugin(const CniConfig& config, const std::string& type) {
  for (const auto& dir : config.plugin_dirs) {
    std::string path = dir + "/" + type;
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
        ::access(path.c_str(), X_OK) == 0) {
      return path;
    }
  }
  return fail(ErrorCode::kNotFound,
              "CNI plugin '" + type + "' not found in " + join(config.plugin_dirs, ":"));
}

ErrorCode code_for(int64_t cni_code) {
  switch (cni_code) {
    case 11:  // "try again later"
      return ErrorCode::kUnavailable;
    case 4:  // invalid network config
    case 7:  // invalid environment variables
      return ErrorCode::kInvalidArgument;
    default:
      return ErrorCode::kInternal;
  }
}

// The spec's error object, if `text` is one.
std::optional<Error> parse_error_json(const std::string& prefix, const std::string& text) {
  json document = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object()) return std::nullopt;
  if (!document.contains("msg") && !document.contains("code")) return std::nullopt;
  std::string msg = document.value("msg", "");
  std::string details = document.value("details", "");
  int64_t code = document.contains("code") && document["code"].is_number_integer()
                     ? document["code"].get<int64_t>()
                     : 0;
  if (msg.empty()) msg = "error code " + std::to_string(code);
  if (!details.empty()) msg += ": " + details;
  return Error(code_for(code), prefix + msg);
}

// A failed plugin's message: its error JSON (skel prints it on stdout,
// the spec says stderr), else whatever it printed, else how it ended.
Error plugin_error(const std::string& prefix, const ProcessOutput& output) {
  std::string out(trim(output.out));
  std::string err(trim(output.err));
  for (const std::string* text : {&out, &err}) {
    if (auto error = parse_error_json(prefix, *text)) return *error;
  }
  std::string status = WIFSIGNALED(output.wait_status)
                           ? "killed by signal " + std::to_string(WTERMSIG(output.wait_status))
                           : "exit status " + std::to_string(WEXITSTATUS(output.wait_status));
  if (!err.empty()) return Error(ErrorCode::kInternal, prefix + err + " (" + status + ")");
  if (!out.empty()) return Error(ErrorCode::kInternal, prefix + out + " (" + status + ")");
  return Error(ErrorCode::kInternal, prefix + status);
}

bool succeeded(const ProcessOutput& output) {
  return WIFEXITED(output.wait_status) && WEXITSTATUS(output.wait_status) == 0;
}

// Runs plugin `index` of the invocation's list; its stdout as JSON (null
// when it printed nothing, as DEL and CHECK do).
Result<json> invoke(const CniConfig& config, const Invocation& invocation, size_t index,
                    const std::optional<json>& prev_result) {
  const std::string& type = invocation.list->plugins[index]["type"].get_ref<const std::string&>();
  std::string prefix = label(type, invocation) + " failed: ";
  std::string path = BERTH_TRY(find_plugin(config, type));
  std::string input =
      plugin_config(*invocation.list, index, invocation.capability_args, prev_result).dump();
  Args env = {{"CNI_COMMAND", invocation.command},
              {"CNI_CONTAINERID", invocation.container_id},
              {"CNI_NETNS", invocation.netns},
              {"CNI_IFNAME", invocation.ifname},
              {"CNI_ARGS", format_cni_args(invocation.args)},
              {"CNI_PATH", join(config.plugin_dirs, ":")}};
  auto output = run_process(path, env, input, config.timeout);
  if (!output) return fail(Error(output.error().code(), prefix + output.error().message()));
  if (!succeeded(*output)) return fail(plugin_error(prefix, *output));
  std::string out(trim(output->out));
  if (out.empty()) return json();
  json document = json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    return fail(ErrorCode::kInternal, prefix + "printed something that is not JSON: " + out);
  }
  return document;
}

// DEL through the list in reverse, past failures; the first one is returned.
Status run_del(const CniConfig& config, const Invocation& invocation,
               const std::optional<json>& prev_result) {
  Status status;
  for (size_t i = invocation.list->plugins.size(); i-- > 0;) {
    auto done = invoke(config, invocation, i, prev_result);
    if (!done && status) status = fail(done.error());
  }
  return status;
}

// A netns that no longer exists is passed as "": the plugins then release
// what they hold outside it (IPAM, iptables) instead of failing to enter it.
std::string netns_for_del(const std::string& netns) {
  if (netns.empty() || ::access(netns.c_str(), F_OK) != 0) return "";
  return netns;
}

Status check_names(const CniConfig& config, const std::string& network,
                   const std::string& container_id, const std::string& ifname) {
  if (config.cache_dir.empty()) {
    return fail(ErrorCode::kInvalidArgument, "CNI: no cache directory configured");
  }
  // All three become parts of a file name.
  auto bad = [](const std::string& name) {
    return name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos;
  };
  if (bad(network))
    return fail(ErrorCode::kInvalidArgument, "CNI: bad network name '" + network + "'");
  if (bad(container_id)) {
    return fail(ErrorCode::kInvalidArgument, "CNI: bad container id '" + container_id + "'");
  }
  // The kernel's limit for an interface name is 15 bytes.
  if (bad(ifname) || ifname.size() > 15) {
    return fail(ErrorCode::kInvalidArgument, "CNI: bad interface name '" + ifname + "'");
  }
  return {};
}

// A list that did not come from parse_network_list may lack what the
// invocation relies on.
Status check_list(const NetworkList& list) {
  if (list.plugins.empty()) {
    return fail(ErrorCode::kInvalidArgument, "CNI network '" + list.name + "': no plugins");
  }
  for (size_t i = 0; i < list.plugins.size(); ++i) {
    const json& plugin = list.plugins[i];
    if (!plugin.is_object() || !plugin.contains("type") || !plugin["type"].is_string()) {
      return fail(ErrorCode::kInvalidArgument, "CNI network '" + list.name + "': plugins[" +
                                                   std::to_string(i) + "].type: missing");
    }
  }
  return {};
}

Status remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail_errno("remove '" + path + "'");
  return {};
}

std::string cache_path(const CniConfig& config, const std::string& network,
                       const std::string& container_id, const std::string& ifname) {
  return config.cache_dir + "/" + cache_file_name(network, container_id, ifname);
}

Status save(const CniConfig& config, const std::string& path, const CacheRecord& record) {
  std::error_code ec;
  fs::create_directories(config.cache_dir, ec);
  if (ec) return fail(ErrorCode::kInternal, "create '" + config.cache_dir + "': " + ec.message());
  return write_atomically(path, to_json(record).dump());
}

// The cache entry at `path`; nullopt if there is none.
Result<std::optional<CacheRecord>> load(const std::string& path) {
  auto text = read_file(path);
  if (!text && text.error().code() == ErrorCode::kNotFound) return std::nullopt;
  if (!text) return fail(text.error());
  auto record = parse_cache_record(*text);
  if (!record) return fail(record.error().with_context("'" + path + "'"));
  return std::optional<CacheRecord>(std::move(*record));
}

}  // namespace

Cni::Cni(CniConfig config) : config_(std::move(config)) {}

Result<CniResult> Cni::add(const NetworkList& list, const Attachment& attachment) {
  BERTH_TRY(check_list(list));
  BERTH_TRY(check_names(config_, list.name, attachment.container_id, attachment.ifname));
  std::string context = "CNI network '" + list.name + "' ADD";
  if (attachment.netns.empty()) return fail(ErrorCode::kInvalidArgument, context + ": no netns");
  Invocation invocation{&list,
                        "ADD",
                        attachment.container_id,
                        attachment.netns,
                        attachment.ifname,
                        attachment.args,
                        capability_args_json(attachment.capabilities)};
  std::string path = cache_path(config_, list.name, attachment.container_id, attachment.ifname);
  CacheRecord record{attachment.container_id,
                     list.name,
                     attachment.ifname,
                     to_json(list).dump(),
                     attachment.args,
                     invocation.capability_args,
                     std::nullopt};
  // Before any plugin runs: an agent killed during the ADD finds this at
  // its next start and can DEL whatever the plugins had done by then.
  BERTH_TRY_CTX(save(config_, path, record), context + ": write cache");

  std::optional<json> prev_result;
  auto undo = [&](Error error) -> std::unexpected<Error> {
    Invocation del = invocation;
    del.command = "DEL";
    // The last result there was, so that DEL sees what the plugins made.
    (void)run_del(config_, del, prev_result);
    (void)remove_file(path);
    return fail(std::move(error));
  };

  for (size_t i = 0; i < list.plugins.size(); ++i) {
    auto output = invoke(config_, invocation, i, prev_result);
    if (!output) return undo(output.error());
    if (output->is_null()) {
      return undo(Error(ErrorCode::kInternal,
                        label(list.plugins[i]["type"].get<std::string>(), invocation) +
                            " failed: it printed no result"));
    }
    prev_result = std::move(*output);
  }
  auto result = parse_result(*prev_result);
  if (!result) {
    return undo(result.error().with_context(
        label(list.plugins.back()["type"].get<std::string>(), invocation)));
  }
  record.result = prev_result;
  if (auto saved = save(config_, path, record); !saved) {
    return undo(saved.error().with_context(context + ": write cache"));
  }
  return result;
}

Status Cni::check(const NetworkList& list, const Attachment& attachment) {
  if (list.disable_check || compare_versions(list.cni_version, "0.4.0") < 0) return {};
  BERTH_TRY(check_list(list));
  BERTH_TRY(check_names(config_, list.name, attachment.container_id, attachment.ifname));
  std::string context = "CNI network '" + list.name + "' CHECK";
  std::string path = cache_path(config_, list.name, attachment.container_id, attachment.ifname);
  auto record = BERTH_TRY_CTX(load(path), context);
  if (!record || !record->result) {
    return fail(ErrorCode::kNotFound,
                context + ": no cached result for '" + attachment.container_id + "'");
  }
  Invocation invocation{&list,
                        "CHECK",
                        attachment.container_id,
                        attachment.netns,
                        attachment.ifname,
                        attachment.args,
                        capability_args_json(attachment.capabilities)};
  for (size_t i = 0; i < list.plugins.size(); ++i) {
    BERTH_TRY(invoke(config_, invocation, i, record->result));
  }
  return {};
}

Status Cni::del(const std::string& network, const std::string& container_id,
                const std::string& ifname, const std::string& netns) {
  BERTH_TRY(check_names(config_, network, container_id, ifname));
  std::string context = "CNI network '" + network + "' DEL";
  std::string path = cache_path(config_, network, container_id, ifname);
  auto record = BERTH_TRY_CTX(load(path), context);
  if (!record) return {};
  NetworkList list = BERTH_TRY_CTX(parse_network_list(record->config, path), context);
  Invocation invocation{&list,  "DEL",        container_id,           netns_for_del(netns),
                        ifname, record->args, record->capability_args};
  BERTH_TRY(run_del(config_, invocation, record->result));
  BERTH_TRY_CTX(remove_file(path), context);
  return {};
}

Status Cni::del(const NetworkList& list, const Attachment& attachment) {
  BERTH_TRY(check_list(list));
  BERTH_TRY(check_names(config_, list.name, attachment.container_id, attachment.ifname));
  std::string path = cache_path(config_, list.name, attachment.container_id, attachment.ifname);
  auto record = load(path);
  if (record && *record && parse_network_list((*record)->config, path)) {
    return del(list.name, attachment.container_id, attachment.ifname, attachment.netns);
  }
  Invocation invocation{&list,
                        "DEL",
                        attachment.container_id,
                        netns_for_del(attachment.netns),
                        attachment.ifname,
                        attachment.args,
                        capability_args_json(attachment.capabilities)};
  std::optional<json> prev_result;
  if (record && *record) prev_result = (*record)->result;
  BERTH_TRY(run_del(config_, invocation, prev_result));
  BERTH_TRY_CTX(remove_file(path), "CNI network '" + list.name + "' DEL");
  return {};
}

Result<std::vector<std::string>> Cni::versions(const std::string& type) {
  std::string prefix = "CNI plugin '" + type + "' VERSION failed: ";
  std::string path = BERTH_TRY(find_plugin(config_, type));
  auto output =
      run_process(path, {{"CNI_COMMAND", "VERSION"}, {"CNI_PATH", join(config_.plugin_dirs, ":")}},
                  R"({"cniVersion":"1.0.0"})", config_.timeout);
  if (!output) return fail(Error(output.error().code(), prefix + output.error().message()));
  if (!succeeded(*output)) return fail(plugin_error(prefix, *output));
  json document = json::parse(output->out, nullptr, /*allow_exceptions=*/false);
  if (!document.is_object() || !document.contains("supportedVersions") ||
      !document["supportedVersions"].is_array()) {
    return fail(ErrorCode::kInternal,
                prefix + "no supportedVersions in " + std::string(trim(output->out)));
  }
  std::vector<std::string> versions;
  for (const auto& version : document["supportedVersions"]) {
    if (version.is_string()) versions.push_back(version.get<std::string>());
  }
  return versions;
}

std::vector<CacheEntry> Cni::cached() const {
  std::vector<CacheEntry> entries;
  std::error_code ec;
  for (const auto& file : fs::directory_iterator(config_.cache_dir, ec)) {
    // A .tmp is a write that never got renamed; the entry it was replacing
    // (if any) is whole and listed under its own name.
    if (file.path().extension() == ".tmp" || !file.is_regular_file(ec)) continue;
    auto text = read_file(file.path().string());
    if (!text) continue;
    auto record = parse_cache_record(*text);
    // A file name can be split more than one way ("a-b-c-d"), so the names
    // come from the JSON; a file that is not an entry is not ours to list.
    if (!record) continue;
    entries.push_back(
        {record->network, record->container_id, record->ifname, file.path().string()});
  }
  std::sort(entries.begin(), entries.end(),
            [](const CacheEntry& a, const CacheEntry& b) { return a.path < b.path; });
  return entries;
}

std::optional<CniResult> Cni::cached_result(const std::string& network,
                                            const std::string& container_id,
                                            const std::string& ifname) const {
  if (!check_names(config_, network, container_id, ifname)) return std::nullopt;
  auto record = load(cache_path(config_, network, container_id, ifname));
  if (!record || !*record || !(*record)->result) return std::nullopt;
  auto result = parse_result(*(*record)->result);
  if (!result) return std::nullopt;
  return std::move(*result);
}

}  // namespace berth::cni
