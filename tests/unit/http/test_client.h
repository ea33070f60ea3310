// A blocking loopback HTTP client for the server tests: every read and
// write gives up after a generous timeout, so a hung server fails a test
// rather than stalling it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/fd.h"
#include "common/strings.h"

namespace berth::http::test_support {

using namespace std::chrono_literals;

// Generous: only a server that hangs makes a test wait this long.
constexpr auto kSocketTimeout = 5s;

struct ParsedResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string header(const std::string& name) const {
    auto found = headers.find(name);
    return found == headers.end() ? std::string() : found->second;
  }
};

// A blocking loopback client with a 5 s timeout on every read and write.
class Client {
 public:
  explicit Client(uint16_t port, int receive_buffer = 0) {
    fd_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd_) return;
    if (receive_buffer > 0) {
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    timeval timeout{};
    timeout.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(kSocketTimeout).count();
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      connect_errno_ = errno;
      fd_.reset();
    }
  }

  bool connected() const { return static_cast<bool>(fd_); }
  void close() { fd_.reset(); }
  int connect_errno() const { return connect_errno_; }

  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t wrote = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (wrote <= 0) return false;
      data.remove_prefix(static_cast<size_t>(wrote));
    }
    return true;
  }

  // Reads one response; for HEAD, no body follows whatever Content-Length says.
  std::optional<ParsedResponse> read_response(bool head_request = false, size_t chunk = 65536) {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(chunk)) return std::nullopt;
    }
    ParsedResponse response;
    std::vector<std::string> lines = split(buffer_.substr(0, end), '\n');
    buffer_.erase(0, end + 4);
    if (lines.empty() || lines[0].rfind("HTTP/1.1 ", 0) != 0) return std::nullopt;
    response.status = std::stoi(lines[0].substr(9, 3));
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      if (colon == std::string::npos) return std::nullopt;
      response.headers[lower(lines[i].substr(0, colon))] =
          std::string(trim(lines[i].substr(colon + 1)));
    }
    size_t length = head_request ? 0
                                 : std::stoul(response.header("content-length").empty()
                                                  ? "0"
                                                  : response.header("content-length"));
    while (buffer_.size() < length) {
      if (!fill(chunk)) return std::nullopt;
    }
    response.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return response;
  }

  // True once the server closed: EOF (or a reset) with nothing unread.
  bool reads_eof() {
    if (!buffer_.empty()) return false;
    char byte;
    ssize_t got = ::recv(fd_.get(), &byte, 1, 0);
    return got == 0 || (got < 0 && errno == ECONNRESET);
  }

  int fd() const { return fd_.get(); }

 private:
  bool fill(size_t chunk) {
    std::string more(chunk, '\0');
    ssize_t got = ::recv(fd_.get(), more.data(), more.size(), 0);
    if (got <= 0) return false;
    buffer_.append(more.data(), static_cast<size_t>(got));
    return true;
  }

  UniqueFd fd_;
  int connect_errno_ = 0;
  std::string buffer_;
};

inline std::string get(std::string_view path, std::string_view extra = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra) + "\r\n";
}

// Polls `condition` until it holds or `limit` passes.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

}  // namespace berth::http::test_support
