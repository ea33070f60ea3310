#include "netns/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <system_error>
#include <thread>

namespace berth::netns {

namespace {

// Runs `fn` on a thread of its own and waits for it. Namespace changes
// (unshare, setns) stick to the calling thread, so they are made on a thread
// that ends right after instead of one that could run other work later.
Status run_on_fresh_thread(const std::function<Status()>& fn) {
  Status status;
  std::thread worker([&] {
    // An escaping exception would terminate the whole agent.
    try {
      status = fn();
    } catch (const std::exception& e) {
      status = fail(ErrorCode::kInternal, std::string("exception: ") + e.what());
    } catch (...) {
      status = fail(ErrorCode::kInternal, "unknown exception");
    }
  });
  worker.join();
  return status;
}

// Makes a new network namespace for the calling thread and bind-mounts it
// on `path`, which keeps it alive after the thread ends.
Status unshare_and_pin(const std::string& path) {
  if (::unshare(CLONE_NEWNET) != 0) return fail_errno("unshare(CLONE_NEWNET)");
  // /proc/self is the thread group leader; only the task entry names this
  // thread's new namespace.
  std::string source = "/proc/self/task/" + std::to_string(::gettid()) + "/ns/net";
  if (::mount(source.c_str(), path.c_str(), "none", MS_BIND, nullptr) != 0) {
    return fail_errno("bind mount " + source);
  }
  return {};
}

}  // namespace

Status create_pinned(const std::string& path) {
  std::string context = "create network namespace '" + path + "'";
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) return fail_errno(context + ": mkdir '" + parent.string() + "'", ec.value());
  }
  {
    // O_EXCL: two creators of one name must not share (and later both
    // remove) one namespace.
    UniqueFd file(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
    if (!file) return fail_errno(context + ": create pin file");
  }
  Status pinned = run_on_fresh_thread([&] { return unshare_and_pin(path); });
  if (!pinned) {
    ::unlink(path.c_str());
    return fail(pinned.error().with_context(context));
  }
  return {};
}

Status remove_pinned(const std::string& path) {
  std::string context = "remove network namespace '" + path + "'";
  // MNT_DETACH: a process still inside the namespace (or an open fd) keeps it
  // alive, but the pin must go now. EINVAL means nothing is mounted there.
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    return fail_errno(context + ": umount");
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail_errno(context + ": unlink");
  return {};
}

bool is_pinned(const std::string& path) {
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) != 0) return false;
  return static_cast<unsigned long>(fs.f_type) == NSFS_MAGIC;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<UniqueFd> open_namespace(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno("open network namespace '" + path + "'");
  return fd;
}

Status run_in(const std::string& path, const std::function<Status()>& fn) {
  return run_on_fresh_thread([&]() -> Status {
    UniqueFd fd = BERTH_TRY(open_namespace(path));
    if (::setns(fd.get(), CLONE_NEWNET) != 0) {
      return fail_errno("enter network namespace '" + path + "'");
    }
    return fn();
  });
}

}  // namespace berth::netns
