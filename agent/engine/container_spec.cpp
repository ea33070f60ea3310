#include "agent/engine/container_spec.h"

#include "agent/network/etc_files.h"
#include "agent/state/paths.h"
#include "common/strings.h"

namespace berth::agent {

namespace {

Status add_settings(const TaskSpec& spec, size_t index, const ContainerContext& context,
                    runtime::ContainerSettings& settings) {
  const TaskDefinition& definition = spec.definition;
  const ContainerDefinition& c = definition.containers[index];
  settings.privileged = c.privileged;
  settings.host_pid = definition.pid_mode == PidMode::kHost;
  settings.host_ipc = definition.ipc_mode == IpcMode::kHost;
  settings.host_network = context.network_mode == NetworkMode::kHost;
  if (definition.pid_mode == PidMode::kTask || definition.ipc_mode == IpcMode::kTask) {
    if (context.sandbox_pid == 0) {
      return fail(ErrorCode::kFailedPrecondition, "the task's sandbox is not running");
    }
    std::string ns_dir = "/proc/" + std::to_string(context.sandbox_pid) + "/ns/";
    if (definition.pid_mode == PidMode::kTask) settings.task_namespaces.pid_path = ns_dir + "pid";
    if (definition.ipc_mode == IpcMode::kTask) {
      settings.task_namespaces.ipc_path = ns_dir + "ipc";
      settings.task_namespaces.shm_source = context.shm_source;
    }
  }
  settings.task_namespaces.ipc_none = definition.ipc_mode == IpcMode::kNone;
  settings.interactive = c.interactive;
  settings.stdin_once = c.interactive && context.foreground;
  if (c.log_driver == "journald") {
    // As Docker's journald driver; the tag defaults to the container's id.
    auto tag = c.log_options.find("tag");
    std::string tag_value = tag == c.log_options.end() ? context.containerd_id : tag->second;
    settings.journal_fields = {
        "CONTAINER_NAME=" + c.name,         "CONTAINER_ID=" + context.containerd_id,
        "CONTAINER_TAG=" + tag_value,       "SYSLOG_IDENTIFIER=" + tag_value,
        "BERTH_TASK_ID=" + context.task_id, "BERTH_TASK_FAMILY=" + definition.family};
  }
  settings.sysctls = c.system_controls;
  settings.no_new_privileges = c.security.no_new_privileges;
  settings.seccomp_unconfined = c.security.seccomp_unconfined;
  for (const auto& u : c.ulimits) {
    settings.ulimits.push_back(
        {u.name, static_cast<uint64_t>(u.soft_limit), static_cast<uint64_t>(u.hard_limit)});
  }
  if (c.linux_parameters) {
    const LinuxParameters& lp = *c.linux_parameters;
    settings.cap_add = lp.capabilities_add;
    settings.cap_drop = lp.capabilities_drop;
    if (lp.shared_memory_size_mib) settings.shm_size_bytes = *lp.shared_memory_size_mib << 20;
    for (const auto& t : lp.tmpfs) {
      settings.tmpfs.push_back({t.container_path, t.size_mib << 20, t.mount_options});
    }
    for (const auto& d : lp.devices) {
      settings.devices.push_back(
          {d.host_path, d.container_path.empty() ? d.host_path : d.container_path, d.permissions});
    }
    if (lp.init_process_enabled) {
      if (!context.init_present) {
        return fail(ErrorCode::kFailedPrecondition, "initProcessEnabled needs '" +
                                                        context.init_path +
                                                        "' (Debian's tini package) on the node");
      }
      settings.init_path = context.init_path;
    }
  }
  // Volumes: a host path, or a directory of the task's own shared by its
  // containers; volumesFrom mounts what another container mounts.
  auto add_mounts = [&](const ContainerDefinition& from, bool force_read_only) -> Status {
    for (const auto& mount : from.mount_points) {
      auto source = context.volume_sources.find(mount.source_volume);
      if (source == context.volume_sources.end()) {
        return fail(ErrorCode::kInvalidArgument, "no volume named '" + mount.source_volume + "'");
      }
      settings.mounts.push_back(
          {source->second, mount.container_path, mount.read_only || force_read_only});
    }
    return {};
  };
  for (const auto& from : c.volumes_from) {
    for (const auto& other : definition.containers) {
      if (other.name == from.source_container) BERTH_TRY(add_mounts(other, from.read_only));
    }
  }
  BERTH_TRY(add_mounts(c, false));
  return {};
}

// The container's hostname, /etc/hosts and /etc/resolv.conf.
std::string add_network_files(const ContainerDefinition& c, const ContainerContext& context,
                              ContainerLaunch& launch) {
  std::string address;
  if (context.network && !context.network->addresses.empty()) {
    address = context.network->addresses.front();
  }
  const NetworkMode mode = context.network_mode;
  std::string hostname;
  if (c.hostname) {
    hostname = *c.hostname;
  } else if (mode == NetworkMode::kAwsvpc) {
    hostname = hostname_for_address(address);  // EC2's ip-10-0-0-5
  } else if (mode == NetworkMode::kHost) {
    hostname = context.node_hostname;
  } else {
    hostname = (context.task_id + "-" + c.name).substr(0, 63);
  }

  std::string hosts;
  std::vector<HostsEntry> entries;
  if (mode == NetworkMode::kHost) {
    hosts = context.node_hosts;
    if (!hosts.empty() && hosts.back() != '\n') hosts += '\n';
  } else {
    if (!address.empty() && !hostname.empty()) {
      HostsEntry self{address, {hostname}};
      if (mode == NetworkMode::kBridge && c.name != hostname) self.names.push_back(c.name);
      entries.push_back(std::move(self));
    }
    for (const auto& link : c.links) {
      auto colon = link.find(':');
      std::string target = link.substr(0, colon);
      auto found = context.container_addresses.find(target);
      if (found == context.container_addresses.end()) continue;
      HostsEntry entry{found->second, {}};
      if (colon != std::string::npos) entry.names.push_back(link.substr(colon + 1));
      entry.names.push_back(target);
      entries.push_back(std::move(entry));
    }
  }
  for (const auto& host : c.extra_hosts) entries.push_back({host.ip_address, {host.hostname}});
  hosts += mode == NetworkMode::kHost ? render_hosts(entries).substr(render_hosts({}).size())
                                      : render_hosts(entries);

  std::string resolv;
  if (mode == NetworkMode::kHost && c.dns_servers.empty() && c.dns_search_domains.empty()) {
    resolv = context.node_resolv_conf;  // the node's own namespace: its resolvers work as they are
  } else {
    resolv = render_resolv_conf(context.node_resolv_conf, c.dns_servers, c.dns_search_domains);
  }
  for (auto [name, text] : {std::pair{"hosts", hosts}, std::pair{"resolv.conf", resolv},
                            std::pair{"hostname", hostname + "\n"}}) {
    std::string path = context.files_dir + "/" + name;
    launch.files.emplace_back(path, std::move(text));
    launch.settings.mounts.push_back({path, "/etc/" + std::string(name), false});
  }
  return hostname;
}

}  // namespace

Result<ContainerLaunch> container_launch(const TaskSpec& spec, size_t index,
                                         const ContainerContext& context) {
  const ContainerDefinition& c = spec.definition.containers[index];
  ContainerLaunch launch;
  BERTH_TRY(add_settings(spec, index, context, launch.settings));
  std::string hostname = add_network_files(c, context, launch);
  auto& overrides = launch.overrides;
  overrides.entrypoint = c.entry_point;
  overrides.command = c.command;
  overrides.env = context.env_from_files;
  // The definition's environment wins over its files, as in ECS.
  for (const auto& kv : c.environment) overrides.env.push_back(kv.name + "=" + kv.value);
  overrides.working_dir = c.working_directory;
  overrides.user = c.user;
  // Host mode: the node's own UTS namespace keeps its name unless asked.
  overrides.hostname = context.network_mode == NetworkMode::kHost && !c.hostname ? "" : hostname;
  overrides.terminal = c.pseudo_terminal;
  overrides.readonly_rootfs = c.readonly_root_filesystem;
  launch.labels = c.docker_labels;
  launch.labels[std::string(kTaskLabel)] = context.task_id;
  launch.labels[std::string(kContainerLabel)] = c.name;
  return launch;
}

std::vector<std::string> parse_environment_file(std::string_view text) {
  std::vector<std::string> env;
  for (auto& line : split(text, '\n')) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    if (line.find('=') == std::string::npos) continue;
    env.push_back(line.substr(first));
  }
  return env;
}

std::string environment_file_path(const EnvironmentFile& file) {
  constexpr std::string_view kFileScheme = "file://";
  if (file.value.starts_with(kFileScheme)) return file.value.substr(kFileScheme.size());
  return file.value;
}

}  // namespace berth::agent
