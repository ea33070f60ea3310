#include "common/http/io_loop.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <climits>

namespace berth::http {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr uint64_t kWakeTag = 0;
constexpr uint64_t kListenerTag = uint64_t{1} << 63;
constexpr int kMaxEvents = 256;
constexpr int kAcceptsPerWake = 256;
// At most this long (or request_timeout, if shorter) is spent draining what a
// client still sends after a response that closes the connection.
constexpr milliseconds kMaxLinger{2000};

Response call_handler(const Handler& handler, const Request& request) {
  try {
    return handler(request);
  } catch (...) {  // a handler's failure is the client's 500, never the server's end
    return error_response(500, "internal error");
  }
}

}  // namespace

Result<std::unique_ptr<IoLoop>> IoLoop::create(const ServerOptions& options, WorkerPool& pool) {
  std::unique_ptr<IoLoop> loop(new IoLoop(options, pool));
  loop->epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  if (!loop->epoll_) return fail_errno("epoll_create1");
  loop->wake_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!loop->wake_) return fail_errno("eventfd");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kWakeTag;
  if (::epoll_ctl(loop->epoll_.get(), EPOLL_CTL_ADD, loop->wake_.get(), &event) != 0) {
    return fail_errno("epoll_ctl eventfd");
  }
  loop->reserve_fd_ = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  return loop;
}

void IoLoop::run() {
  std::array<epoll_event, kMaxEvents> events{};
  while (!stop_requested_.load()) {
    int count = ::epoll_wait(epoll_.get(), events.data(), kMaxEvents, wait_timeout_ms());
    if (count < 0 && errno != EINTR) break;  // only a broken epoll fd gets here
    // Reset the eventfd before taking the commands, so that none posted after is missed.
    uint64_t ignored = 0;
    if (::read(wake_.get(), &ignored, sizeof ignored) < 0) ignored = 0;
    run_commands();
    for (int i = 0; i < count; ++i) {
      uint64_t tag = events.at(i).data.u64;
      if (tag == kWakeTag) continue;
      if ((tag & kListenerTag) != 0) {
        auto found = listeners_.find(static_cast<int>(tag & ~kListenerTag));
        if (found != listeners_.end() && !found->second.removed) {
          accept_connections(found->first, found->second);
        }
        continue;
      }
      on_connection_event(tag, events.at(i).events);
    }
    expire_deadlines();
  }
}

void IoLoop::request_stop() {
  stop_requested_.store(true);
  uint64_t one = 1;
  if (::write(wake_.get(), &one, sizeof one) < 0) one = 0;  // EAGAIN: a wakeup is pending
}

Status IoLoop::add_listener(int id, UniqueFd listening, std::shared_ptr<const Handler> handler,
                            size_t max_connections) {
  // Registered here so that an error reaches the caller; an event that comes
  // before the I/O thread has taken the command is seen again (level-triggered).
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kListenerTag | static_cast<uint64_t>(id);
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listening.get(), &event) != 0) {
    return fail_errno("add listener: epoll_ctl");
  }
  int fd = listening.get();
  if (!post(AddListener{id, std::move(listening), std::move(handler), max_connections})) {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    return fail(ErrorCode::kFailedPrecondition, "add listener: the server is stopped");
  }
  return {};
}

void IoLoop::remove_listener(int id) {
  std::promise<void> done;
  std::future<void> removed = done.get_future();
  if (!post(RemoveListener{id, std::move(done)})) return;
  removed.wait();
}

void IoLoop::close_all() {
  std::vector<Command> pending;
  {
    std::lock_guard lock(inbox_mutex_);
    closed_ = true;
    pending.swap(inbox_);
  }
  for (Command& command : pending) {
    if (auto* remove = std::get_if<RemoveListener>(&command)) remove->done.set_value();
  }
  deadlines_.clear();
  connections_.clear();
  connection_count_.store(0);
  for (auto& [id, listener] : listeners_) {
    if (listener.fd) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener.fd.get(), nullptr);
    listener.fd.reset();
    listener.handler.reset();
    for (std::promise<void>& waiter : listener.waiters) waiter.set_value();
  }
  listeners_.clear();
}

