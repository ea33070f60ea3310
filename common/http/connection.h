// One accepted connection as the I/O thread sees it, and the non-blocking
// reads and writes on it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "common/fd.h"

namespace berth::http {

enum class ConnectionState {
  kReading,    // waiting for (the rest of) a request head
  kHandling,   // a worker runs the handler; the socket is not watched
  kWriting,    // sending the response; resumed on EPOLLOUT
  kLingering,  // response sent and write side shut; reading and dropping until EOF
  kClosed,     // to be closed by the I/O thread
};

struct Connection {
  UniqueFd fd;
  uint64_t id = 0;
  int listener_id = 0;
  std::string peer;
  ConnectionState state = ConnectionState::kReading;
  uint32_t events = 0;  // the epoll interest set now

  std::string in;                // received and not yet parsed
  bool request_started = false;  // `in` holds part of a request: request_timeout runs
  bool peer_closed = false;      // read EOF

  // The response being written, and what follows it.
  std::string out_head;
  std::string out_body;
  size_t out_sent = 0;
  bool head_only = false;    // a HEAD request: the body is not sent
  bool close_after = false;  // close once the response is out
  bool linger = false;       // on that close, first drain what the client still sends

  std::optional<std::chrono::steady_clock::time_point> deadline;
};

enum class IoStatus {
  kWouldBlock,  // nothing more now: wait for epoll
  kDone,        // read: `limit` reached; write: all sent; drain: peer closed
  kClosed,      // read: the peer closed (peer_closed set)
  kError,       // the connection is broken
};

// Appends to `in` until the socket would block, the peer closes, or `in`
// holds `limit` bytes.
IoStatus read_available(Connection& connection, size_t limit);

// Sends the rest of out_head and out_body (MSG_NOSIGNAL).
IoStatus write_pending(Connection& connection);

// Reads and drops what arrives, until it would block or the peer closes.
IoStatus drain_input(Connection& connection);

}  // namespace berth::http
