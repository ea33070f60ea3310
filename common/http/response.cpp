#include "common/http/response.h"

#include <array>
#include <cstdio>
#include <ctime>

#include "common/strings.h"

namespace berth::http {
namespace {

std::string json_escape(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

bool is_header_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f || c == ':') return false;
  }
  return true;
}

bool is_header_value(std::string_view value) {
  for (char c : value) {
    auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\t') || byte == 0x7f) return false;
  }
  return true;
}

bool is_server_header(std::string_view lower_name) {
  return lower_name == "content-length" || lower_name == "content-type" ||
         lower_name == "connection" || lower_name == "date" || lower_name == "transfer-encoding";
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

}  // namespace

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string http_date(std::chrono::system_clock::time_point when) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 40> text{};
  int length = std::snprintf(text.data(), text.size(), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                             kDays.at(utc.tm_wday % 7), utc.tm_mday, kMonths.at(utc.tm_mon % 12),
                             utc.tm_year + 1900, utc.tm_hour, utc.tm_min, utc.tm_sec);
  return std::string(text.data(), length > 0 ? static_cast<size_t>(length) : 0);
}

bool status_has_body(int status) { return status >= 200 && status != 204 && status != 304; }

Response json_response(int status, std::string body) {
  Response response;
  response.status = status;
  response.content_type = "application/json";
  response.body = std::move(body);
  return response;
}

Response error_response(int status, std::string_view message) {
  return json_response(status, "{\"error\":\"" + json_escape(message) + "\"}");
}

Result<std::string> serialize_head(const Response& response, bool keep_alive,
                                   std::string_view date) {
  if (response.status < 200 || response.status > 599) {
    return fail(ErrorCode::kInvalidArgument,
                "response status " + std::to_string(response.status) + " is not 200-599");
  }
  if (!is_header_value(response.content_type)) {
    return fail(ErrorCode::kInvalidArgument, "bad Content-Type in response");
  }
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " ";
  out += reason_phrase(response.status);
  out += "\r\n";
  if (!date.empty()) append_header(out, "Date", date);
  if (status_has_body(response.status)) {
    append_header(out, "Content-Type", response.content_type);
  }
  if (response.status != 204) {
    append_header(out, "Content-Length",
                  std::to_string(status_has_body(response.status) ? response.body.size() : 0));
  }
  append_header(out, "Connection", keep_alive ? "keep-alive" : "close");
  for (const auto& [name, value] : response.headers) {
    if (!is_header_name(name) || !is_header_value(value)) {
      return fail(ErrorCode::kInvalidArgument, "bad response header '" + name + "'");
    }
    if (is_server_header(lower(name))) continue;
    append_header(out, name, value);
  }
  out += "\r\n";
  return out;
}

}  // namespace berth::http