bool IoLoop::post(Command command) {
  {
    std::lock_guard lock(inbox_mutex_);
    if (closed_) return false;
    inbox_.push_back(std::move(command));
  }
  uint64_t one = 1;
  if (::write(wake_.get(), &one, sizeof one) < 0) one = 0;  // EAGAIN: a wakeup is pending
  return true;
}

void IoLoop::run_commands() {
  std::vector<Command> commands;
  {
    std::lock_guard lock(inbox_mutex_);
    commands.swap(inbox_);
  }
  for (Command& command : commands) {
    std::visit([this](auto& typed) { on_command(typed); }, command);
  }
}

void IoLoop::on_command(AddListener& command) {
  Listener listener;
  listener.fd = std::move(command.fd);
  listener.handler = std::move(command.handler);
  listener.max_connections = command.max_connections;
  listeners_.emplace(command.id, std::move(listener));
}

void IoLoop::on_command(RemoveListener& command) {
  auto found = listeners_.find(command.id);
  if (found == listeners_.end()) {
    command.done.set_value();
    return;
  }
  Listener& listener = found->second;
  listener.waiters.push_back(std::move(command.done));
  if (!listener.removed) {
    listener.removed = true;
    // Removed explicitly: the caller may hold a duplicate of the socket.
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener.fd.get(), nullptr);
    listener.fd.reset();
    std::vector<uint64_t> accepted;
    for (const auto& [id, connection] : connections_) {
      if (connection->listener_id == command.id) accepted.push_back(id);
    }
    for (uint64_t id : accepted) close_connection(id);
  }
  release_listener_if_done(command.id);
}

void IoLoop::on_command(Completion& command) {
  auto listener = listeners_.find(command.listener_id);
  if (listener != listeners_.end() && listener->second.in_flight > 0) {
    --listener->second.in_flight;
    release_listener_if_done(command.listener_id);
  }
  auto found = connections_.find(command.connection_id);
  if (found == connections_.end()) return;  // closed while the handler ran
  Connection& connection = *found->second;
  if (connection.state != ConnectionState::kHandling) return;
  respond(connection, std::move(command.response));
  advance(connection);
  if (connection.state == ConnectionState::kClosed) close_connection(connection.id);
}

void IoLoop::release_listener_if_done(int id) {
  auto found = listeners_.find(id);
  if (found == listeners_.end() || !found->second.removed || found->second.in_flight > 0) return;
  std::vector<std::promise<void>> waiters = std::move(found->second.waiters);
  listeners_.erase(found);  // destroys the handler: no worker holds it any more
  for (std::promise<void>& waiter : waiters) waiter.set_value();
}

void IoLoop::accept_connections(int listener_id, Listener& listener) {
  for (int i = 0; i < kAcceptsPerWake; ++i) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    UniqueFd fd(::accept4(listener.fd.get(), reinterpret_cast<sockaddr*>(&address), &length,
                          SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if ((errno == EMFILE || errno == ENFILE) && reserve_fd_) {
        // Out of descriptors: take the oldest pending connection and close it.
        reserve_fd_.reset();
        UniqueFd shed(::accept4(listener.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
        shed.reset();
        reserve_fd_ = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        continue;
      }
      return;  // EAGAIN, or an error the next wakeup may not have
    }
    if (connections_.size() >= options_.max_connections) continue;  // closed at once
    if (listener.max_connections != 0 && listener.connections >= listener.max_connections) {
      continue;  // its own share is taken: closed at once
    }
    auto connection = std::make_unique<Connection>();
    connection->id = next_connection_id_++;
    connection->listener_id = listener_id;
    connection->peer = format_peer(address, length);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = connection->id;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &event) != 0) continue;
    connection->fd = std::move(fd);
    connection->events = EPOLLIN;
    connection->request_started = true;  // the first request's time runs from the accept
    set_deadline(*connection, steady_clock::now() + options_.request_timeout);
    ++listener.connections;
    connections_.emplace(connection->id, std::move(connection));
    connection_count_.store(connections_.size());
  }
}

