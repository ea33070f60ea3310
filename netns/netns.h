// Network namespaces that berth creates itself (no pause container): made
// on a dedicated short-lived thread with unshare(CLONE_NEWNET), pinned by a
// bind mount of that thread's /proc/self/task/<tid>/ns/net onto a file
// under berth's state directory, entered only on a fresh thread, removed by
// unmounting and unlinking the pin.
//
// Layout: <state>/netns/<name>   (an empty file, nsfs bind-mounted on it)
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fd.h"

namespace berth::netns {

// Creates a new network namespace pinned at `path` (its directory is made
// if needed). Fails with kAlreadyExists if `path` exists. On failure
// nothing is left behind. Loopback is left down (see Netlink::set_up).
Status create_pinned(const std::string& path);

// Unmounts (MNT_DETACH) and unlinks the pin. Succeeds if `path` does not
// exist, or exists but is not mounted (a crash between creating the file and
// mounting it).
Status remove_pinned(const std::string& path);

// Whether `path` is a pinned namespace (a file on which nsfs is mounted).
bool is_pinned(const std::string& path);

// The names of the entries of `dir` (pinned or not); empty if `dir` does not
// exist.
std::vector<std::string> list_dir(const std::string& dir);

// Opens the namespace file `path` (a pin, or /proc/<pid>/ns/net) O_RDONLY.
Result<UniqueFd> open_namespace(const std::string& path);

// Runs `fn` on a new thread that has joined the network namespace at `path`
// and returns its result; the thread ends afterwards, so the namespace never
// leaks into a reused thread.
Status run_in(const std::string& path, const std::function<Status()>& fn);

}  // namespace berth::netns
