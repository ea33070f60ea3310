// Amazon ECS task definitions (the RegisterTaskDefinition JSON) as a typed
// model, and their validation.
//
// parse_task_definition accepts the bare RegisterTaskDefinition object and
// the {"taskDefinition": {...}} wrapper that describe-task-definition prints.
// Every problem is reported, each as a JSON path and a reason:
//   containerDefinitions[1].dependsOn[0].containerName: no container named "db"
// Fields berth cannot honour are refused by name; docs/task-definitions.md
// lists every field as supported, mapped or refused.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace berth::agent {

// How a task's containers are networked (networkMode).
enum class NetworkMode { kBridge, kAwsvpc, kHost, kNone };
// The ECS name: "bridge", "awsvpc", "host", "none".
std::string_view network_mode_name(NetworkMode mode);
// The mode with this ECS name; only the exact lower-case names.
std::optional<NetworkMode> parse_network_mode(std::string_view name);

// Whose PID namespace a task's containers are in (pidMode): each its own
// (kDefault, the field left out), one shared by the task's containers, or
// the host's.
enum class PidMode { kDefault, kTask, kHost };
// The same for the IPC namespace (ipcMode); kNone is a private namespace
// without /dev/shm.
enum class IpcMode { kDefault, kTask, kHost, kNone };
// The ECS names ("task", "host", "none"); "" for kDefault.
std::string_view pid_mode_name(PidMode mode);
std::string_view ipc_mode_name(IpcMode mode);

struct KeyValue {
  std::string name;
  std::string value;
};

enum class DependencyCondition { kStart, kComplete, kSuccess, kHealthy };
std::string_view condition_name(DependencyCondition condition);

struct ContainerDependency {
  std::string container_name;
  DependencyCondition condition = DependencyCondition::kStart;
};

struct PortMapping {
  uint32_t container_port = 0;
  std::optional<uint32_t> host_port;  // absent or 0: chosen by the node
  std::string protocol = "tcp";       // "tcp" or "udp"
  std::string name;
};

struct HealthCheck {
  // "CMD" followed by argv, or "CMD-SHELL" followed by one shell string.
  std::vector<std::string> command;
  uint32_t interval_seconds = 30;     // 5..300
  uint32_t timeout_seconds = 5;       // 2..60
  uint32_t retries = 3;               // 1..10
  uint32_t start_period_seconds = 0;  // 0..300
};

struct Ulimit {
  std::string name;  // ECS name: "nofile", "nproc", ...
  int64_t soft_limit = 0;
  int64_t hard_limit = 0;
};

struct Tmpfs {
  std::string container_path;
  uint64_t size_mib = 0;
  std::vector<std::string> mount_options;
};

struct Device {
  std::string host_path;
  std::string container_path;            // empty: same as host_path
  std::vector<std::string> permissions;  // "read", "write", "mknod"; empty: all
};

struct LinuxParameters {
  std::vector<std::string> capabilities_add;   // "NET_ADMIN" (no CAP_ prefix)
  std::vector<std::string> capabilities_drop;  // may hold "ALL"
  bool init_process_enabled = false;
  std::optional<uint64_t> shared_memory_size_mib;
  std::vector<Tmpfs> tmpfs;
  std::vector<Device> devices;
  std::optional<int64_t> max_swap_mib;
  std::optional<int32_t> swappiness;
};

struct MountPoint {
  std::string source_volume;
  std::string container_path;
  bool read_only = false;
};

struct VolumeFrom {
  std::string source_container;
  bool read_only = false;
};

struct ExtraHost {
  std::string hostname;
  std::string ip_address;
};

struct RestartPolicy {
  bool enabled = false;
  std::vector<int32_t> ignored_exit_codes;
  uint32_t restart_attempt_period_seconds = 300;  // 60..1800
};

struct EnvironmentFile {
  std::string type;   // "s3" in ECS; berth takes "file" paths on the node
  std::string value;  // berth: an absolute path on the node
};

// dockerSecurityOptions that berth honours.
struct SecurityOptions {
  bool no_new_privileges = false;   // "no-new-privileges": setuid gives nothing
  bool seccomp_unconfined = false;  // "seccomp=unconfined": no seccomp filter
};

struct ContainerDefinition {
  std::string name;
  std::string image;
  bool essential = true;
  std::optional<std::vector<std::string>> entry_point;
  std::optional<std::vector<std::string>> command;
  std::vector<KeyValue> environment;
  std::vector<EnvironmentFile> environment_files;
  std::optional<std::string> working_directory;
  std::optional<std::string> user;
  std::optional<std::string> hostname;
  bool readonly_root_filesystem = false;
  bool privileged = false;
  bool interactive = false;
  // Its own network namespace with only loopback, whatever the task's mode
  // (not awsvpc).
  bool disable_networking = false;
  bool pseudo_terminal = false;
  std::optional<uint32_t> cpu;         // CPU units, 1024 = 1 vCPU
  std::optional<uint64_t> memory_mib;  // hard limit
  std::optional<uint64_t> memory_reservation_mib;
  std::vector<PortMapping> port_mappings;
  std::vector<ContainerDependency> depends_on;
  std::vector<std::string> links;
  std::optional<uint32_t> start_timeout_seconds;
  std::optional<uint32_t> stop_timeout_seconds;  // default 30
  std::optional<HealthCheck> health_check;
  std::optional<LinuxParameters> linux_parameters;
  std::vector<Ulimit> ulimits;
  // systemControls: namespaced kernel parameters ("net.core.somaxconn" ->
  // "1024"), set in the container's namespaces as Docker's --sysctl does.
  std::map<std::string, std::string> system_controls;
  SecurityOptions security;
  std::map<std::string, std::string> docker_labels;
  std::vector<ExtraHost> extra_hosts;
  std::vector<std::string> dns_servers;
  std::vector<std::string> dns_search_domains;
  std::vector<MountPoint> mount_points;
  std::vector<VolumeFrom> volumes_from;
  std::optional<RestartPolicy> restart_policy;
  // logConfiguration: every driver's output is kept in the container's local
  // log file (Docker's dual logging); journald sends it to the journal too.
  std::string log_driver;  // "" when the definition names none
  std::map<std::string, std::string> log_options;
};

