#include "agent/engine/resources/container.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "agent/engine/admission.h"
#include "agent/engine/container_spec.h"
#include "agent/volumes/volume_mounts.h"
#include "common/file.h"
#include "common/phase_times.h"

namespace berth::agent {

namespace fs = std::filesystem;

namespace {

std::string text_or_empty(const std::string& path) {
  auto text = read_file(path);
  return text ? *text : "";
}

}  // namespace

ContainerResource::ContainerResource(ContainerResourceConfig config,
                                     runtime::ContainerService& containers,
                                     runtime::ImageService& images,
                                     runtime::SandboxService& sandboxes,
                                     runtime::EventMonitor& events, cgroups::CgroupManager& cgroups,
                                     ImageGc& gc, const Failpoints* failpoints)
    : config_(std::move(config)),
      containers_(containers),
      images_(images),
      sandboxes_(sandboxes),
      events_(events),
      cgroups_(cgroups),
      gc_(gc),
      failpoints_(failpoints),
      named_volumes_(config_.paths.named_volumes_dir()) {}

Result<std::map<std::string, std::string>> ContainerResource::volume_sources(
    const StepInput& input) {
  const TaskDefinition& definition = input.spec->definition;
  const ContainerDefinition& c = definition.containers[input.resource.index];
  // The volumes this container mounts, itself or through volumesFrom.
  std::set<std::string> used;
  for (const auto& mount : c.mount_points) used.insert(mount.source_volume);
  for (const auto& from : c.volumes_from) {
    for (const auto& other : definition.containers) {
      if (other.name != from.source_container) continue;
      for (const auto& mount : other.mount_points) used.insert(mount.source_volume);
    }
  }
  std::map<std::string, std::string> sources;
  for (const auto& volume : definition.volumes) {
    if (!used.contains(volume.name)) continue;
    std::error_code ec;
    if (volume.host_source_path) {
      if (!fs::exists(*volume.host_source_path, ec)) {
        return fail(ErrorCode::kNotFound, "volume '" + volume.name + "': host sourcePath '" +
                                              *volume.host_source_path +
                                              "' does not exist on this node");
      }
      sources[volume.name] = *volume.host_source_path;
      continue;
    }
    // A directory of the task's own, shared by its containers, removed with
    // the task; with driverOpts, a mount of its own there. Containers of a
    // task are created in parallel: one of them mounts.
    std::lock_guard lock(volumes_mutex_);
    if (volume.shared) {
      sources[volume.name] =
          BERTH_TRY_CTX(named_volumes_.provide(volume), "shared volume '" + volume.name + "'");
      continue;
    }
    std::string dir = config_.paths.task_volumes(input.task_id) + "/" + volume.name;
    fs::create_directories(dir, ec);
    if (ec) return fail(ErrorCode::kInternal, "create volume '" + dir + "': " + ec.message());
    if (volume.mount) {
      BERTH_TRY_CTX(mount_volume(*volume.mount, dir),
                    "volume '" + volume.name + "': dockerVolumeConfiguration.driverOpts");
    } else {
      ::chmod(dir.c_str(), 0777);  // like a fresh Docker volume: any user may write
    }
    sources[volume.name] = dir;
  }
  return sources;
}

Result<std::vector<std::string>> ContainerResource::environment_from_files(
    const ContainerDefinition& c) {
  std::vector<std::string> env;
  for (const auto& file : c.environment_files) {
    std::string path = environment_file_path(file);
    auto text = BERTH_TRY_CTX(read_file(path), "read environment file '" + path + "'");
    for (auto& entry : parse_environment_file(text)) env.push_back(std::move(entry));
  }
  return env;
}

Status ContainerResource::write_files(
    const std::string& dir, const std::vector<std::pair<std::string, std::string>>& files) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::kInternal, "create '" + dir + "': " + ec.message());
  for (const auto& [path, text] : files) BERTH_TRY(write_atomically(path, text, 0644));
  return {};
}

