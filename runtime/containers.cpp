#include "runtime/containers.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <thread>

#include "common/fd.h"
#include "common/strings.h"
#include "github.com/containerd/containerd/runtime/v2/runc/options/oci.pb.h"
#include "runtime/containerd_stubs.h"
#include "runtime/runc_wrapper.h"
#include "runtime/signals.h"

namespace berth::runtime {

namespace {

constexpr std::string_view kSpecTypeUrl = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
// How containerd's typeurl names the runc shim's options (ctr writes the same).
constexpr std::string_view kRuncOptionsTypeUrl = "containerd.runc.v1.Options";

// containerd's identifier rule (identifiers/validate.go).
Status validate_id(const std::string& id) {
  static const std::regex kId("^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$");
  if (id.empty() || id.size() > 76 || !std::regex_match(id, kId)) {
    return fail(ErrorCode::kInvalidArgument,
                "container id '" + id +
                    "' is invalid: 1-76 letters and digits, separated by single '.', '_' or '-'");
  }
  return {};
}

Rlimit agent_nofile_limit() {
  struct rlimit lim {};
  getrlimit(RLIMIT_NOFILE, &lim);
  return Rlimit{"RLIMIT_NOFILE", lim.rlim_cur, lim.rlim_max};
}

// berthd's own hard limit of every resource a task definition may name.
std::map<std::string, uint64_t> agent_hard_limits() {
  static const std::pair<const char*, int> kResources[] = {
      {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_CPU", RLIMIT_CPU},
      {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_FSIZE", RLIMIT_FSIZE},
      {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
      {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
      {"RLIMIT_NOFILE", RLIMIT_NOFILE},     {"RLIMIT_NPROC", RLIMIT_NPROC},
      {"RLIMIT_RSS", RLIMIT_RSS},           {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
      {"RLIMIT_RTTIME", RLIMIT_RTTIME},     {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
      {"RLIMIT_STACK", RLIMIT_STACK}};
  std::map<std::string, uint64_t> limits;
  for (const auto& [name, resource] : kResources) {
    struct rlimit lim {};
    if (getrlimit(resource, &lim) == 0) limits[name] = lim.rlim_max;
  }
  return limits;
}

// Reads a file inside `root` without letting symlinks in the image escape it.
Result<std::string> read_in_root(const std::string& root, const char* path) {
  UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) return fail_errno("open '" + root + "'");
  struct open_how how {};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, root_fd.get(), path, &how, sizeof how)));
  if (!fd) {
    if (errno == ENOENT) return std::string();
    return fail_errno(std::string("open image file '") + path + "'");
  }
  std::string data;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0 && data.size() < (4u << 20)) {
    data.append(buf, n);
  }
  return data;
}

// A fresh FIFO at `path` (one a crashed earlier create left is replaced).
Status make_fifo(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) return fail(ErrorCode::kInternal, "create directory of '" + path + "': " + ec.message());
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail_errno("remove '" + path + "'");
  if (::mkfifo(path.c_str(), 0600) != 0) return fail_errno("mkfifo '" + path + "'");
  return {};
}

Status mount_snapshot(const google::protobuf::RepeatedPtrField<containerd::types::Mount>& mounts,
                      const std::string& target) {
  if (mounts.size() != 1) {
    return fail(ErrorCode::kInternal,
                "expected one mount for an image view, got " + std::to_string(mounts.size()));
  }
  const auto& m = mounts[0];
  unsigned long flags = 0;
  std::string data;
  for (const auto& opt : m.options()) {
    if (opt == "ro")
      flags |= MS_RDONLY;
    else if (opt == "rbind")
      flags |= MS_BIND | MS_REC;
    else if (opt == "bind")
      flags |= MS_BIND;
    else if (opt == "rw")
      continue;
    else
      data += (data.empty() ? "" : ",") + opt;
  }
  if (::mount(m.source().c_str(), target.c_str(), m.type().c_str(), flags,
              data.empty() ? nullptr : data.c_str()) != 0) {
    return fail_errno("mount image view (" + m.type() + ") at '" + target + "'");
  }
  return {};
}

// The runc shim's options: berth-runc as runc for an interactive container,
// and runc's systemd cgroup mode for a "slice:prefix:name" cgroups path.
void set_runc_options(cd_tasks::CreateTaskRequest& task, const std::string& binary_name,
                      const std::string& cgroups_path) {
  containerd::runc::v1::Options options;
  options.set_binary_name(binary_name);
  options.set_systemd_cgroup(!cgroups_path.empty() && cgroups_path.front() != '/');
  if (options.ByteSizeLong() == 0) return;
  task.mutable_options()->set_type_url(std::string(kRuncOptionsTypeUrl));
  task.mutable_options()->set_value(options.SerializeAsString());
}

}  // namespace

std::string_view process_state_name(ProcessState state) {
  switch (state) {
    case ProcessState::kUnknown:
      return "unknown";
    case ProcessState::kCreated:
      return "created";
    case ProcessState::kRunning:
      return "running";
    case ProcessState::kStopped:
      return "stopped";
    case ProcessState::kPaused:
      return "paused";
    case ProcessState::kPausing:
      return "pausing";
  }
  return "unknown";
}

ProcessState to_process_state(containerd::v1::types::Status status) {
  switch (status) {
    case containerd::v1::types::CREATED:
      return ProcessState::kCreated;
    case containerd::v1::types::RUNNING:
      return ProcessState::kRunning;
    case containerd::v1::types::STOPPED:
      return ProcessState::kStopped;
    case containerd::v1::types::PAUSED:
      return ProcessState::kPaused;
    case containerd::v1::types::PAUSING:
      return ProcessState::kPausing;
    default:
      // UNKNOWN, or a state newer than this code.
      return ProcessState::kUnknown;
  }
}

bool create_may_settle(grpc::StatusCode code, bool after_interrupted_create) {
  // containerd 1.6 answers ALREADY_EXISTS while the task of an earlier
  // Create is there (services/tasks/local.go). An earlier Create's bundle
  // directory ("mkdir .../<id>: file exists" from runtime/v2/bundle.go)
  // and whatever the shim and runc find left over come as UNKNOWN, like any
  // other failure of the shim: only the caller can tell that an earlier
  // Create was cut off, and then every failure may be that one settling.
  return after_interrupted_create || code == grpc::StatusCode::ALREADY_EXISTS;
}

bool user_needs_lookup(std::string_view user) {
  // Root, or a numeric uid:gid, is complete; a name needs its entry, and a
  // bare uid takes its primary group from /etc/passwd (as containerd does).
  if (user.empty() || user == "0") return false;
  for (char c : user) {
    if (c != ':' && (c < '0' || c > '9')) return true;
  }
  return user.find(':') == std::string_view::npos;
}

ContainerService::ContainerService(Containerd& containerd, ContainerRuntimeConfig config)
    : containerd_(containerd), config_(std::move(config)) {}

std::string ContainerService::log_path(const std::string& id) const {
  return config_.log_dir + "/" + id + ".log";
}

std::string ContainerService::stdin_path(const std::string& id) const {
  return config_.run_dir + "/stdin/" + id;
}

std::string ContainerService::runc_wrapper_path() const {
  if (!config_.runc_wrapper_path.empty()) return config_.runc_wrapper_path;
  return (std::filesystem::path(config_.logger_path).parent_path() / "berth-runc").string();
}

Result<std::pair<std::string, std::string>> ContainerService::read_passwd_group(
    const ResolvedImage& image, const std::string& id) {
  auto lease = BERTH_TRY(Lease::create(containerd_, "view"));
  std::string key = "berth-view-" + id;
  cd_snapshots::ViewSnapshotRequest view;
  view.set_snapshotter(std::string(kSnapshotter));
  view.set_key(key);
  view.set_parent(image.top_chain_id);
  cd_snapshots::ViewSnapshotResponse viewed;
  auto ctx = containerd_.context(std::chrono::seconds(60), lease.id());
  auto status = containerd_.stubs().snapshots->View(ctx.get(), view, &viewed);
  if (!status.ok()) return fail(grpc_error(status, "view image '" + image.name + "'"));

  std::string target = config_.run_dir + "/view-" + id;
  std::error_code ec;
  std::filesystem::create_directories(target, ec);
  std::pair<std::string, std::string> files;
  Status read_status = mount_snapshot(viewed.mounts(), target);
  if (read_status) {
    auto passwd = read_in_root(target, "etc/passwd");
    auto group = read_in_root(target, "etc/group");
    ::umount2(target.c_str(), MNT_DETACH);
    if (!passwd)
      read_status = fail(passwd.error());
    else if (!group)
      read_status = fail(group.error());
    else
      files = {*passwd, *group};
  }
  std::filesystem::remove(target, ec);
  // Best effort: only `lease` holds the view, and it is collected with it.
  (void)remove_snapshot(key);
  if (!read_status) return fail(read_status.error());
  return files;
}

// A container that is not a task's (berthctl run): beside the task cgroups'
// parent "/<namespace>", never in it, which holds only task cgroups.
std::string ContainerService::default_cgroups_path(const std::string& id) const {
  if (!config_.systemd_slice_prefix.empty()) {
    std::string run = config_.systemd_slice_prefix + "_run";
    return run + ".slice:" + run + ":" + id;
  }
  return "/" + containerd_.ns() + "-run/" + id;
}

Result<uint32_t> ContainerService::create(const CreateContainerRequest& request) {
  const std::string& id = request.id;
  BERTH_TRY(validate_id(id));
  SpecInputs inputs;
  inputs.image = BERTH_TRY_CTX(parse_image_config(request.image.config_json),
                               "image '" + request.image.name + "'");
  inputs.overrides = request.overrides;
  // Like Docker: a container is its own host, named after itself.
  if (inputs.overrides.hostname.empty()) inputs.overrides.hostname = id.substr(0, 63);
  inputs.cgroups_path =
      request.cgroups_path.empty() ? default_cgroups_path(id) : request.cgroups_path;
  inputs.netns_path = request.netns_path;
  inputs.agent_nofile_limit = agent_nofile_limit();
  std::string user = request.overrides.user.value_or(inputs.image.user);
  if (user_needs_lookup(user)) {
    std::tie(inputs.etc_passwd, inputs.etc_group) =
        BERTH_TRY_CTX(read_passwd_group(request.image, id), "resolve user '" + user + "'");
  }
  std::map<std::string, std::string> labels = request.labels;
  if (!inputs.image.stop_signal.empty()) {
    BERTH_TRY_CTX(parse_signal(inputs.image.stop_signal),
                  "image '" + request.image.name + "': StopSignal");
    labels[std::string(kStopSignalLabel)] = inputs.image.stop_signal;
  }
  auto spec = BERTH_TRY(build_spec(inputs));
  ContainerSettings settings = request.settings;
  settings.agent_hard_limits = agent_hard_limits();
  settings.agent_capabilities = bounding_capabilities();
  settings.seccomp_profile = config_.seccomp_profile;
  settings.seccomp_host = seccomp_host();
  if (settings.privileged) settings.host_devices = host_device_paths();
  BERTH_TRY(apply_container_settings(spec, settings));
  const bool interactive = request.settings.interactive && !request.stdio;
  const std::string wrapper = interactive ? runc_wrapper_path() : "";
  if (interactive) {
    if (::access(wrapper.c_str(), X_OK) != 0) {
      return fail_errno("interactive: berth-runc '" + wrapper + "' is not an executable file");
    }
    spec["annotations"][std::string(kStdinFifoAnnotation)] = stdin_path(id);
  }

  auto mark = [&](std::string_view phase) {
    if (request.times) request.times->mark(phase);
  };
  mark("spec");
  auto lease = BERTH_TRY(Lease::create(containerd_, "container"));
  cd_snapshots::PrepareSnapshotRequest prepare;
  prepare.set_snapshotter(std::string(kSnapshotter));
  prepare.set_key(id);
  prepare.set_parent(request.image.top_chain_id);
  cd_snapshots::PrepareSnapshotResponse prepared;
  auto ctx = containerd_.context(std::chrono::seconds(60), lease.id());
  auto status = containerd_.stubs().snapshots->Prepare(ctx.get(), prepare, &prepared);
  if (status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
    return fail(ErrorCode::kAlreadyExists, "container '" + id + "' already exists");
  }
  if (!status.ok()) return fail(grpc_error(status, "prepare rootfs of '" + id + "'"));
  mark("snapshot");

  // From here on, a failure must undo what was made.
  auto undo = [&](Error error) -> Result<uint32_t> {
    (void)delete_container_record(id);
    (void)remove_snapshot(id);
    if (interactive) ::unlink(stdin_path(id).c_str());
    return fail(std::move(error));
  };

  cd_containers::CreateContainerRequest create;
  auto* container = create.mutable_container();
  container->set_id(id);
  container->set_image(request.image.name);
  for (const auto& [k, v] : labels) (*container->mutable_labels())[k] = v;
  container->mutable_runtime()->set_name(std::string(kRuntimeName));
  container->mutable_spec()->set_type_url(std::string(kSpecTypeUrl));
  container->mutable_spec()->set_value(spec.dump());
  container->set_snapshotter(std::string(kSnapshotter));
  container->set_snapshot_key(id);
  cd_containers::CreateContainerResponse created;
  auto cctx = containerd_.context(std::chrono::seconds(60), lease.id());
  status = containerd_.stubs().containers->Create(cctx.get(), create, &created);
  if (!status.ok()) return undo(grpc_error(status, "create container '" + id + "'"));
  // The container record now holds the snapshot.
  if (auto released = lease.release(); !released) return undo(released.error());
  mark("record");

  cd_tasks::CreateTaskRequest task;
  // The shim allocates the pseudo-terminal that the spec's process asks for.
  task.set_terminal(request.overrides.terminal);
  task.set_container_id(id);
  *task.mutable_rootfs() = prepared.mounts();
  if (request.stdio) {
    task.set_stdin(request.stdio->in);
    task.set_stdout(request.stdio->out);
    task.set_stderr(request.stdio->err);
    set_runc_options(task, "", inputs.cgroups_path);
    auto pid = create_task(task, request.after_interrupted_create);
    if (!pid) return undo(pid.error());
    mark("task");
    return *pid;
  }
  std::error_code ec;
  std::filesystem::create_directories(config_.log_dir, ec);
  if (ec)
    return undo(Error(ErrorCode::kInternal,
                      "create log directory '" + config_.log_dir + "': " + ec.message()));
  std::string log_uri = "binary://" + config_.logger_path + "?path=" + log_path(id);
  // One key per field: the shim passes only the first value of a key.
  for (const auto& field : request.settings.journal_fields) {
    auto eq = field.find('=');
    log_uri += "&journal." + field.substr(0, eq) + "=" + percent_encode(field.substr(eq + 1));
  }
  if (interactive) {
    // berth-runc opens the FIFO as the container's stdin; the logger and
    // the shim (which opens a task's stdin for writing) keep it open.
    if (auto made = make_fifo(stdin_path(id)); !made) return undo(made.error());
    if (!request.settings.stdin_once) log_uri += "&stdin=" + stdin_path(id);
    log_uri += "&partial=flush";  // a prompt shows before its line ends
    task.set_stdin(stdin_path(id));
  }
  set_runc_options(task, interactive ? wrapper : "", inputs.cgroups_path);
  task.set_stdout(log_uri);
  task.set_stderr(log_uri);
  auto pid = create_task(task, request.after_interrupted_create);
  if (pid) {
    mark("task");
    return *pid;
  }
  std::filesystem::remove(log_path(id), ec);
  return undo(pid.error());
}

Result<uint32_t> ContainerService::create_task(const cd_tasks::CreateTaskRequest& task,
                                               bool after_interrupted_create) {
  const std::string& id = task.container_id();
  cd_tasks::CreateTaskResponse task_created;
  grpc::Status status;
  // After berthd was killed during a Create of the same id, containerd may
  // still be finishing or undoing that Create: its task is there, or its
  // bundle directory is, or is half gone. Wait for it to settle and retry.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  for (int attempt = 0;; ++attempt) {
    // Task creation starts a shim and runc; allow for a loaded host.
    auto tctx = containerd_.context(std::chrono::seconds(120));
    status = containerd_.stubs().tasks->Create(tctx.get(), task, &task_created);
    if (status.ok()) return task_created.pid();
    // A failed or timed-out Create may still have left a task record.
    (void)delete_task(id);
    if (!create_may_settle(status.error_code(), after_interrupted_create) ||
        std::chrono::steady_clock::now() >= deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(100 << attempt, 1000)));
  }
  return fail(grpc_error(status, "create task of '" + id + "'"));
}

