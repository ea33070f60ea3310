#include "runtime/sandbox.h"

#include <sys/mount.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/file.h"

namespace berth::runtime {

namespace {

using nlohmann::json;

constexpr std::string_view kPauseName = "berth-pause";

}  // namespace

Result<json> build_sandbox_spec(const SandboxSpecInputs& inputs) {
  if (inputs.rootfs_path.empty() || inputs.rootfs_path.front() != '/') {
    return fail(ErrorCode::kInvalidArgument,
                "sandbox root '" + inputs.rootfs_path + "' is not an absolute path");
  }
  SpecInputs base;
  base.image.cmd = {"/" + std::string(kPauseName)};
  base.overrides.hostname = inputs.hostname;
  base.cgroups_path = inputs.cgroups_path;
  base.netns_path = inputs.netns_path;
  base.agent_nofile_limit = inputs.agent_nofile_limit;
  json spec = BERTH_TRY(build_spec(base));
  spec["root"] = {{"path", inputs.rootfs_path}, {"readonly", true}};
  // berth-pause needs no privilege: pause(), wait and exit.
  for (const char* set : {"bounding", "effective", "permitted"}) {
    spec["process"]["capabilities"][set] = json::array();
  }
  spec["process"]["noNewPrivileges"] = true;
  // Only what lives on /proc or inside /dev's tmpfs: anything else would
  // need a mount point in the shared, read-only root.
  auto& mounts = spec["mounts"].get_ref<json::array_t&>();
  std::erase_if(mounts, [](const json& m) {
    const std::string& destination = m["destination"].get_ref<const std::string&>();
    return destination != "/proc" && destination != "/dev" && !destination.starts_with("/dev/");
  });
  return spec;
}

SandboxService::SandboxService(ContainerService& containers, SandboxConfig config)
    : containers_(containers), config_(std::move(config)) {}

std::string SandboxService::shm_path(const std::string& id) const {
  return config_.state_dir + "/sandboxes/" + id + "/shm";
}

std::vector<std::string> SandboxService::ids_with_host_state() const {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator(config_.state_dir + "/sandboxes", ec)) {
    ids.push_back(entry.path().filename().string());
  }
  std::ranges::sort(ids);
  return ids;
}

Status SandboxService::prepare_rootfs() {
  std::lock_guard lock(rootfs_mu_);
  if (rootfs_ready_) return {};
  namespace fs = std::filesystem;
  std::string root = config_.root_dir + "/sandbox-rootfs";
  std::error_code ec;
  for (const char* dir : {"", "/dev", "/proc"}) {
    fs::create_directories(root + dir, ec);
    if (ec) return fail(ErrorCode::kInternal, "create '" + root + dir + "': " + ec.message());
  }
  // Written through O_CLOEXEC descriptors and replaced by rename, so a
  // running sandbox keeps the binary it started with, and no child berthd
  // spawns meanwhile (a CNI plugin) inherits a descriptor open for writing
  // on it: the kernel would refuse to exec it (ETXTBSY), and the sandbox
  // would exit with 1 at its start. std::filesystem::copy_file's are not
  // O_CLOEXEC.
  std::string target = root + "/" + std::string(kPauseName);
  auto binary = read_file(config_.pause_path);
  if (!binary) {
    return fail(ErrorCode::kFailedPrecondition,
                "read '" + config_.pause_path + "': " + binary.error().message());
  }
  BERTH_TRY_CTX(write_atomically(target, *binary, 0755), "install the sandbox's pause binary");
  rootfs_ready_ = true;
  return {};
}

Result<uint32_t> SandboxService::create(const SandboxRequest& request) {
  BERTH_TRY_CTX(prepare_rootfs(), "sandbox '" + request.id + "'");
  struct rlimit nofile {};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  SandboxSpecInputs inputs;
  inputs.rootfs_path = config_.root_dir + "/sandbox-rootfs";
  inputs.hostname = request.id.substr(0, 63);
  inputs.netns_path = request.netns_path;
  // create_without_image sets the real path (request.cgroups_path).
  inputs.cgroups_path = "/" + request.id;
  inputs.agent_nofile_limit = {"RLIMIT_NOFILE", nofile.rlim_cur, nofile.rlim_max};
  auto spec = BERTH_TRY(build_sandbox_spec(inputs));

  auto undo = [&](Error error) -> Result<uint32_t> {
    (void)remove(request.id);
    return fail(std::move(error));
  };
  if (request.shm_size_bytes > 0) {
    std::string shm = shm_path(request.id);
    std::error_code ec;
    std::filesystem::create_directories(shm, ec);
    if (ec) return undo(Error(ErrorCode::kInternal, "create '" + shm + "': " + ec.message()));
    ::umount2(shm.c_str(), MNT_DETACH);  // what an interrupted attempt mounted
    std::string options = "mode=1777,size=" + std::to_string(request.shm_size_bytes);
    if (::mount("shm", shm.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options.c_str()) !=
        0) {
      return undo(Error(ErrorCode::kInternal, std::string("mount the task's /dev/shm at '") + shm +
                                                  "': " + std::strerror(errno)));
    }
  }
  auto created = containers_.create_without_image(
      request.id, spec, request.labels, request.after_interrupted_create, request.cgroups_path);
  if (!created) return undo(created.error());
  auto pid = containers_.start(request.id);
  if (!pid) return undo(pid.error());
  return *pid;
}

Result<TaskState> SandboxService::status(const std::string& id) {
  return containers_.task_status(id);
}

Status SandboxService::remove(const std::string& id) {
  // berth-pause is pid 1 of its namespace: only SIGKILL from outside is
  // sure to end it, and nothing in it needs a grace period.
  // Its exit status is of no interest.
  BERTH_TRY_CTX(containers_.kill_and_remove(id), "remove sandbox '" + id + "'");
  std::string shm = shm_path(id);
  if (::umount2(shm.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    return fail_errno("unmount the task's /dev/shm at '" + shm + "'");
  }
  std::error_code ec;
  std::filesystem::remove_all(config_.state_dir + "/sandboxes/" + id, ec);
  if (ec) return fail(ErrorCode::kInternal, "remove sandbox '" + id + "' state: " + ec.message());
  return {};
}

}  // namespace berth::runtime
