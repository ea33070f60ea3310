// The server's I/O thread: one epoll set over the listeners, the connections
// and an eventfd through which other threads hand it commands (a listener to
// add or remove, a response a worker finished). Every socket and all
// connection state belong to this thread alone.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "common/error.h"
#include "common/fd.h"
#include "common/http/connection.h"
#include "common/http/request.h"
#include "common/http/response.h"
#include "common/http/server.h"
#include "common/http/worker_pool.h"

namespace berth::http {

class IoLoop {
 public:
  // `pool` runs the handlers and must outlive the loop's run().
  static Result<std::unique_ptr<IoLoop>> create(const ServerOptions& options, WorkerPool& pool);
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;
  ~IoLoop() = default;

  // The I/O thread's body; returns after request_stop().
  void run();

  // From any thread.
  void request_stop();
  // Watches `listening` (non-blocking already) under `id`.
  // `max_connections` (0: only the server's own bound) caps its open
  // connections, so that one listener's clients cannot take every slot.
  Status add_listener(int id, UniqueFd listening, std::shared_ptr<const Handler> handler,
                      size_t max_connections = 0);
  // Closes listener `id` and its connections; returns when its handler calls
  // in flight have returned and the handler is destroyed.
  void remove_listener(int id);
  size_t connections() const { return connection_count_.load(); }

  // Once run() has returned and the workers are joined: closes every socket
  // and releases remove_listener callers. Commands posted later are dropped.
  void close_all();

 private:
  using TimePoint = std::chrono::steady_clock::time_point;

  struct Listener {
    UniqueFd fd;
    std::shared_ptr<const Handler> handler;
    size_t in_flight = 0;        // handler calls running for its connections
    size_t max_connections = 0;  // 0: none of its own
    size_t connections = 0;      // open now
    bool removed = false;        // closed, waiting for in_flight to reach 0
    std::vector<std::promise<void>> waiters;
  };
  struct AddListener {
    int id;
    UniqueFd fd;
    std::shared_ptr<const Handler> handler;
    size_t max_connections;
  };
  struct RemoveListener {
    int id;
    std::promise<void> done;
  };
  struct Completion {
    uint64_t connection_id;
    int listener_id;
    Response response;
  };
  using Command = std::variant<AddListener, RemoveListener, Completion>;

  IoLoop(const ServerOptions& options, WorkerPool& pool) : options_(options), pool_(pool) {}

  bool post(Command command);  // false once closed
  void run_commands();
  void on_command(AddListener& command);
  void on_command(RemoveListener& command);
  void on_command(Completion& command);
  void release_listener_if_done(int id);

  void accept_connections(int listener_id, Listener& listener);
  void on_connection_event(uint64_t id, uint32_t events);
  // Moves a connection on as far as it goes without waiting on the socket.
  void advance(Connection& connection);
  bool take_request(Connection& connection);
  bool flush(Connection& connection);
  void dispatch(Connection& connection, Request request);
  void reject(Connection& connection, int status, std::string_view message);
  void respond(Connection& connection, Response response);
  void close_connection(uint64_t id);

  void set_interest(Connection& connection, uint32_t events);
  void set_deadline(Connection& connection, std::optional<TimePoint> deadline);
  void expire_deadlines();
  int wait_timeout_ms() const;

  const ServerOptions options_;
  WorkerPool& pool_;
  UniqueFd epoll_;
  UniqueFd wake_;
  // Kept open so that at EMFILE one pending connection can still be accepted
  // and closed, rather than the listener waking the loop for ever.
  UniqueFd reserve_fd_;

  std::mutex inbox_mutex_;
  std::vector<Command> inbox_;
  bool closed_ = false;
  std::atomic<bool> stop_requested_{false};
  std::atomic<size_t> connection_count_{0};

  // The I/O thread's own.
  std::map<int, Listener> listeners_;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::set<std::pair<TimePoint, uint64_t>> deadlines_;
  uint64_t next_connection_id_ = 1;
};

}  // namespace berth::http
