// Parsing a container's linuxParameters: capabilities, devices, tmpfs
// mounts, shared memory and swap.
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "agent/taskdef/parser.h"
#include "agent/taskdef/reader.h"
#include "agent/taskdef/taskdef.h"

namespace berth::agent::taskdef {

namespace {

const std::set<std::string_view> kCapabilities = {
    "AUDIT_CONTROL",   "AUDIT_READ",   "AUDIT_WRITE",
    "BLOCK_SUSPEND",   "BPF",          "CHECKPOINT_RESTORE",
    "CHOWN",           "DAC_OVERRIDE", "DAC_READ_SEARCH",
    "FOWNER",          "FSETID",       "IPC_LOCK",
    "IPC_OWNER",       "KILL",         "LEASE",
    "LINUX_IMMUTABLE", "MAC_ADMIN",    "MAC_OVERRIDE",
    "MKNOD",           "NET_ADMIN",    "NET_BIND_SERVICE",
    "NET_BROADCAST",   "NET_RAW",      "PERFMON",
    "SETFCAP",         "SETGID",       "SETPCAP",
    "SETUID",          "SYS_ADMIN",    "SYS_BOOT",
    "SYS_CHROOT",      "SYS_MODULE",   "SYS_NICE",
    "SYS_PACCT",       "SYS_PTRACE",   "SYS_RAWIO",
    "SYS_RESOURCE",    "SYS_TIME",     "SYS_TTY_CONFIG",
    "SYSLOG",          "WAKE_ALARM"};

const std::set<std::string_view> kTmpfsOptions = {
    "defaults",   "ro",          "rw",         "suid",        "nosuid",        "dev",     "nodev",
    "exec",       "noexec",      "sync",       "async",       "dirsync",       "remount", "mand",
    "nomand",     "atime",       "noatime",    "diratime",    "nodiratime",    "bind",    "rbind",
    "unbindable", "runbindable", "private",    "rprivate",    "shared",        "rshared", "slave",
    "rslave",     "relatime",    "norelatime", "strictatime", "nostrictatime", "mode",    "uid",
    "gid",        "nr_inodes",   "nr_blocks",  "mpol"};

}  // namespace

void Parser::parse_linux_parameters(const json& lp, const std::string& path, LinuxParameters& out) {
  const std::string schema = "containerDefinitions[].linuxParameters";
  check_fields(lp, schema, path);
  if (const json* capabilities = object_field(lp, "capabilities", path)) {
    std::string caps_at = member(path, "capabilities");
    check_fields(*capabilities, schema + ".capabilities", caps_at);
    for (std::string_view which : {"add", "drop"}) {
      auto names = strings_field(*capabilities, which, caps_at);
      if (!names) continue;
      bool add_list = which == "add";
      for (size_t i = 0; i < names->size(); ++i) {
        const std::string& name = (*names)[i];
        std::string at = element(member(caps_at, which), i);
        if (name == "ALL") {
          if (add_list && !policy_.allow_privileged) {
            add(at,
                "adding ALL capabilities amounts to a privileged container, which this node "
                "does not allow (allow_privileged)");
            continue;
          }
        } else if (name.starts_with("CAP_") && kCapabilities.contains(name.substr(4))) {
          add(at, "must be written without the CAP_ prefix: " + quote(name.substr(4)));
          continue;
        } else if (!kCapabilities.contains(name)) {
          add(at, quote(name) + " is not a Linux capability");
          continue;
        }
        (add_list ? out.capabilities_add : out.capabilities_drop).push_back(name);
      }
    }
  }
  each_object(lp, "devices", path, [&](const json& d, const std::string& at, size_t) {
    check_fields(d, schema + ".devices[]", at);
    Device device;
    if (require(d, "hostPath", at)) {
      if (auto host = string_field(d, "hostPath", at)) {
        if (auto allowed = host_path(*host, member(at, "hostPath"))) device.host_path = *allowed;
      }
    }
    if (auto container = string_field(d, "containerPath", at)) {
      if (!container->starts_with('/')) {
        add(member(at, "containerPath"), "must be an absolute path, not " + quote(*container));
      }
      device.container_path = *container;
    }
    if (auto permissions = strings_field(d, "permissions", at)) {
      for (size_t i = 0; i < permissions->size(); ++i) {
        const std::string& permission = (*permissions)[i];
        if (permission != "read" && permission != "write" && permission != "mknod") {
          add(element(member(at, "permissions"), i),
              "must be read, write or mknod, not " + quote(permission));
        }
      }
      device.permissions = *permissions;
    }
    out.devices.push_back(std::move(device));
  });
  out.init_process_enabled = bool_field(lp, "initProcessEnabled", path).value_or(false);
  if (auto size = int_field(lp, "sharedMemorySize", path,
                            {1, std::numeric_limits<int64_t>::max(), " MiB"})) {
    out.shared_memory_size_mib = static_cast<uint64_t>(*size);
  }
  each_object(lp, "tmpfs", path, [&](const json& t, const std::string& at, size_t) {
    check_fields(t, schema + ".tmpfs[]", at);
    Tmpfs tmpfs;
    if (require(t, "containerPath", at)) {
      if (auto container = string_field(t, "containerPath", at)) {
        if (!container->starts_with('/')) {
          add(member(at, "containerPath"), "must be an absolute path, not " + quote(*container));
        }
        tmpfs.container_path = *container;
      }
    }
    if (require(t, "size", at)) {
      tmpfs.size_mib = static_cast<uint64_t>(
          int_field(t, "size", at, {1, std::numeric_limits<int64_t>::max(), " MiB"}).value_or(0));
    }
    if (auto options = strings_field(t, "mountOptions", at)) {
      for (size_t i = 0; i < options->size(); ++i) {
        const std::string& option = (*options)[i];
        if (!kTmpfsOptions.contains(std::string_view(option).substr(0, option.find('=')))) {
          add(element(member(at, "mountOptions"), i),
              quote(option) + " is not a tmpfs mount option ECS accepts");
        }
      }
      tmpfs.mount_options = *options;
    }
    out.tmpfs.push_back(std::move(tmpfs));
  });
  if (auto swap =
          int_field(lp, "maxSwap", path, {0, std::numeric_limits<int64_t>::max(), " MiB"})) {
    out.max_swap_mib = *swap;
  }
  if (auto swappiness = int_field(lp, "swappiness", path, {0, 100, ""})) {
    out.swappiness = static_cast<int32_t>(*swappiness);
  }
}

}  // namespace berth::agent::taskdef
