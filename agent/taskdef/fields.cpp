// The field table: what berth does with each field of an ECS task
// definition. Validation consults it for unknown and refused fields, and
// docs/task-definitions.md documents it (a unit test keeps the two in step).
#include <span>
#include <string_view>

#include "agent/taskdef/taskdef.h"

namespace berth::agent {

namespace {

constexpr FieldSupport kSupported = FieldSupport::kSupported;
constexpr FieldSupport kMapped = FieldSupport::kMapped;
constexpr FieldSupport kRefused = FieldSupport::kRefused;

// Every field of RegisterTaskDefinition (and the read-only fields of
// DescribeTaskDefinition), with what berth does with it. Fields nested in a
// refused or ignored-as-a-whole field are not listed: they are never read.
constexpr FieldDecision kFields[] = {
    // Task level.
    {"family", kSupported, "Required; 1-255 letters, digits, hyphens and underscores."},
    {"containerDefinitions", kSupported,
     "Required; 1 to 10 containers, in a definition of at most 64 KiB (ECS's limits). Every "
     "image reference is checked before anything is made."},
    {"networkMode", kSupported, "bridge (the default when absent or empty), awsvpc, host or none."},
    {"cpu", kSupported,
     "Task CPU units, 128..196608: a number, a string (\"256\") or vCPUs (\"0.25 vCPU\"). The "
     "containers' cpu must add up to no more."},
    {"memory", kSupported,
     "Task memory in MiB, at least 6: a number, a string (\"512\") or with a unit (\"512 MiB\", "
     "\"1 GB\"; GB and GiB both mean 1024 MiB, as in ECS). No container may ask for more."},
    {"pidMode", kSupported,
     "task (one PID namespace for the task's containers, held by its sandbox) or host."},
    {"ipcMode", kSupported,
     "task (one IPC namespace and /dev/shm for the task's containers), host or none (its own IPC "
     "namespace, no /dev/shm)."},
    {"volumes", kSupported, "Host bind mounts and task-scoped empty volumes; see volumes[].*."},
    {"tags", kSupported, "Kept with the task (key required)."},
    {"tags[].key", kSupported, "Required, not empty."},
    {"tags[].value", kSupported, "Optional."},
    {"requiresCompatibilities", kSupported,
     "EC2, EXTERNAL, FARGATE or MANAGED_INSTANCES are accepted and run alike on the node."},
    {"runtimePlatform", kSupported, "Checked against the node."},
    {"runtimePlatform.operatingSystemFamily", kSupported,
     "LINUX only; WINDOWS_* is refused: Windows containers do not run on berth."},
    {"runtimePlatform.cpuArchitecture", kSupported,
     "X86_64 or ARM64, and it must be the node's architecture."},
    {"taskRoleArn", kMapped,
     "Accepted and ignored: berth has no credentials endpoint, so containers get no role "
     "credentials."},
    {"executionRoleArn", kMapped,
     "Accepted and ignored: images are pulled with the node's registry credentials and logs "
     "stay on the node."},
    {"placementConstraints", kMapped,
     "Accepted (type memberOf) and ignored: a berth node runs the tasks it is given."},
    {"placementConstraints[].type", kMapped, "memberOf."},
    {"placementConstraints[].expression", kMapped, "Not evaluated."},
    {"ephemeralStorage", kMapped,
     "Accepted and ignored: container filesystems live in the node's containerd snapshotter, "
     "without a size limit."},
    {"ephemeralStorage.sizeInGiB", kMapped, "21..200, as in ECS."},
    {"enableExecuteCommand", kSupported,
     "Under the node's exec_policy opt-in, only tasks with true accept berthctl exec and debug."},
    {"enableFaultInjection", kMapped, "Accepted and ignored: no fault injection endpoints."},
    {"proxyConfiguration", kRefused,
     "App Mesh proxy configuration needs the ECS agent's App Mesh integration"},
    {"inferenceAccelerators", kRefused, "Elastic Inference accelerators exist only in AWS"},
    // Read-only fields of describe-task-definition output.
    {"revision", kMapped, "Describe output: kept as the task definition's revision."},
    {"taskDefinitionArn", kMapped, "Describe output: ignored."},
    {"status", kMapped, "Describe output: ignored."},
    {"requiresAttributes", kMapped, "Describe output: ignored."},
    {"compatibilities", kMapped, "Describe output: ignored."},
    {"registeredAt", kMapped, "Describe output: ignored."},
    {"registeredBy", kMapped, "Describe output: ignored."},
    {"deregisteredAt", kMapped, "Describe output: ignored."},
    {"deleteRequestedAt", kMapped, "Describe output: ignored."},

    // Volumes.
    {"volumes[].name", kSupported,
     "Required, unique; 1-255 letters, digits, hyphens and underscores."},
    {"volumes[].host", kSupported,
     "With a sourcePath: a bind mount from the node. Empty: a task-scoped empty volume."},
    {"volumes[].host.sourcePath", kSupported,
     "Absolute, without \"..\", at or below one of the node's allowed_host_paths. A docker.sock "
     "is refused: there is no Docker daemon on a berth node."},
    {"volumes[].dockerVolumeConfiguration", kSupported,
     "A task-scoped volume of the local driver: an empty directory, or with driverOpts a mount "
     "of its own; made when a container first needs it, unmounted and removed with the task."},
    {"volumes[].dockerVolumeConfiguration.scope", kSupported,
     "task (the default): made for the task and removed with it; shared: a named volume of the "
     "node under <root>/named-volumes/<name>, kept after the task and used by every task that "
     "names it."},
    {"volumes[].dockerVolumeConfiguration.driver", kSupported,
     "local (the default); any other driver is refused: berth has no Docker volume plugins."},
    {"volumes[].dockerVolumeConfiguration.autoprovision", kSupported,
     "Shared volumes only: true makes the volume when the node has none of that name, and "
     "refuses one made with other driverOpts or labels; false needs it to exist."},
    {"volumes[].dockerVolumeConfiguration.labels", kSupported,
     "String values; kept with a shared volume (its volume.json)."},
    {"volumes[].dockerVolumeConfiguration.driverOpts", kSupported,
     "As Docker's local driver: type (required), device and o, passed to mount(2); o's mount "
     "flags (ro, nosuid, nodev, noexec, bind, ...) become flags and the rest the file system's "
     "options. type tmpfs with o such as size=64m,uid=1000; type none with o bind and a device "
     "at or below one of the node's allowed_host_paths; any other type the kernel knows, a "
     "device that is a node path again under allowed_host_paths. A mount the kernel refuses "
     "stops the task with its error, naming the volume."},
    {"volumes[].configuredAtLaunch", kRefused, "volumes configured at launch need Amazon EBS"},
    {"volumes[].efsVolumeConfiguration", kRefused,
     "Amazon EFS volumes need AWS; mount the file system on the node and use a host volume"},
    {"volumes[].fsxWindowsFileServerVolumeConfiguration", kRefused,
     "FSx for Windows File Server volumes need Windows and AWS"},

    // Containers.
    {"containerDefinitions[].name", kSupported,
     "Required, unique; 1-255 letters, digits, hyphens and underscores."},
    {"containerDefinitions[].image", kSupported,
     "Required; pulled by the node. Windows images (mcr.microsoft.com/windows/..., "
     "mcr.microsoft.com/dotnet/framework/..., or a tag naming servercore or nanoserver) are "
     "refused."},
    {"containerDefinitions[].essential", kSupported,
     "Default true; at least one container must be essential."},
    {"containerDefinitions[].entryPoint", kSupported, "Replaces the image's entrypoint."},
    {"containerDefinitions[].command", kSupported, "Replaces the image's command."},
    {"containerDefinitions[].environment", kSupported, "Wins over environment files."},
    {"containerDefinitions[].environment[].name", kSupported, "Required; no \"=\"."},
    {"containerDefinitions[].environment[].value", kSupported, "Optional (empty)."},
    {"containerDefinitions[].environmentFiles", kSupported,
     "Files on the node, read when the container starts."},
    {"containerDefinitions[].environmentFiles[].type", kSupported,
     "s3 (the only ECS type) or file; either way the value is a path on the node."},
    {"containerDefinitions[].environmentFiles[].value", kSupported,
     "An absolute path on the node (/path or file:///path) at or below one of the node's "
     "allowed_host_paths; an S3 object (arn:... or s3://...) is refused: berth does not read "
     "Amazon S3."},
    {"containerDefinitions[].workingDirectory", kSupported, "An absolute path."},
    {"containerDefinitions[].user", kSupported, "user, user:group, uid or uid:gid."},
    {"containerDefinitions[].hostname", kSupported,
     "The container's hostname; not in awsvpc mode, where it is ip-a-b-c-d from the task's "
     "address."},
    {"containerDefinitions[].readonlyRootFilesystem", kSupported, "Default false."},
    {"containerDefinitions[].privileged", kSupported,
     "Only on a node started with allow_privileged. As containerd's and Docker's privileged "
     "modes: every capability berthd holds, the node's devices, no seccomp filter and no masked "
     "or read-only paths."},
    {"containerDefinitions[].interactive", kSupported,
     "Keeps stdin open for the container's life, also while berthd is down (see Interactive)."},
    {"containerDefinitions[].pseudoTerminal", kSupported, "Allocates a terminal."},
    {"containerDefinitions[].cpu", kSupported, "CPU units (1024 = 1 vCPU), 0..196608."},
    {"containerDefinitions[].memory", kSupported,
     "Hard limit in MiB, at least 6, at most the task's memory."},
    {"containerDefinitions[].memoryReservation", kSupported,
     "Soft limit in MiB, at least 6, at most memory."},
    {"containerDefinitions[].portMappings", kSupported,
     "Published on the node; no host port + protocol twice in a task."},
    {"containerDefinitions[].portMappings[].containerPort", kSupported, "Required, 1..65535."},
    {"containerDefinitions[].portMappings[].hostPort", kSupported,
     "0..65535; absent or 0 lets the node choose (bridge). In awsvpc and host modes it must "
     "equal containerPort."},
    {"containerDefinitions[].portMappings[].protocol", kSupported, "tcp (default) or udp."},
    {"containerDefinitions[].portMappings[].name", kSupported, "Unique in the task."},
    {"containerDefinitions[].portMappings[].appProtocol", kMapped,
     "http, http2 or grpc; ignored (it matters only to Service Connect)."},
    {"containerDefinitions[].portMappings[].containerPortRange", kRefused,
     "port ranges are not supported; list each port"},
    {"containerDefinitions[].dependsOn", kSupported,
     "Start order and conditions; the targets must exist and form no cycle."},
    {"containerDefinitions[].dependsOn[].containerName", kSupported,
     "Required; another container of the task."},
    {"containerDefinitions[].dependsOn[].condition", kSupported,
     "Required: START, COMPLETE, SUCCESS (the target must not be essential) or HEALTHY (the "
     "target must have a healthCheck)."},
    {"containerDefinitions[].links", kSupported,
     "\"name\" or \"name:alias\" of another container; bridge mode only."},
    {"containerDefinitions[].startTimeout", kSupported,
     "Seconds, at least 0. As on the ECS agent: how long the containers that depend on this "
     "one (COMPLETE, SUCCESS, HEALTHY; not START) wait for it once it started; then they give "
     "up and never start, and an essential one stops the task (TaskFailedToStart, naming the "
     "dependency and the condition)."},
    {"containerDefinitions[].stopTimeout", kSupported,
     "Seconds, 0..120 (default 30). A stop is `docker stop`: the image's StopSignal (else "
     "SIGTERM) to the main process only, SIGKILL to every process once stopTimeout has "
     "passed."},
    {"containerDefinitions[].healthCheck", kSupported, "Run by the node."},
    {"containerDefinitions[].healthCheck.command", kSupported,
     "Required: [\"CMD\", argv...] or [\"CMD-SHELL\", \"shell command\"]."},
    {"containerDefinitions[].healthCheck.interval", kSupported, "Seconds, 5..300 (default 30)."},
    {"containerDefinitions[].healthCheck.timeout", kSupported, "Seconds, 2..60 (default 5)."},
    {"containerDefinitions[].healthCheck.retries", kSupported, "1..10 (default 3)."},
    {"containerDefinitions[].healthCheck.startPeriod", kSupported, "Seconds, 0..300 (default 0)."},
    {"containerDefinitions[].restartPolicy", kSupported, "Restarts in place, as in ECS."},
    {"containerDefinitions[].restartPolicy.enabled", kSupported, "Required."},
    {"containerDefinitions[].restartPolicy.ignoredExitCodes", kSupported, "At most 50."},
    {"containerDefinitions[].restartPolicy.restartAttemptPeriod", kSupported,
     "Seconds, 60..1800 (default 300)."},
    {"containerDefinitions[].linuxParameters", kSupported, "See the fields below."},
    {"containerDefinitions[].linuxParameters.capabilities", kSupported, "add and drop."},
    {"containerDefinitions[].linuxParameters.capabilities.add", kSupported,
     "Linux capability names without CAP_; ALL only on a node with allow_privileged. One "
     "berthd does not hold itself is refused by name when the container is made."},
    {"containerDefinitions[].linuxParameters.capabilities.drop", kSupported,
     "Linux capability names without CAP_, or ALL."},
    {"containerDefinitions[].linuxParameters.devices", kSupported, "Device nodes of the node."},
    {"containerDefinitions[].linuxParameters.devices[].hostPath", kSupported,
     "Required; absolute, at or below one of the node's allowed_host_paths; a character or "
     "block device when the container is created."},
    {"containerDefinitions[].linuxParameters.devices[].containerPath", kSupported,
     "Absolute; default hostPath."},
    {"containerDefinitions[].linuxParameters.devices[].permissions", kSupported,
     "read, write, mknod; default all. Enforced by the device cgroup (see Devices)."},
    {"containerDefinitions[].linuxParameters.initProcessEnabled", kSupported,
     "Runs an init process as PID 1."},
    {"containerDefinitions[].linuxParameters.sharedMemorySize", kSupported,
     "/dev/shm size in MiB, at least 1."},
    {"containerDefinitions[].linuxParameters.tmpfs", kSupported, "tmpfs mounts."},
    {"containerDefinitions[].linuxParameters.tmpfs[].containerPath", kSupported,
     "Required, absolute."},
    {"containerDefinitions[].linuxParameters.tmpfs[].size", kSupported,
     "Required, MiB, at least 1."},
    {"containerDefinitions[].linuxParameters.tmpfs[].mountOptions", kSupported,
     "The ECS list (ro, noexec, mode=1777, ...)."},
    {"containerDefinitions[].linuxParameters.maxSwap", kSupported,
     "MiB, at least 0; needs the container's or the task's memory."},
    {"containerDefinitions[].linuxParameters.swappiness", kSupported, "0..100."},
    {"containerDefinitions[].ulimits", kSupported, "Resource limits; one entry per name."},
    {"containerDefinitions[].ulimits[].name", kSupported,
     "core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, "
     "rttime, sigpending or stack."},
    {"containerDefinitions[].ulimits[].softLimit", kSupported, "Required, at most hardLimit."},
    {"containerDefinitions[].ulimits[].hardLimit", kSupported, "Required."},
    {"containerDefinitions[].systemControls", kSupported,
     "Namespaced kernel parameters, as Docker's --sysctl: net.* in the container's (or the "
     "task's) network namespace, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.* in its "
     "IPC namespace. Others, net.* in host network mode and IPC ones with ipcMode host are "
     "refused by name."},
    {"containerDefinitions[].systemControls[].namespace", kSupported,
     "Required; the parameter's dotted name."},
    {"containerDefinitions[].systemControls[].value", kSupported, "Required."},
    {"containerDefinitions[].dockerLabels", kSupported, "Container labels (string values)."},
    {"containerDefinitions[].extraHosts", kSupported, "/etc/hosts entries."},
    {"containerDefinitions[].extraHosts[].hostname", kSupported, "Required."},
    {"containerDefinitions[].extraHosts[].ipAddress", kSupported,
     "Required; an IPv4 or IPv6 address."},
    {"containerDefinitions[].dnsServers", kSupported, "IPv4 or IPv6 addresses."},
    {"containerDefinitions[].dnsSearchDomains", kSupported, "Search domains."},
    {"containerDefinitions[].mountPoints", kSupported, "Mounts of the task's volumes."},
    {"containerDefinitions[].mountPoints[].sourceVolume", kSupported,
     "Required; a volume of the task."},
    {"containerDefinitions[].mountPoints[].containerPath", kSupported, "Required, absolute."},
    {"containerDefinitions[].mountPoints[].readOnly", kSupported, "Default false."},
    {"containerDefinitions[].volumesFrom", kSupported, "Mounts another container's mounts."},
    {"containerDefinitions[].volumesFrom[].sourceContainer", kSupported,
     "Required; another container of the task."},
    {"containerDefinitions[].volumesFrom[].readOnly", kSupported, "Default false."},
    {"containerDefinitions[].logConfiguration", kMapped,
     "berth keeps every container's output in a local log file (berthctl logs, as Docker's "
     "dual logging); the journald driver also sends it to the node's journal."},
    {"containerDefinitions[].logConfiguration.logDriver", kMapped,
     "Required: awslogs, fluentd, gelf, json-file, journald, logentries, splunk, syslog or "
     "awsfirelens. journald is honoured (on a node with a journal); the others keep the local "
     "file only."},
    {"containerDefinitions[].logConfiguration.options", kMapped,
     "String values. journald takes tag (CONTAINER_TAG, SYSLOG_IDENTIFIER) and nothing else; "
     "the other drivers' options are ignored."},
    {"containerDefinitions[].logConfiguration.secretOptions", kMapped,
     "Ignored with the driver (no secret is fetched)."},
    {"containerDefinitions[].logConfiguration.secretOptions[].name", kMapped, "Required."},
    {"containerDefinitions[].logConfiguration.secretOptions[].valueFrom", kMapped, "Required."},
    {"containerDefinitions[].repositoryCredentials", kMapped,
     "Accepted and ignored: images are pulled with the node's registry credentials."},
    {"containerDefinitions[].repositoryCredentials.credentialsParameter", kMapped,
     "Required; not read (a Secrets Manager ARN)."},
    {"containerDefinitions[].versionConsistency", kMapped,
     "enabled or disabled; ignored (the image is resolved when the task starts)."},
    {"containerDefinitions[].secrets", kRefused,
     "secrets need AWS Secrets Manager or SSM Parameter Store; use environment or "
     "environmentFiles"},
    {"containerDefinitions[].firelensConfiguration", kRefused,
     "FireLens log routing needs the ECS agent's log router integration; berth keeps logs in "
     "local files"},
    {"containerDefinitions[].resourceRequirements", kRefused,
     "GPUs and inference accelerators are not managed by berth"},

    {"containerDefinitions[].dockerSecurityOptions", kSupported,
     "As Docker's --security-opt (key=value or key:value): no-new-privileges (=true or =false) "
     "sets "
     "noNewPrivileges; seccomp=unconfined runs without the node's default seccomp profile; "
     "apparmor=unconfined and label=disable are accepted (berth applies neither). Other "
     "AppArmor profiles, SELinux labels, seccomp profiles and credentialspec are refused."},
    {"containerDefinitions[].credentialSpecs", kRefused,
     "gMSA credential specs need Active Directory"},
    {"containerDefinitions[].disableNetworking", kSupported,
     "Its own network namespace with only loopback (as Docker's --network none), in bridge, "
     "host and none mode; refused in awsvpc mode, and with portMappings or links."},
};

}  // namespace

std::span<const FieldDecision> task_definition_fields() { return kFields; }

std::string_view support_name(FieldSupport support) {
  switch (support) {
    case FieldSupport::kSupported:
      return "supported";
    case FieldSupport::kMapped:
      return "mapped";
    case FieldSupport::kRefused:
      return "refused";
  }
  return "unknown";
}

}  // namespace berth::agent
