#include "runtime/spec_settings.h"

#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <set>

namespace berth::runtime {

namespace {

using nlohmann::json;

constexpr std::string_view kInitDestination = "/sbin/docker-init";

// Every Linux capability with its number (linux/capability.h).
constexpr auto kCapabilities = std::to_array<std::pair<std::string_view, int>>({
    {"CAP_CHOWN", 0},
    {"CAP_DAC_OVERRIDE", 1},
    {"CAP_DAC_READ_SEARCH", 2},
    {"CAP_FOWNER", 3},
    {"CAP_FSETID", 4},
    {"CAP_KILL", 5},
    {"CAP_SETGID", 6},
    {"CAP_SETUID", 7},
    {"CAP_SETPCAP", 8},
    {"CAP_LINUX_IMMUTABLE", 9},
    {"CAP_NET_BIND_SERVICE", 10},
    {"CAP_NET_BROADCAST", 11},
    {"CAP_NET_ADMIN", 12},
    {"CAP_NET_RAW", 13},
    {"CAP_IPC_LOCK", 14},
    {"CAP_IPC_OWNER", 15},
    {"CAP_SYS_MODULE", 16},
    {"CAP_SYS_RAWIO", 17},
    {"CAP_SYS_CHROOT", 18},
    {"CAP_SYS_PTRACE", 19},
    {"CAP_SYS_PACCT", 20},
    {"CAP_SYS_ADMIN", 21},
    {"CAP_SYS_BOOT", 22},
    {"CAP_SYS_NICE", 23},
    {"CAP_SYS_RESOURCE", 24},
    {"CAP_SYS_TIME", 25},
    {"CAP_SYS_TTY_CONFIG", 26},
    {"CAP_MKNOD", 27},
    {"CAP_LEASE", 28},
    {"CAP_AUDIT_WRITE", 29},
    {"CAP_AUDIT_CONTROL", 30},
    {"CAP_SETFCAP", 31},
    {"CAP_MAC_OVERRIDE", 32},
    {"CAP_MAC_ADMIN", 33},
    {"CAP_SYSLOG", 34},
    {"CAP_WAKE_ALARM", 35},
    {"CAP_BLOCK_SUSPEND", 36},
    {"CAP_AUDIT_READ", 37},
    {"CAP_PERFMON", 38},
    {"CAP_BPF", 39},
    {"CAP_CHECKPOINT_RESTORE", 40},
});

const std::set<std::string, std::less<>>& all_capabilities() {
  static const std::set<std::string, std::less<>> kAll = [] {
    std::set<std::string, std::less<>> all;
    for (const auto& [name, number] : kCapabilities) all.emplace(name);
    return all;
  }();
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
  const auto& held = settings.agent_capabilities;
  for (const auto& name : settings.cap_add) {
    std::string full = BERTH_TRY_CTX(capability(name), "linuxParameters.capabilities.add");
    if (held && !held->contains(full)) {
      return fail(ErrorCode::kInvalidArgument,
                  "linuxParameters.capabilities.add: '" + name +
                      "': berthd does not hold this capability, so no container can have it");
    }
    current.insert(full);
  }
  // What berthd does not hold, runc cannot give: privileged means every
  // capability berthd has (as containerd's and Docker's privileged modes).
  if (held) std::erase_if(current, [&](const std::string& c) { return !held->contains(c); });
  if (settings.privileged) {
    for (const auto& c : all_capabilities()) {
      if (!held || held->contains(c)) current.insert(c);
    }
    spec["linux"]["maskedPaths"] = json::array();
    spec["linux"]["readonlyPaths"] = json::array();
    spec["linux"]["resources"]["devices"] = json::array({{{"allow", true}, {"access", "rwm"}}});
  }
  json list = json::array();
  for (const auto& c : current) list.push_back(c);
  for (const char* set : {"bounding", "effective", "permitted"}) caps[set] = list;
  // Seccomp rules depend on the bounding set, so they come after it.
  if (settings.seccomp_profile && !settings.privileged && !settings.seccomp_unconfined) {
    spec["linux"]["seccomp"] = BERTH_TRY_CTX(
        oci_seccomp(*settings.seccomp_profile, current, settings.seccomp_host), "seccomp");
  }
  spec["process"]["noNewPrivileges"] = settings.no_new_privileges;

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
    // Docker's defaults for --tmpfs; a later "exec" or "suid" wins.
    json options = json::array({"nosuid", "nodev", "noexec"});
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
  std::vector<std::pair<DeviceSetting, bool>> devices;  // the device, and whether it is the node's
  for (const auto& path : settings.host_devices)
    devices.emplace_back(DeviceSetting{path, path, {}}, true);
  for (const auto& device : settings.devices) devices.emplace_back(device, false);
  for (const auto& [device, from_node] : devices) {
    auto entries = device_entries(device);
    // A node's device that went since it was listed is not the user's error.
    if (!entries && from_node) continue;
    if (!entries) return fail(entries.error());
    auto [node, rule] = std::move(*entries);
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

  for (const auto& [key, value] : settings.sysctls) spec["linux"]["sysctl"][key] = value;

  auto& namespaces = spec["linux"]["namespaces"].get_ref<json::array_t&>();
  std::erase_if(namespaces, [&](const json& n) {
    return (settings.host_pid && n["type"] == "pid") || (settings.host_ipc && n["type"] == "ipc") ||
           (settings.host_network && n["type"] == "network");
  });
  BERTH_TRY(apply_task_namespaces(spec, settings.task_namespaces));
  apply_resources(spec, settings.resources);
  return {};
}

std::set<std::string> bounding_capabilities() {
  std::set<std::string> held;
  for (const auto& [name, number] : kCapabilities) {
    if (::prctl(PR_CAPBSET_READ, number, 0, 0, 0) == 1) held.emplace(name);
  }
  return held;
}

std::vector<std::string> host_device_paths(const std::string& dev) {
  static const std::set<std::string, std::less<>> kSkipped = {"pts",    "shm",     "fd",
                                                              "mqueue", "console", "ptmx"};
  std::vector<std::string> paths;
  std::error_code ec;
  namespace fs = std::filesystem;
  fs::recursive_directory_iterator it(dev, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    const std::string name = entry.path().filename().string();
    std::error_code type_ec;
    const bool dir = entry.is_directory(type_ec) && !entry.is_symlink(type_ec);
    if (it.depth() == 0 && kSkipped.contains(name)) {
      if (dir) it.disable_recursion_pending();
      continue;
    }
    if (name.starts_with('.')) {
      if (dir) it.disable_recursion_pending();
      continue;
    }
    auto status = entry.symlink_status(type_ec);
    if (fs::is_character_file(status) || fs::is_block_file(status)) {
      paths.push_back(entry.path().string());
    }
  }
  std::ranges::sort(paths);
  return paths;
}

}  // namespace berth::runtime
