// A small HTTP/1.1 server for berthd's own endpoints (Prometheus /metrics,
// the introspection API, the ECS task metadata endpoint).
//
// One epoll thread owns every socket, all non-blocking; a fixed pool of
// workers runs the handlers and hands finished responses back to it (an
// eventfd wakes it). So a thousand idle connections, an oversized request, a
// client that never reads or a slow handler do not stop the others being
// served. Only GET and HEAD without a body are served; the rest is refused
// with a JSON error.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

#include "common/error.h"
#include "common/fd.h"
#include "common/http/address.h"
#include "common/http/request.h"
#include "common/http/response.h"

namespace berth::http {

// Called on a worker thread, for GET and HEAD (for HEAD the body returned
// gives Content-Length and is not sent). An exception thrown gives a 500.
using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  size_t workers = 2;
  size_t max_connections = 1024;     // beyond: accepted and closed at once
  size_t max_request_bytes = 16384;  // request line + headers; beyond: 431, then close
  std::chrono::milliseconds request_timeout{5000};  // a request must arrive whole in this time
  std::chrono::milliseconds idle_timeout{30000};    // keep-alive idle connections
};

class IoLoop;
class WorkerPool;

class Server {
 public:
  // Starts the I/O thread and the workers.
  static Result<std::unique_ptr<Server>> start(ServerOptions options = {});
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on "host:port" ("127.0.0.1:51680", "[::1]:0"; port 0
  // picks one); returns the bound port. An address already in use is
  // kAlreadyExists, naming it.
  Result<uint16_t> listen(std::string_view address, Handler handler);
  // Serves a socket that already listens (e.g. one made inside a network
  // namespace); the server takes it over and makes it non-blocking. Returns
  // an id for remove_listener.
  // `max_connections` (0: only ServerOptions::max_connections) caps the
  // connections open on this listener, so that its clients cannot take
  // every connection of the server (the task metadata endpoint gives each
  // task's namespace a listener of its own).
  Result<int> add_listener(UniqueFd listening, Handler handler, size_t max_connections = 0);
  // Closes that listener and every connection accepted on it, and waits for
  // its handler calls in flight to return; the handler is destroyed when this
  // returns. Not from a handler of that listener. Unknown id: no-op.
  void remove_listener(int id);
  // Open connections now (for tests).
  size_t connections() const;
  // Idempotent; closes everything, joins the threads. Not from a handler.
  void stop();

 private:
  Server() = default;

  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<IoLoop> loop_;
  std::thread io_thread_;
  std::atomic<int> next_listener_id_{1};
  std::mutex stop_mutex_;
  bool stopped_ = false;
};

}  // namespace berth::http
