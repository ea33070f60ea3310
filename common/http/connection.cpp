#include "common/http/connection.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace berth::http {
namespace {

constexpr size_t kReadChunk = 16384;
// Reads per drain_input call, so that a client streaming fast cannot hold the I/O thread.
constexpr int kDrainReads = 16;

}  // namespace

IoStatus read_available(Connection& connection, size_t limit) {
  while (connection.in.size() < limit) {
    size_t want = std::min(kReadChunk, limit - connection.in.size());
    size_t old_size = connection.in.size();
    connection.in.resize(old_size + want);
    ssize_t got = ::recv(connection.fd.get(), connection.in.data() + old_size, want, 0);
    connection.in.resize(old_size + (got > 0 ? static_cast<size_t>(got) : 0));
    if (got > 0) continue;
    if (got == 0) {
      connection.peer_closed = true;
      return IoStatus::kClosed;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoStatus::kWouldBlock;
    return IoStatus::kError;
  }
  return IoStatus::kDone;
}

IoStatus write_pending(Connection& connection) {
  size_t total = connection.out_head.size() + connection.out_body.size();
  while (connection.out_sent < total) {
    std::array<iovec, 2> parts{};
    size_t count = 0;
    size_t sent = connection.out_sent;
    if (sent < connection.out_head.size()) {
      parts[count++] = {connection.out_head.data() + sent, connection.out_head.size() - sent};
      sent = 0;
    } else {
      sent -= connection.out_head.size();
    }
    if (sent < connection.out_body.size()) {
      parts[count++] = {connection.out_body.data() + sent, connection.out_body.size() - sent};
    }
    msghdr message{};
    message.msg_iov = parts.data();
    message.msg_iovlen = count;
    ssize_t wrote = ::sendmsg(connection.fd.get(), &message, MSG_NOSIGNAL);
    if (wrote >= 0) {
      connection.out_sent += static_cast<size_t>(wrote);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoStatus::kWouldBlock;
    return IoStatus::kError;
  }
  return IoStatus::kDone;
}

IoStatus drain_input(Connection& connection) {
  std::array<char, kReadChunk> scratch{};
  for (int reads = 0; reads < kDrainReads; ++reads) {
    ssize_t got = ::recv(connection.fd.get(), scratch.data(), scratch.size(), 0);
    if (got > 0) continue;
    if (got == 0) return IoStatus::kDone;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoStatus::kWouldBlock;
    return IoStatus::kError;
  }
  return IoStatus::kWouldBlock;
}

}  // namespace berth::http