Result<uint32_t> ContainerService::create_without_image(
    const std::string& id, nlohmann::json spec, const std::map<std::string, std::string>& labels,
    bool after_interrupted_create, const std::string& cgroups_path) {
  BERTH_TRY(validate_id(id));
  spec["linux"]["cgroupsPath"] = cgroups_path.empty() ? default_cgroups_path(id) : cgroups_path;
  cd_containers::CreateContainerRequest create;
  auto* container = create.mutable_container();
  container->set_id(id);
  for (const auto& [k, v] : labels) (*container->mutable_labels())[k] = v;
  container->mutable_runtime()->set_name(std::string(kRuntimeName));
  container->mutable_spec()->set_type_url(std::string(kSpecTypeUrl));
  container->mutable_spec()->set_value(spec.dump());
  cd_containers::CreateContainerResponse created;
  auto ctx = containerd_.context(std::chrono::seconds(60));
  auto status = containerd_.stubs().containers->Create(ctx.get(), create, &created);
  if (status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
    return fail(ErrorCode::kAlreadyExists, "container '" + id + "' already exists");
  }
  if (!status.ok()) return fail(grpc_error(status, "create container '" + id + "'"));
  cd_tasks::CreateTaskRequest task;
  task.set_container_id(id);
  set_runc_options(task, "", spec["linux"]["cgroupsPath"].get<std::string>());
  auto pid = create_task(task, after_interrupted_create);
  if (!pid) (void)delete_container_record(id);
  return pid;
}

