// berth's API socket, accepted by berthd itself rather than by gRPC, so that
// every connection's peer credentials (SO_PEERCRED) are known: the caller of
// an exec session is audited by the kernel's word, not the client's. Each
// accepted connection is handed to the gRPC server (AddInsecureChannelFromFd),
// whose calls name it in their peer string ("fd:N"); caller() maps that back.
#pragma once

#include <sys/socket.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/error.h"
#include "common/fd.h"

namespace grpc {
class Server;
}

namespace berth::agent {

struct PeerCredentials {
  int64_t pid = -1;
  int64_t uid = -1;
  int64_t gid = -1;
};

class ApiListener {
 public:
  // Binds `path` (mode 0600 from the first moment: only root may drive
  // berth) and listens; a stale socket file is replaced.
  static Result<std::unique_ptr<ApiListener>> open(const std::string& path);
  ~ApiListener();
  ApiListener(const ApiListener&) = delete;
  ApiListener& operator=(const ApiListener&) = delete;

  // Accepts connections for `server` (started, with no ports of its own)
  // on a thread of its own until stop().
  void serve(grpc::Server* server);
  // Stops accepting and removes the socket file; connections already handed
  // to gRPC end with the server.
  void stop();

  // The credentials of the connection a call came on, by the call's peer
  // string (grpc::ServerContext::peer()).
  std::optional<PeerCredentials> caller(const std::string& peer) const;

 private:
  ApiListener(std::string path, UniqueFd fd, UniqueFd wake)
      : path_(std::move(path)), fd_(std::move(fd)), wake_(std::move(wake)) {}
  void accept_loop(grpc::Server* server);

  std::string path_;
  UniqueFd fd_;
  UniqueFd wake_;  // an eventfd: stop() ends the accept loop
  std::thread thread_;
  mutable std::mutex mu_;
  std::map<int, PeerCredentials> peers_;  // by connection fd
};

}  // namespace berth::agent
