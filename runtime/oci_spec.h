// OCI runtime spec generation: pure functions from an image config and the
// task's overrides to the spec JSON that Containers.Create carries.
//
// The defaults mirror containerd 1.6's populateDefaultUnixSpec plus
// WithDefaultUnixDevices (oci/spec.go, oci/mounts.go, oci/spec_opts.go), so a
// berth container is exactly as confined as a `ctr run` / nerdctl one.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace berth::runtime {

// PATH given to a container whose environment names none (containerd's
// defaultUnixEnv).
inline constexpr std::string_view kDefaultPathEnv =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// The part of an OCI/Docker image config blob that shapes the process.
struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // KEY=VALUE, in image order
  std::string working_dir;
  std::string user;
  std::map<std::string, std::string> labels;
  std::vector<std::string> exposed_ports;  // "80/tcp", sorted
  std::string stop_signal;                 // "SIGQUIT", "3", ...; "" for SIGTERM
};

// Parses a whole image config blob ({"architecture":..,"config":{..},
// "rootfs":..}) and keeps its "config" object. A missing or null "config" or
// field means empty, as the image spec allows.
Result<ImageConfig> parse_image_config(std::string_view config_json);

// What the task definition says about one container, on top of its image.
struct ContainerOverrides {
  // nullopt = keep the image's; see resolve_args for the Docker rules.
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> command;
  std::vector<std::string> env;  // KEY=VALUE; replaces the image's value for KEY
  std::optional<std::string> working_dir;
  std::optional<std::string> user;  // "uid", "uid:gid", "name", "name:group" (mixes allowed)
  std::string hostname;             // empty = leave the kernel's default in the new UTS ns
  bool terminal = false;
  bool readonly_rootfs = false;
};

struct Rlimit {
  std::string type;  // "RLIMIT_NOFILE"
  uint64_t soft = 0;
  uint64_t hard = 0;
};

struct SpecInputs {
  ImageConfig image;
  ContainerOverrides overrides;
  // "/berth/<task>/<container>" for cgroupfs, "slice:prefix:name" for systemd.
  std::string cgroups_path;
  // Absolute path of a pinned netns to join; empty = a new, empty netns.
  std::string netns_path;
  // berthd's own RLIMIT_NOFILE (getrlimit). berthd lacks CAP_SYS_RESOURCE,
  // so the container's hard limit must not exceed this hard limit.
  Rlimit agent_nofile_limit{"RLIMIT_NOFILE", 0, 0};
  // Contents of the image's /etc/passwd and /etc/group (empty if absent),
  // read by the caller from the rootfs so that this stays free of I/O.
  std::string etc_passwd;
  std::string etc_group;
};

// Builds the complete runtime spec (ociVersion 1.0.2-dev).
Result<nlohmann::json> build_spec(const SpecInputs& inputs);

// Pieces of build_spec, public because exec sessions need the same rules.

// Docker's merge (daemon/create.go): a non-empty entrypoint override drops the
// image's Cmd unless a command is given too; an empty entrypoint override
// clears the image's Entrypoint but keeps its Cmd; an empty command override
// counts as none. Fails if nothing is left to run.
Result<std::vector<std::string>> resolve_args(const ImageConfig& image,
                                              const ContainerOverrides& overrides);

// The image's env (or PATH alone if it has none) with each override replacing
// the entry of the same key or appended; a PATH is added if none results.
Result<std::vector<std::string>> merge_env(const std::vector<std::string>& image_env,
                                           const std::vector<std::string>& overrides);

struct ResolvedUser {
  uint32_t uid = 0;
  uint32_t gid = 0;
  // Always starts with gid (containerd's fix for CVE-2023-25173), followed by
  // the groups of /etc/group that list the user by name.
  std::vector<uint32_t> additional_gids;
};

// Resolves a USER string against the image's passwd/group files. Empty means
// root. A numeric uid absent from passwd gets gid 0, like containerd.
Result<ResolvedUser> resolve_user(std::string_view user, std::string_view etc_passwd,
                                  std::string_view etc_group);

// min(1024, the agent's hard limit) for soft and hard.
Result<Rlimit> container_nofile_limit(const Rlimit& agent_limit);

}  // namespace berth::runtime