Result<StepOutput> ContainerResource::ensure(const StepInput& input) {
  const TaskDefinition& definition = input.spec->definition;
  const size_t index = input.resource.index;
  const ContainerDefinition& c = definition.containers[index];
  const std::string& cid = input.containerd_id;
  std::shared_lock gate(gc_.gate());
  StepOutput out;
  PhaseTimes times;

  const NetworkMode mode = container_network_mode(c, input.network_mode);
  ContainerContext context;
  context.task_id = input.task_id;
  context.containerd_id = cid;
  context.network_mode = mode;
  context.foreground = input.foreground;
  if (needs_sandbox(definition)) {
    // The namespaces are joined through /proc/<pid>: make sure that pid is
    // still the sandbox's, not a reused one.
    auto status = sandboxes_.status(input.sandbox_id);
    if (!status || status->state != runtime::ProcessState::kRunning ||
        status->pid != input.sandbox_pid) {
      return fail(
          ErrorCode::kFailedPrecondition,
          "the task's sandbox (pid " + std::to_string(input.sandbox_pid) + ") is not running");
    }
    context.sandbox_pid = input.sandbox_pid;
    context.shm_source = sandboxes_.shm_path(input.sandbox_id);
  }
  if (mode == NetworkMode::kAwsvpc) {
    if (!input.task_network) {
      return fail(ErrorCode::kFailedPrecondition, "the task's network is not ready");
    }
    context.network = input.task_network;
  } else if (mode == NetworkMode::kBridge) {
    if (!input.container_network) {
      return fail(ErrorCode::kFailedPrecondition, "the container's network is not ready");
    }
    context.network = input.container_network;
  }
  context.container_addresses = input.container_addresses;
  context.init_path = config_.init_path;
  std::error_code ec;
  context.init_present = fs::exists(config_.init_path, ec);
  if (mode == NetworkMode::kHost) {
    char name[256] = {};
    if (::gethostname(name, sizeof(name) - 1) == 0) context.node_hostname = name;
    context.node_hosts = text_or_empty("/etc/hosts");
  }
  context.node_resolv_conf = text_or_empty(config_.resolv_conf_path);
  context.env_from_files = BERTH_TRY(environment_from_files(c));
  context.volume_sources = BERTH_TRY(volume_sources(input));
  context.files_dir = config_.paths.container_files(cid);
  auto launch = BERTH_TRY(container_launch(*input.spec, index, context));
  if (config_.metadata && context.network && !context.network->netns.empty()) {
    auto uri = BERTH_TRY_CTX(config_.metadata->serve(input.task_id, c.name, context.network->netns),
                             "container '" + c.name + "': task metadata endpoint");
    // The definition's own value wins, as with every variable ECS sets.
    launch.overrides.env.insert(launch.overrides.env.begin(),
                                "ECS_CONTAINER_METADATA_URI_V4=" + uri);
  }

  times.mark("context");
  runtime::CreateContainerRequest request;
  request.id = cid;
  request.image = BERTH_TRY(images_.resolve(input.image));
  times.mark("image_resolve");
  request.times = &times;
  request.overrides = std::move(launch.overrides);
  request.labels = std::move(launch.labels);
  request.settings = std::move(launch.settings);
  request.settings.resources =
      container_resources(definition, c, cgroups_.unified(), cgroups_.limits_swap());
  request.cgroups_path = cgroups_.container_cgroups_path(input.task_id, cid);
  if (context.network) request.netns_path = context.network->netns;
  {
    std::lock_guard lock(mu_);
    request.after_interrupted_create = interrupted_.erase(cid) > 0;
  }
  // Anything failing from here on takes what was made along.
  auto undo = [&](Error error) -> Result<StepOutput> {
    events_.unwatch(cid);
    (void)containers_.kill_and_remove(cid);  // the first error is the one reported
    fs::remove_all(context.files_dir, ec);
    return fail(std::move(error));
  };
  if (auto written = write_files(context.files_dir, launch.files); !written) {
    return undo(written.error());
  }
  events_.watch(cid);
  // A container of the same id is what an interrupted earlier attempt left.
  (void)containers_.remove(cid);
  if (auto injected = failpoint(failpoints_, "container.create.before"); !injected) {
    return undo(injected.error());
  }
  times.mark("files");
  if (auto created = containers_.create(request); !created) return undo(created.error());
  if (auto injected = failpoint(failpoints_, "container.create.after"); !injected) {
    return undo(injected.error());
  }
  if (auto injected = failpoint(failpoints_, "container.start.before"); !injected) {
    return undo(injected.error());
  }
  times.restart();
  auto pid = containers_.start(cid);
  if (!pid) return undo(pid.error());
  times.mark("start");
  if (auto injected = failpoint(failpoints_, "container.start.after"); !injected) {
    return undo(injected.error());
  }
  out.pid = *pid;
  out.phases = times.phases();
  return out;
}

Status ContainerResource::signal(const StepInput& input, bool kill) {
  const std::string point = kill ? "container.kill" : "container.signal";
  BERTH_TRY(failpoint(failpoints_, point + ".before"));
  // `docker stop`: the stop signal to the main process alone (it may pass
  // it on, or wait for its children); SIGKILL to every process.
  Status sent;
  if (kill) {
    sent = containers_.kill(input.containerd_id, SIGKILL);
  } else if (auto signalled = containers_.signal_stop(input.containerd_id); !signalled) {
    sent = fail(signalled.error());
  }
  // Gone already: nothing to stop.
  if (!sent && sent.error().code() != ErrorCode::kNotFound) return sent;
  return failpoint(failpoints_, point + ".after");
}

