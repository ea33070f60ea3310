#include "common/http/request.h"

#include <charconv>
#include <cstdint>
#include <optional>

#include "common/strings.h"

namespace berth::http {
namespace {

// RFC 9110 section 5.6.2: tchar.
bool is_token_char(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

// Visible ASCII only: no spaces, controls or bytes above 0x7e.
bool is_visible_ascii(std::string_view text) {
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) return false;
  }
  return true;
}

// A field value may hold tabs and any byte but the other controls and DEL.
bool is_field_value(std::string_view text) {
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\t') || byte == 0x7f) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

size_t skip_leading_blank_lines(std::string_view buffer) {
  size_t at = 0;
  while (at < buffer.size()) {
    if (buffer[at] == '\n') {
      ++at;
    } else if (buffer[at] == '\r' && at + 1 < buffer.size() && buffer[at + 1] == '\n') {
      at += 2;
    } else {
      break;
    }
  }
  return at;
}

std::unexpected<Error> malformed(std::string message) {
  return fail(ErrorCode::kInvalidArgument, "malformed request: " + std::move(message));
}

// Splits a head into lines without their CRLF / LF; the blank line that ends it is left out.
std::vector<std::string_view> head_lines(std::string_view head) {
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    size_t newline = head.find('\n');
    std::string_view line = head.substr(0, newline);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    lines.push_back(line);
    if (newline == std::string_view::npos) break;
    head.remove_prefix(newline + 1);
  }
  return lines;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits the request target into the raw path and query. Accepts origin-form
// ("/a?b"), absolute-form ("http://host/a?b") and "*" (for OPTIONS).
Status split_target(std::string_view method, std::string_view target, std::string_view& path,
                    std::string_view& query) {
  if (target == "*") {
    if (method != "OPTIONS") return malformed("target '*' is only for OPTIONS");
    path = target;
    query = {};
    return {};
  }
  std::string_view rest = target;
  if (rest.front() != '/') {
    std::string scheme = lower(rest.substr(0, rest.find("://")));
    if ((scheme != "http" && scheme != "https") || rest.find("://") == std::string_view::npos) {
      return malformed("request target '" + std::string(target) + "' is not a path or URL");
    }
    rest.remove_prefix(scheme.size() + 3);
    size_t path_start = rest.find_first_of("/?");
    rest = path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
  }
  size_t question = rest.find('?');
  path = rest.substr(0, question);
  query = question == std::string_view::npos ? std::string_view() : rest.substr(question + 1);
  if (path.empty()) path = "/";
  return {};
}

// Content-Length: digits only; several must agree.
Status read_content_length(std::string_view value, std::optional<uint64_t>& length) {
  uint64_t parsed = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size()) {
    return malformed("bad Content-Length '" + std::string(value) + "'");
  }
  if (length && *length != parsed) return malformed("conflicting Content-Length headers");
  length = parsed;
  return {};
}

// Whether the comma-separated Connection header values hold `option`.
bool has_connection_option(const Request& request, std::string_view option) {
  for (const auto& [name, value] : request.headers) {
    if (name != "connection") continue;
    for (const std::string& part : split(value, ',')) {
      if (lower(trim(part)) == option) return true;
    }
  }
  return false;
}

}  // namespace

const std::string* find_header(const Request& request, std::string_view name) {
  for (const auto& [header_name, value] : request.headers) {
    if (header_name == name) return &value;
  }
  return nullptr;
}

size_t find_head_end(std::string_view buffer) {
  size_t at = skip_leading_blank_lines(buffer);
  while (true) {
    size_t newline = buffer.find('\n', at);
    if (newline == std::string_view::npos) return std::string_view::npos;
    if (newline + 1 < buffer.size() && buffer[newline + 1] == '\n') return newline + 2;
    if (newline + 2 < buffer.size() && buffer[newline + 1] == '\r' && buffer[newline + 2] == '\n') {
      return newline + 3;
    }
    at = newline + 1;
  }
}

Result<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    int high = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
    int low = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
    if (high < 0 || low < 0) {
      return fail(ErrorCode::kInvalidArgument, "bad percent escape in '" + std::string(text) + "'");
    }
    if (high == 0 && low == 0) {
      return fail(ErrorCode::kInvalidArgument, "'%00' in '" + std::string(text) + "'");
    }
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

Result<RequestHead> parse_request_head(std::string_view head) {
  head.remove_prefix(skip_leading_blank_lines(head));
  std::vector<std::string_view> lines = head_lines(head);
  if (lines.empty()) return malformed("no request line");

  // request-line = method SP request-target SP HTTP-version
  std::string_view line = lines.front();
  size_t first_space = line.find(' ');
  size_t second_space =
      first_space == std::string_view::npos ? first_space : line.find(' ', first_space + 1);
  if (second_space == std::string_view::npos ||
      line.find(' ', second_space + 1) != std::string_view::npos) {
    return malformed("bad request line");
  }
  std::string_view method = line.substr(0, first_space);
  std::string_view target = line.substr(first_space + 1, second_space - first_space - 1);
  std::string_view version = line.substr(second_space + 1);
  if (!is_token(method)) return malformed("bad method");
  if (target.empty() || !is_visible_ascii(target)) return malformed("bad request target");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return malformed("bad HTTP version");
  }
  if (version[5] != '1') {
    return fail(ErrorCode::kFailedPrecondition,
                "HTTP version '" + std::string(version) + "' is not supported");
  }

  RequestHead parsed;
  parsed.minor_version = version[7] - '0';
  Request& request = parsed.request;
  request.method = std::string(method);
  request.target = std::string(target);

  std::optional<uint64_t> content_length;
  size_t hosts = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    line = lines[i];
    if (line.front() == ' ' || line.front() == '\t') return malformed("folded header line");
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return malformed("header line without ':'");
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim_ows(line.substr(colon + 1));
    if (!is_token(name)) return malformed("bad header name");
    if (!is_field_value(value)) return malformed("bad header value");
    std::string lower_name = lower(name);
    if (lower_name == "content-length") {
      BERTH_TRY(read_content_length(value, content_length));
    } else if (lower_name == "transfer-encoding") {
      parsed.has_body = true;
    } else if (lower_name == "host") {
      ++hosts;
    }
    request.headers.emplace_back(std::move(lower_name), std::string(value));
  }
  if (content_length && *content_length > 0) parsed.has_body = true;
  // RFC 9112 section 3.2: a 1.1 request without exactly one Host is answered 400.
  if (parsed.minor_version >= 1 && hosts != 1) return malformed("HTTP/1.1 needs one Host header");

  std::string_view raw_path;
  std::string_view query;
  BERTH_TRY(split_target(method, target, raw_path, query));
  request.path = BERTH_TRY_CTX(percent_decode(raw_path), "malformed request");
  request.query = std::string(query);

  parsed.keep_alive = parsed.minor_version >= 1 ? !has_connection_option(request, "close")
                                                : has_connection_option(request, "keep-alive");
  return parsed;
}

}  // namespace berth::http