void IoLoop::on_connection_event(uint64_t id, uint32_t events) {
  auto found = connections_.find(id);
  if (found == connections_.end()) return;  // closed earlier in this round
  Connection& connection = *found->second;
  bool readable = (events & (EPOLLIN | EPOLLHUP)) != 0;
  // An error, or a hang-up while the handler runs: the client is gone.
  bool broken = (events & EPOLLERR) != 0 ||
                (connection.state == ConnectionState::kHandling && (events & EPOLLHUP) != 0);
  if (!broken && readable && connection.state == ConnectionState::kReading) {
    broken = read_available(connection, options_.max_request_bytes + 1) == IoStatus::kError;
  } else if (!broken && readable && connection.state == ConnectionState::kLingering) {
    broken = drain_input(connection) != IoStatus::kWouldBlock;  // EOF ends the lingering too
  }
  if (broken) connection.state = ConnectionState::kClosed;
  advance(connection);
  if (connection.state == ConnectionState::kClosed) close_connection(id);
}

void IoLoop::advance(Connection& connection) {
  while (true) {
    bool moved = false;
    if (connection.state == ConnectionState::kReading) {
      moved = take_request(connection);
    } else if (connection.state == ConnectionState::kWriting) {
      moved = flush(connection);
    }
    if (!moved) return;
  }
}

bool IoLoop::take_request(Connection& connection) {
  size_t max = options_.max_request_bytes;
  size_t end = find_head_end(connection.in);
  if (end == std::string_view::npos) {
    if (connection.in.size() > max) {
      reject(connection, 431, "request head larger than " + std::to_string(max) + " bytes");
      return true;
    }
    if (connection.peer_closed) {
      connection.state = ConnectionState::kClosed;
      return true;
    }
    if (!connection.in.empty() && !connection.request_started) {
      connection.request_started = true;
      set_deadline(connection, steady_clock::now() + options_.request_timeout);
    }
    return false;
  }
  if (end > max) {
    reject(connection, 431, "request head larger than " + std::to_string(max) + " bytes");
    return true;
  }
  Result<RequestHead> head = parse_request_head(std::string_view(connection.in).substr(0, end));
  connection.in.erase(0, end);
  connection.request_started = false;
  if (!head) {
    bool bad_version = head.error().code() == ErrorCode::kFailedPrecondition;
    reject(connection, bad_version ? 505 : 400, head.error().message());
    return true;
  }
  if (head->has_body) {
    reject(connection, 413, "request bodies are not accepted");
    return true;
  }
  connection.close_after = !head->keep_alive || connection.peer_closed;
  connection.head_only = head->request.method == "HEAD";
  if (head->request.method != "GET" && !connection.head_only) {
    Response response = error_response(405, "method " + head->request.method + " not allowed");
    response.headers.emplace_back("Allow", "GET, HEAD");
    respond(connection, std::move(response));
    return true;
  }
  dispatch(connection, std::move(head->request));
  return true;
}

void IoLoop::dispatch(Connection& connection, Request request) {
  auto listener = listeners_.find(connection.listener_id);
  if (listener == listeners_.end() || listener->second.removed) {
    connection.state = ConnectionState::kClosed;
    return;
  }
  request.peer = connection.peer;
  connection.state = ConnectionState::kHandling;
  set_interest(connection, 0);  // EPOLLHUP still comes
  set_deadline(connection, std::nullopt);
  ++listener->second.in_flight;
  pool_.submit([this, connection_id = connection.id, listener_id = connection.listener_id,
                handler = listener->second.handler, request = std::move(request)]() mutable {
    Response response = call_handler(*handler, request);
    handler.reset();  // so that remove_listener's caller sees the handler destroyed
    post(Completion{connection_id, listener_id, std::move(response)});
  });
}