Result<uint32_t> ContainerService::start(const std::string& id) {
  cd_tasks::StartRequest request;
  request.set_container_id(id);
  cd_tasks::StartResponse response;
  auto ctx = containerd_.context(std::chrono::seconds(60));
  auto status = containerd_.stubs().tasks->Start(ctx.get(), request, &response);
  if (!status.ok()) return fail(grpc_error(status, "start '" + id + "'"));
  return response.pid();
}

Status ContainerService::kill(const std::string& id, int signal, bool all) {
  cd_tasks::KillRequest request;
  request.set_container_id(id);
  request.set_signal(static_cast<uint32_t>(signal));
  request.set_all(all);
  google::protobuf::Empty response;
  auto ctx = containerd_.context(std::chrono::seconds(30));
  auto status = containerd_.stubs().tasks->Kill(ctx.get(), request, &response);
  if (!status.ok())
    return fail(grpc_error(status, "signal " + std::to_string(signal) + " to '" + id + "'"));
  if (all && signal == SIGKILL && !config_.systemd_slice_prefix.empty()) {
    // runc finds "every process" through the container's cgroup, and in
    // its systemd mode on cgroup v1 through the devices hierarchy, where
    // systemd has been seen to leave the first container after boot in the
    // parent slice: runc then signals no one. The main process is signalled
    // by its pid too; its end ends the container's PID namespace. The first
    // call's success stands whatever this one says (most often: gone).
    request.set_all(false);
    auto again = containerd_.context(std::chrono::seconds(30));
    (void)containerd_.stubs().tasks->Kill(again.get(), request, &response);
  }
  return {};
}

