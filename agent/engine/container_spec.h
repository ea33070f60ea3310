// A container definition, as containerd is asked to create it: the runtime
// settings (namespaces, mounts, capabilities, limits, devices), the image
// config overrides (command, environment, user, hostname) and the /etc
// files it gets. Pure: what it needs from the host (the node's resolv.conf
// and hosts, environment files, volume directories, the sandbox's pid) is
// gathered by the caller (agent/engine/resources/container.h) and passed in.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/engine/spec.h"
#include "agent/network/attachment.h"
#include "common/error.h"
#include "runtime/oci_spec.h"
#include "runtime/spec_settings.h"

namespace berth::agent {

struct ContainerContext {
  std::string task_id;
  std::string containerd_id;
  NetworkMode network_mode = NetworkMode::kBridge;
  // The namespace it joins: the task's (awsvpc) or its own (bridge).
  std::optional<NetworkAttachment> network;
  // Bridge: other containers' addresses by name, for links.
  std::map<std::string, std::string> container_addresses;
  // pidMode/ipcMode task: the sandbox's pid and the task's /dev/shm.
  uint32_t sandbox_pid = 0;
  std::string shm_source;
  // Host facts.
  std::string init_path;                              // a static init (initProcessEnabled)
  bool init_present = false;                          // whether the node has it
  std::string node_hostname;                          // host mode
  std::string node_hosts;                             // host mode: the node's /etc/hosts
  std::string node_resolv_conf;                       // the node's /etc/resolv.conf
  std::vector<std::string> env_from_files;            // KEY=VALUE, read from environmentFiles
  std::map<std::string, std::string> volume_sources;  // volume name -> host directory
  std::string files_dir;  // where its hosts, resolv.conf and hostname are written
  // A foreground run's (berthctl run -i): its stdin closes with the client's.
  bool foreground = false;
};

struct ContainerLaunch {
  runtime::ContainerSettings settings;  // without resources (the cgroup manager's)
  runtime::ContainerOverrides overrides;
  std::map<std::string, std::string> labels;
  // Files to write before the container is created (its /etc files),
  // by host path; the settings mount them.
  std::vector<std::pair<std::string, std::string>> files;
};

Result<ContainerLaunch> container_launch(const TaskSpec& spec, size_t index,
                                         const ContainerContext& context);

// KEY=VALUE lines of an environment file as Docker's --env-file reads them:
// blank lines and # comments skipped, a bare KEY ignored.
std::vector<std::string> parse_environment_file(std::string_view text);
// The node path an environmentFiles entry names ("file:///etc/x" or "/etc/x").
std::string environment_file_path(const EnvironmentFile& file);

}  // namespace berth::agent