void IoLoop::reject(Connection& connection, int status, std::string_view message) {
  // The rest of what the client sends is never read: close, after draining it
  // so that the kernel does not answer it with a reset that loses the response.
  connection.close_after = true;
  connection.linger = true;
  connection.head_only = false;
  respond(connection, error_response(status, message));
}

void IoLoop::respond(Connection& connection, Response response) {
  std::string date = http_date(std::chrono::system_clock::now());
  Result<std::string> head = serialize_head(response, !connection.close_after, date);
  if (!head) {
    response = error_response(500, "internal error");
    head = serialize_head(response, !connection.close_after, date);
  }
  connection.out_head = head ? std::move(*head) : std::string();
  if (connection.head_only || !status_has_body(response.status)) {
    connection.out_body.clear();
  } else {
    connection.out_body = std::move(response.body);
  }
  connection.out_sent = 0;
  connection.state = ConnectionState::kWriting;
  set_deadline(connection, steady_clock::now() + options_.idle_timeout);
}

bool IoLoop::flush(Connection& connection) {
  IoStatus status = write_pending(connection);
  if (status == IoStatus::kWouldBlock) {
    // A client that stops reading is given idle_timeout for each step forward.
    set_interest(connection, EPOLLOUT);
    set_deadline(connection, steady_clock::now() + options_.idle_timeout);
    return false;
  }
  if (status == IoStatus::kError) {
    connection.state = ConnectionState::kClosed;
    return true;
  }
  connection.out_head.clear();
  connection.out_body = std::string();  // frees a large body now
  auto now = steady_clock::now();
  if (connection.close_after) {
    bool unread = connection.linger || !connection.in.empty();
    if (!unread || connection.peer_closed) {
      connection.state = ConnectionState::kClosed;
      return true;
    }
    ::shutdown(connection.fd.get(), SHUT_WR);
    connection.in = std::string();
    connection.state = ConnectionState::kLingering;
    set_interest(connection, EPOLLIN);
    set_deadline(connection, now + std::min(options_.request_timeout, kMaxLinger));
    return false;
  }
  connection.state = ConnectionState::kReading;
  set_interest(connection, EPOLLIN);
  connection.request_started = !connection.in.empty();
  set_deadline(connection, now + (connection.request_started ? options_.request_timeout
                                                             : options_.idle_timeout));
  return true;
}

void IoLoop::close_connection(uint64_t id) {
  auto found = connections_.find(id);
  if (found == connections_.end()) return;
  set_deadline(*found->second, std::nullopt);
  if (auto listener = listeners_.find(found->second->listener_id); listener != listeners_.end()) {
    --listener->second.connections;
  }
  connections_.erase(found);  // closing the socket removes it from the epoll set
  connection_count_.store(connections_.size());
}

void IoLoop::set_interest(Connection& connection, uint32_t events) {
  if (connection.events == events) return;
  epoll_event event{};
  event.events = events;
  event.data.u64 = connection.id;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, connection.fd.get(), &event) != 0) {
    connection.state = ConnectionState::kClosed;
    return;
  }
  connection.events = events;
}

void IoLoop::set_deadline(Connection& connection, std::optional<TimePoint> deadline) {
  if (connection.deadline) deadlines_.erase({*connection.deadline, connection.id});
  connection.deadline = deadline;
  if (deadline) deadlines_.emplace(*deadline, connection.id);
}

void IoLoop::expire_deadlines() {
  auto now = steady_clock::now();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    uint64_t id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    auto found = connections_.find(id);
    if (found == connections_.end()) continue;
    found->second->deadline.reset();
    close_connection(id);
  }
}

int IoLoop::wait_timeout_ms() const {
  if (deadlines_.empty()) return -1;
  auto left = deadlines_.begin()->first - steady_clock::now();
  if (left <= steady_clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<milliseconds>(left).count();
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

}  // namespace berth::http