Result<int> ContainerService::signal_stop(const std::string& id) {
  cd_containers::GetContainerRequest request;
  request.set_id(id);
  cd_containers::GetContainerResponse response;
  auto ctx = containerd_.context(std::chrono::seconds(30));
  auto status = containerd_.stubs().containers->Get(ctx.get(), request, &response);
  if (!status.ok()) return fail(grpc_error(status, "get container '" + id + "'"));
  int signal = SIGTERM;
  const auto& labels = response.container().labels();
  if (auto it = labels.find(std::string(kStopSignalLabel)); it != labels.end()) {
    signal = BERTH_TRY_CTX(parse_signal(it->second), "container '" + id + "': stop signal");
  }
  BERTH_TRY(kill(id, signal, /*all=*/false));
  return signal;
}

Result<TaskState> ContainerService::task_status(const std::string& id) {
  cd_tasks::GetRequest request;
  request.set_container_id(id);
  cd_tasks::GetResponse response;
  auto ctx = containerd_.context(std::chrono::seconds(30));
  auto status = containerd_.stubs().tasks->Get(ctx.get(), request, &response);
  if (!status.ok()) return fail(grpc_error(status, "task '" + id + "'"));
  const auto& process = response.process();
  TaskState state;
  state.state = to_process_state(process.status());
  state.pid = process.pid();
  state.exit.code = process.exit_status();
  const auto& at = process.exited_at();
  state.exit.exited_at_unix_nanos = at.seconds() * 1000000000LL + at.nanos();
  return state;
}

