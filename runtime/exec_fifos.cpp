#include "runtime/exec_fifos.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "common/file.h"
#include "runtime/containerd_stubs.h"

namespace berth::runtime {

namespace fs = std::filesystem;

namespace {

constexpr const char* kMarker = "exec";  // "<container id>\n<exec id>\n"
constexpr const char* kPidFile = "pid";

Result<UniqueFd> make_fifo(const std::string& path, int flags) {
  if (::mkfifo(path.c_str(), 0600) != 0) return fail_errno("mkfifo '" + path + "'");
  UniqueFd fd(::open(path.c_str(), flags | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return fail_errno("open '" + path + "'");
  return fd;
}

// The process group and session of `pid` (fields 5 and 6 of its stat).
bool group_and_session(pid_t pid, pid_t* group, pid_t* session) {
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  auto end = stat->rfind(')');  // the command may hold spaces and parens
  if (end == std::string::npos) return false;
  std::istringstream fields(stat->substr(end + 1));
  char state = 0;
  pid_t parent = 0;
  return static_cast<bool>(fields >> state >> parent >> *group >> *session);
}

}  // namespace

std::string new_exec_id(std::string_view prefix) {
  std::random_device random;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string out = std::string(prefix) + "-";
  for (int i = 0; i < 16; ++i) out.push_back("0123456789abcdef"[hex(random)]);
  return out;
}

Result<RunningContainer> running_container(Containerd& containerd, const std::string& container_id,
                                           const std::string& what) {
  cd_containers::GetContainerRequest get;
  get.set_id(container_id);
  cd_containers::GetContainerResponse container;
  {
    auto ctx = containerd.context(std::chrono::seconds(30));
    auto status = containerd.stubs().containers->Get(ctx.get(), get, &container);
    if (!status.ok()) return fail(grpc_error(status, what));
  }
  auto spec = nlohmann::json::parse(container.container().spec().value(), nullptr, false);
  if (spec.is_discarded() || !spec.contains("process")) {
    return fail(ErrorCode::kInternal, what + ": the container's spec has no process");
  }
  cd_tasks::GetRequest task_get;
  task_get.set_container_id(container_id);
  cd_tasks::GetResponse task;
  auto ctx = containerd.context(std::chrono::seconds(30));
  auto status = containerd.stubs().tasks->Get(ctx.get(), task_get, &task);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND ||
      (status.ok() && task.process().status() != containerd::v1::types::RUNNING)) {
    return fail(ErrorCode::kFailedPrecondition, what + ": the container is not running");
  }
  if (!status.ok()) return fail(grpc_error(status, what));
  std::string cgroups_path;
  if (spec.contains("linux") && spec["linux"].is_object()) {
    cgroups_path = spec["linux"].value("cgroupsPath", "");
  }
  return RunningContainer{spec["process"], task.process().pid(), cgroups_path};
}

Result<ExecFifos> ExecFifos::create(const std::string& parent, const std::string& container_id,
                                    const std::string& exec_id, bool with_stdin, bool tty) {
  std::error_code ec;
  fs::create_directories(parent, ec);
  ::chmod(parent.c_str(), 0700);
  std::string dir = parent + "/" + exec_id;
  if (::mkdir(dir.c_str(), 0700) != 0) return fail_errno("create exec directory '" + dir + "'");
  ExecFifos fifos(dir);
  BERTH_TRY(write_atomically(dir + "/" + kMarker, container_id + "\n" + exec_id + "\n"));
  fifos.stdout_ = BERTH_TRY(make_fifo(dir + "/stdout", O_RDONLY));
  if (!tty) fifos.stderr_ = BERTH_TRY(make_fifo(dir + "/stderr", O_RDONLY));
  if (with_stdin) fifos.stdin_ = BERTH_TRY(make_fifo(dir + "/stdin", O_RDWR));
  return fifos;
}

ExecFifos::ExecFifos(ExecFifos&& other) noexcept
    : dir_(std::exchange(other.dir_, {})),
      stdin_(std::move(other.stdin_)),
      stdout_(std::move(other.stdout_)),
      stderr_(std::move(other.stderr_)) {}

ExecFifos::~ExecFifos() {
  stdin_.reset();
  stdout_.reset();
  stderr_.reset();
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string ExecFifos::stdin_path() const { return stdin_ ? dir_ + "/stdin" : ""; }
std::string ExecFifos::stdout_path() const { return dir_ + "/stdout"; }
std::string ExecFifos::stderr_path() const { return stderr_ ? dir_ + "/stderr" : ""; }

void ExecFifos::note_pid(pid_t pid) const {
  // Best effort: without it a restarted berthd still kills the exec itself
  // through containerd, only not its children.
  (void)write_atomically(dir_ + "/" + kPidFile, std::to_string(pid) + "\n");
}

void kill_exec_tree(Containerd& containerd, const std::string& container_id, pid_t pid) {
  if (pid <= 0) return;
  cd_tasks::ListPidsRequest request;
  request.set_container_id(container_id);
  cd_tasks::ListPidsResponse response;
  auto ctx = containerd.context(std::chrono::seconds(10));
  if (!containerd.stubs().tasks->ListPids(ctx.get(), request, &response).ok()) return;
  std::set<pid_t> in_container;
  for (const auto& process : response.processes()) {
    in_container.insert(static_cast<pid_t>(process.pid()));
  }
  for (pid_t candidate : in_container) {
    pid_t group = 0;
    pid_t session = 0;
    if (candidate == pid ||
        (group_and_session(candidate, &group, &session) && (group == pid || session == pid))) {
      ::kill(candidate, SIGKILL);
    }
  }
}

int reap_execs(Containerd& containerd, const std::string& parent) {
  int found = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with("exec-") && !name.starts_with("session-")) continue;
    ++found;
    std::string dir = entry.path().string();
    std::ifstream marker(dir + "/" + kMarker);
    std::string container_id;
    std::string exec_id;
    if (std::getline(marker, container_id) && std::getline(marker, exec_id)) {
      pid_t pid = 0;
      if (auto text = read_file(dir + "/" + kPidFile)) {
        std::from_chars(text->data(), text->data() + text->size(), pid);
      }
      kill_exec_tree(containerd, container_id, pid);
      cd_tasks::KillRequest kill;
      kill.set_container_id(container_id);
      kill.set_exec_id(exec_id);
      kill.set_signal(SIGKILL);
      google::protobuf::Empty empty;
      {
        auto ctx = containerd.context(std::chrono::seconds(10));
        (void)containerd.stubs().tasks->Kill(ctx.get(), kill, &empty);
      }
      // Deleting waits for the exit: the kill above may not have landed yet.
      cd_tasks::WaitRequest wait;
      wait.set_container_id(container_id);
      wait.set_exec_id(exec_id);
      cd_tasks::WaitResponse waited;
      {
        auto ctx = containerd.context(std::chrono::seconds(10));
        (void)containerd.stubs().tasks->Wait(ctx.get(), wait, &waited);
      }
      cd_tasks::DeleteProcessRequest remove;
      remove.set_container_id(container_id);
      remove.set_exec_id(exec_id);
      cd_tasks::DeleteResponse deleted;
      auto ctx = containerd.context(std::chrono::seconds(10));
      (void)containerd.stubs().tasks->DeleteProcess(ctx.get(), remove, &deleted);
    }
    fs::remove_all(dir, ec);
  }
  return found;
}

}  // namespace berth::runtime
