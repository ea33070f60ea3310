// The HTTP/1.x request head: what a handler sees, and the pure parser that
// turns received bytes into it (no sockets here, so it is tested on strings).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace berth::http {

struct Request {
  std::string method;  // "GET"
  std::string target;  // as sent: "/v4/abc/task?x=1"
  std::string path;    // percent-decoded path without the query: "/v4/abc/task"
  std::string query;   // raw, without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string peer;                                          // "127.0.0.1:53412"
};

// The value of the first header called `name` (lower case), or nullptr.
const std::string* find_header(const Request& request, std::string_view name);

// A parsed head and what it asks of the connection.
struct RequestHead {
  Request request;        // `peer` left empty
  int minor_version = 1;  // HTTP/1.<minor_version>
  bool keep_alive = true;
  bool has_body = false;  // Content-Length > 0, or any Transfer-Encoding
};

// The number of bytes from the start of `buffer` up to and including the
// blank line that ends the head, or std::string_view::npos while the head has
// not all arrived. Empty lines before the request line are counted in; lines
// may end in CRLF or a bare LF (RFC 9112 section 2.2).
size_t find_head_end(std::string_view buffer);

// Parses a whole head (as delimited by find_head_end). A malformed head is
// kInvalidArgument (answer 400); a version other than HTTP/1.x is
// kFailedPrecondition (answer 505).
Result<RequestHead> parse_request_head(std::string_view head);

// Decodes %XX escapes ('+' stays '+'). A truncated or non-hex escape, or one
// that decodes to NUL, is an error.
Result<std::string> percent_decode(std::string_view text);

}  // namespace berth::http
