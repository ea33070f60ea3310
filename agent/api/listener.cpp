#include "agent/api/listener.h"

#include <fcntl.h>
#include <grpcpp/server.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace berth::agent {

Result<std::unique_ptr<ApiListener>> ApiListener::open(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    return fail(ErrorCode::kInvalidArgument, "socket '" + path + "': path too long");
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fail_errno("socket for '" + path + "'");
  ::unlink(path.c_str());
  mode_t old_umask = ::umask(0077);
  int bound = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::umask(old_umask);
  if (bound != 0) return fail_errno("bind '" + path + "'");
  if (::chmod(path.c_str(), 0600) != 0) return fail_errno("chmod '" + path + "'");
  if (::listen(fd.get(), 128) != 0) return fail_errno("listen on '" + path + "'");
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return fail_errno("eventfd");
  return std::unique_ptr<ApiListener>(new ApiListener(path, std::move(fd), std::move(wake)));
}

ApiListener::~ApiListener() { stop(); }

void ApiListener::serve(grpc::Server* server) {
  thread_ = std::thread([this, server] { accept_loop(server); });
}

void ApiListener::stop() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
    thread_.join();
  }
  if (fd_) {
    fd_.reset();
    ::unlink(path_.c_str());
  }
}

void ApiListener::accept_loop(grpc::Server* server) {
  while (true) {
    pollfd fds[2] = {{fd_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    int connection = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (connection < 0) {
      // EMFILE and the like: wait for a descriptor to come free rather
      // than spin on a connection that stays queued.
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) ::poll(fds + 1, 1, 100);
      continue;
    }
    ucred credentials{};
    socklen_t length = sizeof credentials;
    PeerCredentials peer;
    if (::getsockopt(connection, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0) {
      peer = {credentials.pid, credentials.uid, credentials.gid};
    }
    {
      // A descriptor number is reused only once gRPC closed the connection
      // that had it: the entry is then the new connection's.
      std::lock_guard lock(mu_);
      peers_[connection] = peer;
    }
    grpc::AddInsecureChannelFromFd(server, connection);
  }
}

std::optional<PeerCredentials> ApiListener::caller(const std::string& peer) const {
  if (!peer.starts_with("fd:")) return std::nullopt;
  int fd = -1;
  auto digits = std::string_view(peer).substr(3);
  if (std::from_chars(digits.data(), digits.data() + digits.size(), fd).ec != std::errc()) {
    return std::nullopt;
  }
  std::lock_guard lock(mu_);
  auto it = peers_.find(fd);
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

}  // namespace berth::agent
