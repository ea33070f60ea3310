// The HTTP/1.1 response: what a handler returns, and how the server turns it
// into bytes on the wire.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace berth::http {

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra headers. Content-Length, Content-Type, Connection, Date and
  // Transfer-Encoding are the server's own: those given here are dropped.
  std::vector<std::pair<std::string, std::string>> headers;
};

// "OK", "Not Found", ...; "Unknown" for a code without a standard phrase.
std::string_view reason_phrase(int status);

// RFC 9110 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(std::chrono::system_clock::time_point when);

// Whether a response with `status` carries a body (not 1xx, 204 or 304).
bool status_has_body(int status);

// A response with a JSON body (already serialised).
Response json_response(int status, std::string body);

// A response the server makes itself: a JSON body {"error":"<message>"}.
Response error_response(int status, std::string_view message);

// The status line and headers of `response`, through the blank line. The
// body is sent after it (or not at all, for HEAD). An invalid status (outside
// 200-599) or a header name or value that could split the head is an error.
Result<std::string> serialize_head(const Response& response, bool keep_alive,
                                   std::string_view date);

}  // namespace berth::http