Status ContainerResource::release(const StepInput& input) {
  const std::string& cid = input.containerd_id;
  BERTH_TRY(failpoint(failpoints_, "container.remove.before"));
  auto removed = containers_.remove(cid);
  // A process still runs under a container berth considers stopped (its
  // state was lost in a crash): end it, then remove.
  if (!removed) removed = containers_.kill_and_remove(cid);
  if (!removed) return fail(removed.error());
  std::error_code ec;
  fs::remove_all(config_.paths.container_files(cid), ec);
  if (ec) {
    return fail(ErrorCode::kInternal,
                "remove '" + config_.paths.container_files(cid) + "': " + ec.message());
  }
  events_.unwatch(cid);
  return failpoint(failpoints_, "container.remove.after");
}

std::vector<RecoveredResource> ContainerResource::recover(const std::vector<OwnedResource>& owned,
                                                          const RecoveryScope& scope,
                                                          std::vector<std::string>& notes) {
  std::vector<RecoveredResource> out;
  std::set<std::string> kept;
  for (const auto& resource : owned) {
    const std::string& cid = resource.host_id;
    kept.insert(cid);
    // Watched first, so that an exit between the query and the watch is
    // not lost.
    events_.watch(cid);
    auto status = containers_.task_status(cid);
    bool creating = resource.phase == Phase::kCreating;
    if (status && status->state == runtime::ProcessState::kRunning) {
      out.push_back({resource.task_id, {resource.resource, Recovery::kAdopted, status->pid}});
      continue;
    }
    // A stopped task ran, even if the crash cut off the record of its start
    // (a task that was only created is CREATED): its exit is the outcome.
    if (status && status->state == runtime::ProcessState::kStopped) {
      Recovered exited{resource.resource, Recovery::kExited};
      exited.exit_code = static_cast<int>(status->exit.code);
      // The kernel's count of OOM kills in its cgroup says whether memory
      // ended it (the cgroup goes only when the container is deleted).
      if (auto stats = cgroups_.container_stats(resource.task_id, cid); stats) {
        exited.oom = stats->oom_kills > 0;
      }
      out.push_back({resource.task_id, exited});
      continue;
    }
    if (creating || (status && status->state == runtime::ProcessState::kCreated)) {
      // Created but never started, or cut off while being made: roll back,
      // so that the start is repeated from a clean slate.
      events_.unwatch(cid);
      if (auto removed = containers_.remove(cid); !removed) {
        notes.push_back("task '" + resource.task_id + "': roll back container '" + cid +
                        "': " + removed.error().message() + ", ignoring");
      }
      std::error_code ec;
      fs::remove_all(config_.paths.container_files(cid), ec);
      std::lock_guard lock(mu_);
      interrupted_.insert(cid);
      out.push_back({resource.task_id, {resource.resource, Recovery::kRolledBack}});
      continue;
    }
    if (!status && status.error().code() != ErrorCode::kNotFound) {
      // containerd did not answer clearly: keep what the checkpoint says;
      // the event stream reports an exit once it does.
      notes.push_back("task '" + resource.task_id + "': container '" + cid +
                      "': " + status.error().message() + ", keeping its recorded state");
      continue;
    }
    // No task in containerd at all (containerd lost it, e.g. a reboot).
    events_.unwatch(cid);
    out.push_back({resource.task_id,
                   {resource.resource, Recovery::kGone, 0, 0, false,
                    "The container's task was gone when berthd restarted"}});
  }
  // Every other berth container in containerd is one no task owns.
  auto ids = containers_.list_ids("labels.\"" + std::string(kTaskLabel) + "\"");
  if (!ids) {
    notes.push_back("list berth containers: " + ids.error().message() + ", ignoring");
  } else {
    for (const auto& cid : *ids) {
      if (cid.ends_with(".sandbox") || kept.contains(cid) ||
          scope.kept_tasks.contains(task_id_of(cid))) {
        continue;
      }
      // Its process may still run: it is killed and reaped first.
      if (auto removed = containers_.kill_and_remove(cid); !removed) {
        notes.push_back("remove container '" + cid + "': " + removed.error().message() +
                        ", ignoring");
      } else {
        notes.push_back("removed container '" + cid + "': no task owns it");
      }
    }
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(config_.paths.container_files_dir(), ec)) {
    std::string cid = entry.path().filename().string();
    if (kept.contains(cid) || scope.kept_tasks.contains(task_id_of(cid))) continue;
    fs::remove_all(entry.path(), ec);
  }
  return out;
}

Status ContainerResource::purge(const std::string& task_id) {
  auto ids =
      BERTH_TRY(containers_.list_ids("labels.\"" + std::string(kTaskLabel) + "\"==" + task_id));
  for (const auto& cid : ids) {
    if (cid.ends_with(".sandbox")) continue;
    events_.unwatch(cid);
    BERTH_TRY(containers_.kill_and_remove(cid));
    std::error_code ec;
    fs::remove_all(config_.paths.container_files(cid), ec);
  }
  return {};
}

}  // namespace berth::agent