Result<ExitStatus> ContainerService::wait(const std::string& id) {
  cd_tasks::WaitRequest request;
  request.set_container_id(id);
  cd_tasks::WaitResponse response;
  auto ctx = containerd_.context(std::chrono::milliseconds(0));
  auto status = containerd_.stubs().tasks->Wait(ctx.get(), request, &response);
  if (!status.ok()) return fail(grpc_error(status, "wait for '" + id + "'"));
  const auto& at = response.exited_at();
  return ExitStatus{response.exit_status(), at.seconds() * 1000000000LL + at.nanos()};
}

Status ContainerService::remove_snapshot(const std::string& key) {
  cd_snapshots::RemoveSnapshotRequest request;
  request.set_snapshotter(std::string(kSnapshotter));
  request.set_key(key);
  google::protobuf::Empty response;
  auto ctx = containerd_.context(std::chrono::seconds(60));
  auto status = containerd_.stubs().snapshots->Remove(ctx.get(), request, &response);
  if (!status.ok() && status.error_code() != grpc::StatusCode::NOT_FOUND) {
    return fail(grpc_error(status, "remove snapshot '" + key + "'"));
  }
  return {};
}

Status ContainerService::delete_container_record(const std::string& id) {
  cd_containers::DeleteContainerRequest request;
  request.set_id(id);
  google::protobuf::Empty response;
  auto ctx = containerd_.context(std::chrono::seconds(60));
  auto status = containerd_.stubs().containers->Delete(ctx.get(), request, &response);
  if (!status.ok() && status.error_code() != grpc::StatusCode::NOT_FOUND) {
    return fail(grpc_error(status, "delete container '" + id + "'"));
  }
  return {};
}

