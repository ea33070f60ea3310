#include "cni/exec.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <set>
#include <string>
#include <thread>

#include "common/fd.h"

namespace berth::cni {
namespace {

// A plugin that prints more than this is broken; keep reading (so it does
// not block on a full pipe) but stop storing.
constexpr size_t kMaxOutput = 16 << 20;
constexpr int kSpawnAttempts = 5;

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// The inherited environment with `env` replacing variables of the same name.
std::vector<std::string> environment(const std::vector<std::pair<std::string, std::string>>& env) {
  std::set<std::string, std::less<>> replaced;
  for (const auto& [name, value] : env) replaced.insert(name);
  std::vector<std::string> entries;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    if (replaced.contains(text.substr(0, text.find('=')))) continue;
    entries.emplace_back(text);
  }
  for (const auto& [name, value] : env) entries.push_back(name + "=" + value);
  return entries;
}

struct Child {
  pid_t pid = -1;
  UniqueFd in;   // the child's stdin, written here
  UniqueFd out;  // its stdout, read here
  UniqueFd err;
};

// One posix_spawn; returns the errno posix_spawn gave (ETXTBSY is retried
// by the caller) in an Error.
Result<Child> spawn(const std::string& path, std::vector<std::string>& env) {
  Pipe in = BERTH_TRY(make_pipe());
  Pipe out = BERTH_TRY(make_pipe());
  Pipe err = BERTH_TRY(make_pipe());

  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  // dup2 clears O_CLOEXEC on the copy, so only these three reach the plugin.
  ::posix_spawn_file_actions_adddup2(&actions, in.read.get(), STDIN_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, out.write.get(), STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, err.write.get(), STDERR_FILENO);

  posix_spawnattr_t attr;
  ::posix_spawnattr_init(&attr);
  // Its own process group, so that a timeout also kills what the plugin
  // started (iptables, an IPAM plugin); a clean signal state, since the
  // agent blocks or ignores some signals that plugins rely on.
  ::posix_spawnattr_setflags(
      &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  ::posix_spawnattr_setpgroup(&attr, 0);
  sigset_t mask;
  sigemptyset(&mask);
  ::posix_spawnattr_setsigmask(&attr, &mask);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int signal : {SIGPIPE, SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM}) {
    sigaddset(&defaults, signal);
  }
  ::posix_spawnattr_setsigdefault(&attr, &defaults);

  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (auto& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::string argv0 = path;
  std::array<char*, 2> argv = {argv0.data(), nullptr};

  Child child;
  int rc = ::posix_spawn(&child.pid, path.c_str(), &actions, &attr, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attr);
  if (rc != 0) return fail_errno("spawn '" + path + "'", rc);
  child.in = std::move(in.write);
  child.out = std::move(out.read);
  child.err = std::move(err.read);
  set_nonblocking(child.in.get());
  set_nonblocking(child.out.get());
  set_nonblocking(child.err.get());
  return child;
}

int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// Reads what is there; closes `fd` at EOF or on an error.
void drain(UniqueFd& fd, std::string& into) {
  std::array<char, 65536> buffer{};
  while (true) {
    ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n > 0) {
      size_t room = kMaxOutput - std::min(kMaxOutput, into.size());
      into.append(buffer.data(), std::min(room, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    fd.reset();
    return;
  }
}

// Blocks SIGPIPE on this thread while the plugin's stdin is written: a
// plugin that exits without reading it must give EPIPE, not kill the agent.
// A SIGPIPE raised meanwhile is consumed before the mask is restored.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    ::pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;
  ~SigpipeBlock() {
    if (!was_pending_) {
      timespec zero{};
      while (::sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
      }
    }
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool was_pending_ = false;
};

std::string describe(std::chrono::milliseconds timeout) {
  if (timeout.count() % 1000 == 0) return std::to_string(timeout.count() / 1000) + "s";
  return std::to_string(timeout.count()) + "ms";
}

}  // namespace

Result<ProcessOutput> run_process(const std::string& path,
                                  const std::vector<std::pair<std::string, std::string>>& env,
                                  std::string_view input, std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + timeout;
  std::vector<std::string> entries = environment(env);

  Child child;
  for (int attempt = 1;; ++attempt) {
    auto spawned = spawn(path, entries);
    if (spawned) {
      child = std::move(*spawned);
      break;
    }
    if (spawned.error().sys_errno() != ETXTBSY || attempt == kSpawnAttempts) {
      return fail(spawned.error());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100) * attempt);
  }

  SigpipeBlock sigpipe_block;
  ProcessOutput output;
  size_t written = 0;
  if (input.empty()) child.in.reset();
  bool timed_out = false;
  while (child.out || child.err) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    std::array<pollfd, 3> fds{};
    nfds_t count = 0;
    // A closed fd (-1) is skipped by poll, so the slots keep their meaning.
    fds[count++] = {child.in.get(), POLLOUT, 0};
    fds[count++] = {child.out.get(), POLLIN, 0};
    fds[count++] = {child.err.get(), POLLIN, 0};
    int ready = ::poll(fds.data(), count, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) {
      int saved = errno;
      ::kill(-child.pid, SIGKILL);
      reap(child.pid);
      return fail_errno("poll", saved);
    }
    if (ready <= 0) continue;
    if (fds[0].revents != 0) {
      ssize_t n = ::write(child.in.get(), input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      // EPIPE: the plugin does not want (all of) its stdin; that is its call.
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) {
        child.in.reset();
      }
    }
    if (fds[1].revents != 0) drain(child.out, output.out);
    if (fds[2].revents != 0) drain(child.err, output.err);
  }
  child.in.reset();

  // Both pipes closed: the plugin is exiting (or handed them on and went
  // on running, which the deadline still covers).
  while (!timed_out) {
    int status = 0;
    pid_t done = ::waitpid(child.pid, &status, WNOHANG);
    if (done == child.pid) {
      output.wait_status = status;
      return output;
    }
    if (done < 0 && errno != EINTR) return fail_errno("waitpid");
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(-child.pid, SIGKILL);
  reap(child.pid);
  return fail(ErrorCode::kDeadlineExceeded, "timed out after " + describe(timeout) + ", killed");
}

}  // namespace berth::cni
