#include "runtime/spec_settings.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <set>

namespace berth::runtime {

namespace {

using nlohmann::json;

constexpr std::string_view kInitDestination = "/sbin/docker-init";

const std::set<std::string, std::less<>>& all_capabilities() {
  static const std::set<std::string, std::less<>> kAll = {
      "CAP_AUDIT_CONTROL",   "CAP_AUDIT_READ",   "CAP_AUDIT_WRITE",
      "CAP_BLOCK_SUSPEND",   "CAP_BPF",          "CAP_CHECKPOINT_RESTORE",
      "CAP_CHOWN",           "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH",
      "CAP_FOWNER",          "CAP_FSETID",       "CAP_IPC_LOCK",
      "CAP_IPC_OWNER",       "CAP_KILL",         "CAP_LEASE",
      "CAP_LINUX_IMMUTABLE", "CAP_MAC_ADMIN",    "CAP_MAC_OVERRIDE",
      "CAP_MKNOD",           "CAP_NET_ADMIN",    "CAP_NET_BIND_SERVICE",
      "CAP_NET_BROADCAST",   "CAP_NET_RAW",      "CAP_PERFMON",
      "CAP_SETFCAP",         "CAP_SETGID",       "CAP_SETPCAP",
      "CAP_SETUID",          "CAP_SYS_ADMIN",    "CAP_SYS_BOOT",
      "CAP_SYS_CHROOT",      "CAP_SYS_MODULE",   "CAP_SYS_NICE",
      "CAP_SYS_PACCT",       "CAP_SYS_PTRACE",   "CAP_SYS_RAWIO",
      "CAP_SYS_RESOURCE",    "CAP_SYS_TIME",     "CAP_SYS_TTY_CONFIG",
      "CAP_SYSLOG",          "CAP_WAKE_ALARM"};
  return kAll;
}

Result<std::string> capability(std::string_view name) {
  std::string full = name.starts_with("CAP_") ? std::string(name) : "CAP_" + std::string(name);
  std::ranges::transform(full, full.begin(), ::toupper);
  if (!all_capabilities().contains(full)) {
    return fail(ErrorCode::kInvalidArgument,
                "capability '" + std::string(name) + "' is not a Linux capability");
  }
  return full;
}

void replace_mount(json& mounts, json mount) {
  const std::string& destination = mount["destination"].get_ref<const std::string&>();
  auto& list = mounts.get_ref<json::array_t&>();
  std::erase_if(list, [&](const json& m) { return m.value("destination", "") == destination; });
  list.push_back(std::move(mount));
}

// The device node at `device.host_path` as a `linux.devices` entry and the
// `linux.resources.devices` rule that lets the container use it.
Result<std::pair<json, json>> device_entries(const DeviceSetting& device) {
  const std::string what = "linuxParameters.devices: hostPath '" + device.host_path + "'";
  struct stat st {};
  if (::stat(device.host_path.c_str(), &st) != 0) return fail_errno(what);
  std::string type;
  if (S_ISCHR(st.st_mode)) {
    type = "c";
  } else if (S_ISBLK(st.st_mode)) {
    type = "b";
  } else {
    return fail(ErrorCode::kInvalidArgument,
                what + " is not a character or block device on this node");
  }
  std::string access = BERTH_TRY_CTX(device_access(device.permissions),
                                     "linuxParameters.devices: '" + device.host_path + "'");
  const auto dev_major = static_cast<int64_t>(major(st.st_rdev));
  const auto dev_minor = static_cast<int64_t>(minor(st.st_rdev));
  json node = {{"path", device.container_path.empty() ? device.host_path : device.container_path},
               {"type", type},
               {"major", dev_major},
               {"minor", dev_minor},
               {"fileMode", st.st_mode & 07777},
               {"uid", st.st_uid},
               {"gid", st.st_gid}};
  json rule = {{"allow", true},
               {"type", type},
               {"major", dev_major},
               {"minor", dev_minor},
               {"access", access}};
  return std::pair{std::move(node), std::move(rule)};
}

}  // namespace

Result<std::string> device_access(const std::vector<std::string>& permissions) {
  if (permissions.empty()) return std::string("rwm");
  bool read = false;
  bool write = false;
  bool mknod = false;
  for (const auto& permission : permissions) {
    if (permission == "read") {
      read = true;
    } else if (permission == "write") {
      write = true;
    } else if (permission == "mknod") {
      mknod = true;
    } else {
      return fail(ErrorCode::kInvalidArgument,
                  "permission '" + permission + "' is not read, write or mknod");
    }
  }
  return std::string(read ? "r" : "") + (write ? "w" : "") + (mknod ? "m" : "");
}

std::optional<std::string> rlimit_name(std::string_view ecs_name) {
  static const std::set<std::string, std::less<>> kNames = {
      "core",   "cpu",   "data", "fsize",  "locks",  "memlock",    "msgqueue", "nice",
      "nofile", "nproc", "rss",  "rtprio", "rttime", "sigpending", "stack"};
  if (!kNames.contains(ecs_name)) return std::nullopt;
  std::string out = "RLIMIT_" + std::string(ecs_name);
  std::ranges::transform(out, out.begin(), ::toupper);
  return out;
}

namespace {

void apply_resources(json& spec, const ResourceSettings& resources) {
  json& r = spec["linux"]["resources"];
  if (resources.cpu_shares) r["cpu"]["shares"] = *resources.cpu_shares;
  if (resources.memory_limit) r["memory"]["limit"] = *resources.memory_limit;
  if (resources.memory_reservation) r["memory"]["reservation"] = *resources.memory_reservation;
  if (resources.memory_swap) r["memory"]["swap"] = *resources.memory_swap;
  if (resources.swappiness) r["memory"]["swappiness"] = *resources.swappiness;
}

}  // namespace

Status apply_container_settings(json& spec, const ContainerSettings& settings) {
  // Capabilities: drop (ALL first), then add; the same set in each list.
  auto& caps = spec["process"]["capabilities"];
  std::set<std::string> current;
  for (const auto& c : caps["bounding"]) current.insert(c.get<std::string>());
  for (const auto& name : settings.cap_drop) {
    if (name == "ALL" || name == "all") {
      current.clear();
      continue;
    }
    current.erase(BERTH_TRY_CTX(capability(name), "linuxParameters.capabilities.drop"));
  }
  for (const auto& name : settings.cap_add) {
    current.insert(BERTH_TRY_CTX(capability(name), "linuxParameters.capabilities.add"));
  }
  if (settings.privileged) {
    current.insert(all_capabilities().begin(), all_capabilities().end());
    spec["linux"]["maskedPaths"] = json::array();
    spec["linux"]["readonlyPaths"] = json::array();
    spec["linux"]["resources"]["devices"] = json::array({{{"allow", true}, {"access", "rwm"}}});
  }
  json list = json::array();
  for (const auto& c : current) list.push_back(c);
  for (const char* set : {"bounding", "effective", "permitted"}) caps[set] = list;

  // Ulimits replace the defaults of the same resource.
  auto& rlimits = spec["process"]["rlimits"];
  for (const auto& limit : settings.ulimits) {
    auto type = rlimit_name(limit.name);
    if (!type) {
      return fail(ErrorCode::kInvalidArgument, "ulimits: '" + limit.name + "' is not a ulimit");
    }
    if (limit.soft > limit.hard) {
      return fail(ErrorCode::kInvalidArgument,
                  "ulimits: " + limit.name + " softLimit exceeds its hardLimit");
    }
    auto own = settings.agent_hard_limits.find(*type);
    if (own != settings.agent_hard_limits.end() && limit.hard > own->second) {
      return fail(ErrorCode::kInvalidArgument,
                  "ulimits: " + limit.name + " hardLimit " + std::to_string(limit.hard) +
                      " is above this node's own limit of " + std::to_string(own->second) +
                      " (berthd cannot raise limits)");
    }
    auto& array = rlimits.get_ref<json::array_t&>();
    std::erase_if(array, [&](const json& r) { return r.value("type", "") == *type; });
    array.push_back({{"type", *type}, {"hard", limit.hard}, {"soft", limit.soft}});
  }

  auto& mounts = spec["mounts"];
  if (settings.shm_size_bytes) {
    replace_mount(mounts, {{"destination", "/dev/shm"},
                           {"type", "tmpfs"},
                           {"source", "shm"},
                           {"options",
                            {"nosuid", "noexec", "nodev", "mode=1777",
                             "size=" + std::to_string(*settings.shm_size_bytes)}}});
  }
  for (const auto& tmpfs : settings.tmpfs) {
    json options = json::array({"nosuid", "nodev"});
    for (const auto& o : tmpfs.options) options.push_back(o);
    options.push_back("size=" + std::to_string(tmpfs.size_bytes));
    replace_mount(mounts, {{"destination", tmpfs.destination},
                           {"type", "tmpfs"},
                           {"source", "tmpfs"},
                           {"options", options}});
  }
  for (const auto& bind : settings.mounts) {
    replace_mount(mounts, {{"destination", bind.destination},
                           {"type", "bind"},
                           {"source", bind.source},
                           {"options", {"rbind", "rprivate", bind.read_only ? "ro" : "rw"}}});
  }
  if (!settings.init_path.empty()) {
    replace_mount(mounts, {{"destination", std::string(kInitDestination)},
                           {"type", "bind"},
                           {"source", settings.init_path},
                           {"options", {"rbind", "rprivate", "ro"}}});
    json args = json::array({std::string(kInitDestination), "--"});
    for (const auto& a : spec["process"]["args"]) args.push_back(a);
    spec["process"]["args"] = args;
  }
  // Devices: a node made in the container's /dev (replacing one at the same
  // path) and a cgroup rule for it, after the defaults' deny-all.
  for (const auto& device : settings.devices) {
    auto [node, rule] = BERTH_TRY(device_entries(device));
    json& nodes = spec["linux"]["devices"];
    if (!nodes.is_array()) nodes = json::array();
    const std::string path = node["path"].get<std::string>();
    std::erase_if(nodes.get_ref<json::array_t&>(),
                  [&](const json& d) { return d.value("path", "") == path; });
    nodes.push_back(std::move(node));
    json& rules = spec["linux"]["resources"]["devices"];
    if (!rules.is_array()) rules = json::array();
    rules.push_back(std::move(rule));
  }

  auto& namespaces = spec["linux"]["namespaces"].get_ref<json::array_t&>();
  std::erase_if(namespaces, [&](const json& n) {
    return (settings.host_pid && n["type"] == "pid") || (settings.host_ipc && n["type"] == "ipc") ||
           (settings.host_network && n["type"] == "network");
  });
  BERTH_TRY(apply_task_namespaces(spec, settings.task_namespaces));
  apply_resources(spec, settings.resources);
  return {};
}

}  // namespace berth::runtime