Result<std::optional<ExitStatus>> ContainerService::delete_task(const std::string& id) {
  cd_tasks::DeleteTaskRequest request;
  request.set_container_id(id);
  cd_tasks::DeleteResponse response;
  // Delete lets the shim exit; a timed-out Delete can leak it, so be patient.
  auto ctx = containerd_.context(std::chrono::seconds(120));
  auto status = containerd_.stubs().tasks->Delete(ctx.get(), request, &response);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) return std::nullopt;
  if (!status.ok()) return fail(grpc_error(status, "delete task of '" + id + "'"));
  const auto& at = response.exited_at();
  return ExitStatus{response.exit_status(), at.seconds() * 1000000000LL + at.nanos()};
}

Result<cd_containers::ListContainersResponse> ContainerService::list_containers(
    const std::string& filter) {
  cd_containers::ListContainersRequest request;
  if (!filter.empty()) request.add_filters(filter);
  cd_containers::ListContainersResponse response;
  auto ctx = containerd_.context(std::chrono::seconds(30));
  auto status = containerd_.stubs().containers->List(ctx.get(), request, &response);
  if (!status.ok()) return fail(grpc_error(status, "list containers"));
  return response;
}

Result<std::vector<std::string>> ContainerService::list_ids(const std::string& filter) {
  auto listed = BERTH_TRY(list_containers(filter));
  std::vector<std::string> ids;
  for (const auto& container : listed.containers()) ids.push_back(container.id());
  return ids;
}

Result<std::set<std::string>> ContainerService::image_names() {
  auto listed = BERTH_TRY(list_containers(""));
  std::set<std::string> names;
  for (const auto& container : listed.containers()) names.insert(container.image());
  return names;
}

Result<std::optional<ExitStatus>> ContainerService::remove(const std::string& id) {
  auto exit = BERTH_TRY(delete_task(id));
  BERTH_TRY(delete_container_record(id));
  BERTH_TRY(remove_snapshot(id));
  if (::unlink(stdin_path(id).c_str()) != 0 && errno != ENOENT) {
    return fail_errno("remove stdin FIFO of '" + id + "'");
  }
  return exit;
}

Result<std::optional<ExitStatus>> ContainerService::kill_and_remove(const std::string& id) {
  if (kill(id, SIGKILL)) (void)wait(id);
  return remove(id);
}

}  // namespace berth::runtime
