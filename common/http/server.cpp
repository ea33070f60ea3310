#include "common/http/server.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <string>
#include <system_error>
#include <utility>

#include "common/http/io_loop.h"
#include "common/http/worker_pool.h"

namespace berth::http {
namespace {

Status validate(const ServerOptions& options) {
  if (options.workers == 0) return fail(ErrorCode::kInvalidArgument, "workers must be at least 1");
  if (options.max_connections == 0) {
    return fail(ErrorCode::kInvalidArgument, "max_connections must be at least 1");
  }
  if (options.max_request_bytes < 16) {
    return fail(ErrorCode::kInvalidArgument, "max_request_bytes must be at least 16");
  }
  if (options.request_timeout.count() <= 0 || options.idle_timeout.count() <= 0) {
    return fail(ErrorCode::kInvalidArgument, "timeouts must be positive");
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<Server>> Server::start(ServerOptions options) {
  BERTH_TRY_CTX(validate(options), "start HTTP server");
  std::unique_ptr<Server> server(new Server());
  server->pool_ = BERTH_TRY_CTX(WorkerPool::start(options.workers), "start HTTP server");
  server->loop_ = BERTH_TRY_CTX(IoLoop::create(options, *server->pool_), "start HTTP server");
  try {
    server->io_thread_ = std::thread([loop = server->loop_.get()] { loop->run(); });
  } catch (const std::system_error& error) {
    return fail(Error(ErrorCode::kInternal,
                      std::string("start HTTP server: I/O thread: ") + error.what(),
                      error.code().value()));
  }
  return server;
}

Server::~Server() { stop(); }

Result<uint16_t> Server::listen(std::string_view address, Handler handler) {
  UniqueFd listening = BERTH_TRY(listen_tcp(address));
  std::string context = "listen on '" + std::string(address) + "'";
  uint16_t port = BERTH_TRY_CTX(local_port(listening.get()), context);
  BERTH_TRY_CTX(add_listener(std::move(listening), std::move(handler)), context);
  return port;
}

Result<int> Server::add_listener(UniqueFd listening, Handler handler, size_t max_connections) {
  if (!listening) return fail(ErrorCode::kInvalidArgument, "add listener: no socket");
  if (!handler) return fail(ErrorCode::kInvalidArgument, "add listener: no handler");
  int accepting = 0;
  socklen_t length = sizeof accepting;
  if (::getsockopt(listening.get(), SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) != 0) {
    return fail_errno("add listener: SO_ACCEPTCONN");
  }
  if (accepting == 0) {
    return fail(ErrorCode::kInvalidArgument, "add listener: the socket is not listening");
  }
  int flags = ::fcntl(listening.get(), F_GETFL);
  if (flags < 0 || ::fcntl(listening.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return fail_errno("add listener: make non-blocking");
  }
  if (::fcntl(listening.get(), F_SETFD, FD_CLOEXEC) != 0) {
    return fail_errno("add listener: set close-on-exec");
  }
  int id = next_listener_id_.fetch_add(1);
  BERTH_TRY(loop_->add_listener(id, std::move(listening),
                                std::make_shared<const Handler>(std::move(handler)),
                                max_connections));
  return id;
}

void Server::remove_listener(int id) { loop_->remove_listener(id); }

size_t Server::connections() const { return loop_->connections(); }

void Server::stop() {
  std::lock_guard lock(stop_mutex_);
  if (stopped_) return;
  stopped_ = true;
  if (loop_) loop_->request_stop();
  if (io_thread_.joinable()) io_thread_.join();
  if (pool_) pool_->stop();
  if (loop_) loop_->close_all();
}

}  // namespace berth::http