// dockerVolumeConfiguration.driverOpts of the local driver: what Docker's
// local driver passes to mount(2) for the volume.
struct LocalMount {
  std::string type;     // "tmpfs", "none" (with o bind), "ext4", "nfs", ...
  std::string device;   // the source: a node path under allowed_host_paths for a bind
  std::string options;  // "o": flags and file system options, comma-separated
};

struct Volume {
  std::string name;
  // Set for a bind mount from the node (only paths under an allowed prefix);
  // unset for a task-scoped empty volume shared by the task's containers.
  std::optional<std::string> host_source_path;
  // A volume that is a mount of its own (driverOpts).
  std::optional<LocalMount> mount;
  std::map<std::string, std::string> labels;  // dockerVolumeConfiguration.labels
  // scope shared: a named volume of the node, kept after the task; made by
  // the first task that needs it when autoprovision is set.
  bool shared = false;
  bool autoprovision = false;
};

struct TaskDefinition {
  std::string family;
  std::optional<std::string> revision;  // from the describe wrapper, if any
  // Unset when the definition names none (or ""): see effective_network_mode.
  std::optional<NetworkMode> network_mode;
  std::optional<uint32_t> cpu;         // task CPU units
  std::optional<uint64_t> memory_mib;  // task memory
  PidMode pid_mode = PidMode::kDefault;
  IpcMode ipc_mode = IpcMode::kDefault;
  // ECS Exec's switch: under the node's exec_policy opt-in, only such tasks
  // accept exec and debug sessions.
  bool enable_execute_command = false;
  std::vector<ContainerDefinition> containers;
  std::vector<Volume> volumes;
  std::map<std::string, std::string> tags;
};

// One problem: where in the JSON (a path such as
// "containerDefinitions[1].dependsOn[0].containerName", or "" for the whole
// document) and why.
struct Problem {
  std::string path;
  std::string reason;
};

// Node settings that validation depends on.
struct ValidationPolicy {
  bool allow_privileged = false;
  // A host volume's sourcePath must be one of these or below one.
  std::vector<std::string> allowed_host_paths;
  // The network mode of a definition that names none.
  NetworkMode default_network_mode = NetworkMode::kBridge;
  // Whether the node has a journal to send to (logDriver journald).
  bool journal_available = false;
};

// The definition's networkMode, or the node's default when it names none.
NetworkMode effective_network_mode(const TaskDefinition& definition,
                                   const ValidationPolicy& policy);
// The mode one container's network follows: the task's, or none for a
// container with disableNetworking (a namespace of its own, loopback only).
NetworkMode container_network_mode(const ContainerDefinition& container, NetworkMode task_mode);

struct ParseOutcome {
  std::optional<TaskDefinition> definition;  // set only when problems is empty
  std::vector<Problem> problems;
};

// Parses and validates. Never throws.
ParseOutcome parse_task_definition(std::string_view json, const ValidationPolicy& policy);

// Which namespace a kernel parameter lives in, as Docker allows them per
// container: net.* the network namespace; kernel.shm*, kernel.msg*,
// kernel.sem and fs.mqueue.* the IPC namespace; anything else is the
// node's (kNode).
enum class SysctlNamespace { kNetwork, kIpc, kNode };
SysctlNamespace sysctl_namespace(std::string_view key);

// ECS's own limits (service quotas): a task definition's size in bytes and
// its number of containers.
inline constexpr size_t kMaxDefinitionBytes = size_t{64} * 1024;
inline constexpr size_t kMaxContainers = 10;

// "path: reason" lines joined by "\n", for error messages.
std::string format_problems(const std::vector<Problem>& problems);

// The containers in an order where every dependsOn target comes before its
// dependents (validation guarantees there is no cycle).
std::vector<size_t> start_order(const TaskDefinition& definition);

// What berth does with each field of the ECS task definition. The table is
// what validation consults for unknown and refused fields, and what
// docs/task-definitions.md documents (a unit test keeps the two in step).
enum class FieldSupport {
  kSupported,  // honoured as ECS describes it
  kMapped,     // accepted, with a local equivalent or no effect on a single node
  kRefused,    // a problem when set (non-null, not false, not empty)
};
std::string_view support_name(FieldSupport support);  // "supported", "mapped", "refused"

struct FieldDecision {
  // Schema path: "containerDefinitions[].linuxParameters.tmpfs[].size".
  std::string_view path;
  FieldSupport support;
  // How a supported or mapped field is honoured; for a refused field, the
  // reason given after "not supported by berth: ".
  std::string_view note;
};
std::span<const FieldDecision> task_definition_fields();

// The runtimePlatform.cpuArchitecture this build of berth runs ("X86_64",
// "ARM64").
std::string_view node_cpu_architecture();

}  // namespace berth::agent
