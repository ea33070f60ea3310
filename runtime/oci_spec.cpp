#include "runtime/oci_spec.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <utility>

#include "common/strings.h"

namespace berth::runtime {
namespace {

using nlohmann::json;

// runc refuses ids above MaxInt32 and containerd follows it (WithUser).
constexpr uint64_t kMaxId = std::numeric_limits<int32_t>::max();
// The kernel's HOST_NAME_MAX; runc would only fail later, at sethostname.
constexpr size_t kMaxHostnameBytes = 64;
constexpr uint64_t kDefaultNofile = 1024;

std::string_view json_type_name(const json& value) { return value.type_name(); }

Result<std::vector<std::string>> string_array(const json& config, const char* key) {
  std::vector<std::string> out;
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return out;
  if (!it->is_array()) {
    return fail(ErrorCode::kInvalidArgument, std::string("config.") + key +
                                                 ": expected an array of strings, got " +
                                                 std::string(json_type_name(*it)));
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    if (!item.is_string()) {
      return fail(ErrorCode::kInvalidArgument,
                  std::string("config.") + key + "[" + std::to_string(i) +
                      "]: expected a string, got " + std::string(json_type_name(item)));
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

Result<std::string> string_field(const json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return fail(ErrorCode::kInvalidArgument, std::string("config.") + key +
                                                 ": expected a string, got " +
                                                 std::string(json_type_name(*it)));
  }
  return it->get<std::string>();
}

bool is_decimal(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Digits only; nullopt if not a number or above kMaxId.
std::optional<uint32_t> parse_id(std::string_view s) {
  if (!is_decimal(s)) return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value > kMaxId) return std::nullopt;
  return static_cast<uint32_t>(value);
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

struct PasswdEntry {
  std::string_view name;
  uint32_t uid;
  uint32_t gid;
};

struct GroupEntry {
  std::string_view name;
  uint32_t gid;
  std::vector<std::string_view> members;
};

// Lines that do not parse (comments, NIS "+" entries, garbage) are skipped,
// as runc's user package does; the first match wins.
std::vector<PasswdEntry> parse_passwd(std::string_view text) {
  std::vector<PasswdEntry> entries;
  for (std::string_view line : split(text, '\n')) {
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    auto fields = split(line, ':');
    if (fields.size() < 4 || fields[0].empty()) continue;
    auto uid = parse_id(fields[2]);
    auto gid = parse_id(fields[3]);
    if (!uid || !gid) continue;
    entries.push_back({fields[0], *uid, *gid});
  }
  return entries;
}

std::vector<GroupEntry> parse_group(std::string_view text) {
  std::vector<GroupEntry> entries;
  for (std::string_view line : split(text, '\n')) {
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    auto fields = split(line, ':');
    if (fields.size() < 3 || fields[0].empty()) continue;
    auto gid = parse_id(fields[2]);
    if (!gid) continue;
    GroupEntry entry{fields[0], *gid, {}};
    if (fields.size() >= 4) {
      for (std::string_view member : split(fields[3], ',')) {
        member = trim(member);
        if (!member.empty()) entry.members.push_back(member);
      }
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::string_view env_key(std::string_view entry) { return entry.substr(0, entry.find('=')); }

bool has_env_key(const std::vector<std::string>& env, std::string_view key) {
  return std::any_of(env.begin(), env.end(),
                     [&](const std::string& entry) { return env_key(entry) == key; });
}

Status validate_cgroups_path(std::string_view path) {
  if (path.empty()) {
    // runc would pick a default cgroup of its own, outside berth's hierarchy.
    return fail(ErrorCode::kInvalidArgument, "cgroups path is empty");
  }
  if (path.front() != '/') {
    if (split(path, ':').size() != 3) {
      return fail(ErrorCode::kInvalidArgument,
                  "cgroups path '" + std::string(path) +
                      "': expected an absolute cgroupfs path or systemd 'slice:prefix:name'");
    }
    return {};
  }
  for (std::string_view part : split(path, '/')) {
    if (part == "." || part == "..") {
      return fail(ErrorCode::kInvalidArgument, "cgroups path '" + std::string(path) +
                                                   "': '.' and '..' components are not allowed");
    }
  }
  return {};
}

json default_mounts() {
  auto mount = [](const char* destination, const char* type, const char* source,
                  std::vector<std::string> options) {
    return json{{"destination", destination},
                {"type", type},
                {"source", source},
                {"options", std::move(options)}};
  };
  return json::array({
      mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      mount("/dev/pts", "devpts", "devpts",
            {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
      mount("/run", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
  });
}

json default_capabilities() {
  return json::array({"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                      "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"});
}

json default_devices() {
  auto allow = [](int64_t major, std::optional<int64_t> minor) {
    json device{{"allow", true}, {"type", "c"}, {"major", major}, {"access", "rwm"}};
    // No minor is the wildcard (all of /dev/pts/*).
    if (minor) device["minor"] = *minor;
    return device;
  };
  return json::array({
      json{{"allow", false}, {"access", "rwm"}},  // deny everything not listed below
      allow(1, 3),                                // /dev/null
      allow(1, 8),                                // /dev/random
      allow(1, 7),                                // /dev/full
      allow(5, 0),                                // /dev/tty
      allow(1, 5),                                // /dev/zero
      allow(1, 9),                                // /dev/urandom
      allow(5, 1),                                // /dev/console
      allow(136, std::nullopt),                   // /dev/pts/*
      allow(5, 2),                                // /dev/ptmx
  });
}

json masked_paths() {
  // containerd 1.6.20 (Debian) stops at /proc/scsi; later 1.6.x also masks
  // powercap (energy counters are a side channel). Masking a path that does
  // not exist is a no-op in runc, so the stricter list costs nothing.
  return json::array({"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                      "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                      "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
                      "/sys/devices/virtual/powercap"});
}

json readonly_paths() {
  return json::array({"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"});
}

}  // namespace

Result<ImageConfig> parse_image_config(std::string_view config_json) {
  json blob;
  try {
    blob = json::parse(config_json);
  } catch (const json::exception& e) {
    return fail(ErrorCode::kInvalidArgument,
                std::string("image config is not valid JSON: ") + e.what());
  }
  if (!blob.is_object()) {
    return fail(ErrorCode::kInvalidArgument,
                "image config: expected a JSON object, got " + std::string(json_type_name(blob)));
  }
  ImageConfig image;
  auto config_it = blob.find("config");
  if (config_it == blob.end() || config_it->is_null()) return image;
  const json& config = *config_it;
  if (!config.is_object()) {
    return fail(ErrorCode::kInvalidArgument, "image config: \"config\" must be an object, got " +
                                                 std::string(json_type_name(config)));
  }
  image.entrypoint = BERTH_TRY_CTX(string_array(config, "Entrypoint"), "image config");
  image.cmd = BERTH_TRY_CTX(string_array(config, "Cmd"), "image config");
  image.env = BERTH_TRY_CTX(string_array(config, "Env"), "image config");
  image.working_dir = BERTH_TRY_CTX(string_field(config, "WorkingDir"), "image config");
  image.user = BERTH_TRY_CTX(string_field(config, "User"), "image config");
  image.stop_signal = BERTH_TRY_CTX(string_field(config, "StopSignal"), "image config");

  if (auto it = config.find("Labels"); it != config.end() && !it->is_null()) {
    if (!it->is_object()) {
      return fail(ErrorCode::kInvalidArgument,
                  "image config: config.Labels: expected an object, got " +
                      std::string(json_type_name(*it)));
    }
    for (const auto& [key, value] : it->items()) {
      if (!value.is_string()) {
        return fail(ErrorCode::kInvalidArgument, "image config: config.Labels[\"" + key +
                                                     "\"]: expected a string, got " +
                                                     std::string(json_type_name(value)));
      }
      image.labels.emplace(key, value.get<std::string>());
    }
  }
  if (auto it = config.find("ExposedPorts"); it != config.end() && !it->is_null()) {
    if (!it->is_object()) {
      return fail(ErrorCode::kInvalidArgument,
                  "image config: config.ExposedPorts: expected an object, got " +
                      std::string(json_type_name(*it)));
    }
    // Values are always {} in practice; the keys ("80/tcp") are the data.
    for (const auto& [key, value] : it->items()) image.exposed_ports.push_back(key);
  }
  return image;
}

Result<std::vector<std::string>> resolve_args(const ImageConfig& image,
                                              const ContainerOverrides& overrides) {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd = overrides.command.value_or(std::vector<std::string>{});
  if (!overrides.entrypoint || overrides.entrypoint->empty()) {
    if (cmd.empty()) cmd = image.cmd;
    // An explicitly empty entrypoint is how a user clears the image's one.
    if (!overrides.entrypoint) entrypoint = image.entrypoint;
  } else {
    // The image's Cmd was written as arguments for the image's Entrypoint,
    // so it makes no sense after a different one.
    entrypoint = *overrides.entrypoint;
  }
  std::vector<std::string> args = std::move(entrypoint);
  args.insert(args.end(), cmd.begin(), cmd.end());
  if (args.empty()) {
    return fail(ErrorCode::kInvalidArgument,
                "no command: the image has no Entrypoint or Cmd and none was given");
  }
  if (args.front().empty()) {
    return fail(ErrorCode::kInvalidArgument, "no command: the program to run is an empty string");
  }
  return args;
}

Result<std::vector<std::string>> merge_env(const std::vector<std::string>& image_env,
                                           const std::vector<std::string>& overrides) {
  std::vector<std::string> env =
      image_env.empty() ? std::vector<std::string>{std::string(kDefaultPathEnv)} : image_env;
  for (const std::string& entry : overrides) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      return fail(ErrorCode::kInvalidArgument,
                  "environment entry '" + entry + "': expected KEY=VALUE with a non-empty KEY");
    }
    std::string_view key = env_key(entry);
    auto first = std::find_if(env.begin(), env.end(),
                              [&](const std::string& e) { return env_key(e) == key; });
    if (first == env.end()) {
      env.push_back(entry);
      continue;
    }
    *first = entry;
    // getenv() returns the first match, but drop later duplicates too so that
    // no reader of the environment can see the image's stale value.
    env.erase(std::remove_if(std::next(first), env.end(),
                             [&](const std::string& e) { return env_key(e) == key; }),
              env.end());
  }
  // Without PATH, runc cannot resolve a bare program name such as "sh".
  if (!has_env_key(env, "PATH")) env.insert(env.begin(), std::string(kDefaultPathEnv));
  return env;
}

Result<ResolvedUser> resolve_user(std::string_view user, std::string_view etc_passwd,
                                  std::string_view etc_group) {
  const std::vector<PasswdEntry> passwd = parse_passwd(etc_passwd);
  auto by_uid = [&](uint32_t uid) -> const PasswdEntry* {
    auto it = std::find_if(passwd.begin(), passwd.end(),
                           [&](const PasswdEntry& e) { return e.uid == uid; });
    return it == passwd.end() ? nullptr : &*it;
  };
  auto by_name = [&](std::string_view name) -> const PasswdEntry* {
    auto it = std::find_if(passwd.begin(), passwd.end(),
                           [&](const PasswdEntry& e) { return e.name == name; });
    return it == passwd.end() ? nullptr : &*it;
  };
  const std::vector<GroupEntry> groups = parse_group(etc_group);

  std::string_view spec = user.empty() ? std::string_view("0") : user;
  auto parts = split(spec, ':');
  if (parts.size() > 2 || parts[0].empty() || (parts.size() == 2 && parts[1].empty())) {
    return fail(ErrorCode::kInvalidArgument,
                "user '" + std::string(user) + "': expected uid, uid:gid, name or name:group");
  }

  ResolvedUser resolved;
  const PasswdEntry* entry = nullptr;
  if (is_decimal(parts[0])) {
    auto uid = parse_id(parts[0]);
    if (!uid) {
      return fail(ErrorCode::kInvalidArgument, "user '" + std::string(user) + "': uid " +
                                                   std::string(parts[0]) + " is above " +
                                                   std::to_string(kMaxId));
    }
    resolved.uid = *uid;
    entry = by_uid(*uid);
  } else {
    entry = by_name(parts[0]);
    if (entry == nullptr) {
      return fail(ErrorCode::kInvalidArgument,
                  "user '" + std::string(parts[0]) + "' not found in the image's /etc/passwd");
    }
    resolved.uid = entry->uid;
  }

  if (parts.size() == 2) {
    if (is_decimal(parts[1])) {
      auto gid = parse_id(parts[1]);
      if (!gid) {
        return fail(ErrorCode::kInvalidArgument, "user '" + std::string(user) + "': gid " +
                                                     std::string(parts[1]) + " is above " +
                                                     std::to_string(kMaxId));
      }
      resolved.gid = *gid;
    } else {
      auto it = std::find_if(groups.begin(), groups.end(),
                             [&](const GroupEntry& g) { return g.name == parts[1]; });
      if (it == groups.end()) {
        return fail(ErrorCode::kInvalidArgument,
                    "group '" + std::string(parts[1]) + "' not found in the image's /etc/group");
      }
      resolved.gid = it->gid;
    }
  } else {
    resolved.gid = entry != nullptr ? entry->gid : 0;
  }

  // The primary gid goes first even when nothing else is found: runc then
  // calls setgroups() with it, so no supplementary group leaks in from the
  // runtime (CVE-2023-25173).
  resolved.additional_gids.push_back(resolved.gid);
  std::string_view username = entry != nullptr ? entry->name : std::string_view();
  if (username.empty() && user.empty()) username = "root";  // what containerd looks up
  if (!username.empty()) {
    for (const GroupEntry& group : groups) {
      if (std::find(group.members.begin(), group.members.end(), username) == group.members.end()) {
        continue;
      }
      if (std::find(resolved.additional_gids.begin(), resolved.additional_gids.end(), group.gid) ==
          resolved.additional_gids.end()) {
        resolved.additional_gids.push_back(group.gid);
      }
    }
  }
  return resolved;
}

Result<Rlimit> container_nofile_limit(const Rlimit& agent_limit) {
  if (!agent_limit.type.empty() && agent_limit.type != "RLIMIT_NOFILE") {
    return fail(ErrorCode::kInvalidArgument,
                "agent nofile limit has type '" + agent_limit.type + "', expected RLIMIT_NOFILE");
  }
  if (agent_limit.hard == 0) {
    return fail(ErrorCode::kInvalidArgument,
                "agent RLIMIT_NOFILE hard limit is 0 (not filled in?): the container could not "
                "open any file");
  }
  // Raising a hard limit needs CAP_SYS_RESOURCE, which berthd does not have.
  uint64_t limit = std::min(kDefaultNofile, agent_limit.hard);
  return Rlimit{"RLIMIT_NOFILE", limit, limit};
}

Result<nlohmann::json> build_spec(const SpecInputs& inputs) {
  const ImageConfig& image = inputs.image;
  const ContainerOverrides& overrides = inputs.overrides;

  std::vector<std::string> args = BERTH_TRY(resolve_args(image, overrides));
  std::vector<std::string> env = BERTH_TRY(merge_env(image.env, overrides.env));
  // Programs that drive a terminal need TERM; containerd's WithTTY sets it.
  if (overrides.terminal && !has_env_key(env, "TERM")) env.emplace_back("TERM=xterm");

  std::string cwd = overrides.working_dir.value_or("");
  if (cwd.empty()) cwd = image.working_dir;
  if (cwd.empty()) cwd = "/";
  if (cwd.front() != '/') {
    return fail(ErrorCode::kInvalidArgument,
                "working directory '" + cwd + "' is not an absolute path");
  }

  std::string user_spec = overrides.user.value_or("");
  if (user_spec.empty()) user_spec = image.user;
  ResolvedUser user =
      BERTH_TRY_CTX(resolve_user(user_spec, inputs.etc_passwd, inputs.etc_group), "resolve user");

  Rlimit nofile = BERTH_TRY(container_nofile_limit(inputs.agent_nofile_limit));

  if (overrides.hostname.size() > kMaxHostnameBytes) {
    return fail(ErrorCode::kInvalidArgument, "hostname '" + overrides.hostname +
                                                 "' is longer than " +
                                                 std::to_string(kMaxHostnameBytes) + " bytes");
  }
  BERTH_TRY(validate_cgroups_path(inputs.cgroups_path));
  if (!inputs.netns_path.empty() && inputs.netns_path.front() != '/') {
    return fail(ErrorCode::kInvalidArgument,
                "netns path '" + inputs.netns_path + "' is not an absolute path");
  }

  json network_ns{{"type", "network"}};
  if (!inputs.netns_path.empty()) network_ns["path"] = inputs.netns_path;

  json capabilities = default_capabilities();
  json spec = {
      {"ociVersion", "1.0.2-dev"},
      {"root", {{"path", "rootfs"}, {"readonly", overrides.readonly_rootfs}}},
      {"process",
       {
           {"terminal", overrides.terminal},
           {"user",
            {{"uid", user.uid}, {"gid", user.gid}, {"additionalGids", user.additional_gids}}},
           {"args", args},
           {"env", env},
           {"cwd", cwd},
           {"capabilities",
            {{"bounding", capabilities}, {"permitted", capabilities}, {"effective", capabilities}}},
           {"rlimits",
            json::array({{{"type", nofile.type}, {"hard", nofile.hard}, {"soft", nofile.soft}}})},
           {"noNewPrivileges", false},  // as Docker: setuid binaries work
       }},
      {"mounts", default_mounts()},
      {"linux",
       {
           {"cgroupsPath", inputs.cgroups_path},
           {"namespaces", json::array({{{"type", "pid"}},
                                       {{"type", "ipc"}},
                                       {{"type", "uts"}},
                                       {{"type", "mount"}},
                                       network_ns})},
           {"maskedPaths", masked_paths()},
           {"readonlyPaths", readonly_paths()},
           {"resources", {{"devices", default_devices()}}},
       }},
  };
  if (!overrides.hostname.empty()) spec["hostname"] = overrides.hostname;
  return spec;
}

}  // namespace berth::runtime
