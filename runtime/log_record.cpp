#include "runtime/log_record.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace berth::runtime {
namespace {

using std::chrono::system_clock;

// Error messages quote at most this much of a bad line.
constexpr size_t kQuoteBytes = 60;

std::string quote(std::string_view line) {
  if (line.size() <= kQuoteBytes) return "'" + std::string(line) + "'";
  return "'" + std::string(line.substr(0, kQuoteBytes)) + "...'";
}

// The bytes a UTF-8 sequence needs, judged by its first byte; 1 for anything
// that cannot start a sequence (those are replaced, never held back).
size_t utf8_sequence_length(unsigned char lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 1;
}

// Where to cut text, at most n bytes in, without splitting a character whose
// last bytes have not arrived yet.
size_t utf8_safe_cut(std::string_view text, size_t n) {
  size_t start = n;
  size_t continuation = 0;
  while (start > 0 && continuation < 3 &&
         (static_cast<unsigned char>(text[start - 1]) & 0xC0) == 0x80) {
    --start;
    ++continuation;
  }
  if (start == 0) return n;
  size_t lead = start - 1;
  size_t needed = utf8_sequence_length(static_cast<unsigned char>(text[lead]));
  if (needed > n - lead && lead > 0) return lead;
  return n;
}

// Parses exactly `width` decimal digits at text[pos].
std::optional<int> digits(std::string_view text, size_t pos, size_t width) {
  if (pos + width > text.size()) return std::nullopt;
  int value = 0;
  for (size_t i = pos; i < pos + width; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

}  // namespace

std::string_view log_stream_name(LogStream stream) {
  switch (stream) {
    case LogStream::kStdout:
      return "stdout";
    case LogStream::kStderr:
      return "stderr";
  }
  return "unknown";
}

std::string format_rfc3339_nano(system_clock::time_point time) {
  using namespace std::chrono;
  auto nanos = time_point_cast<nanoseconds>(time);
  sys_days day = floor<days>(nanos);
  year_month_day ymd{day};
  hh_mm_ss<nanoseconds> tod{nanos - day};
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02d.%09" PRId64 "Z",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(tod.hours().count()),
                static_cast<int>(tod.minutes().count()), static_cast<int>(tod.seconds().count()),
                static_cast<int64_t>(tod.subseconds().count()));
  return buf;
}

Result<system_clock::time_point> parse_rfc3339_nano(std::string_view text) {
  using namespace std::chrono;
  auto bad = [&](std::string_view why) {
    return fail(ErrorCode::kInvalidArgument,
                "time " + quote(text) + " is not RFC 3339: " + std::string(why));
  };
  // YYYY-MM-DDTHH:MM:SS
  auto year = digits(text, 0, 4);
  auto month = digits(text, 5, 2);
  auto day = digits(text, 8, 2);
  auto hour = digits(text, 11, 2);
  auto minute = digits(text, 14, 2);
  auto second = digits(text, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
    return bad("expected YYYY-MM-DDTHH:MM:SS");
  }
  year_month_day ymd{std::chrono::year(*year), std::chrono::month(static_cast<unsigned>(*month)),
                     std::chrono::day(static_cast<unsigned>(*day))};
  if (!ymd.ok()) return bad("no such date");
  if (*hour > 23 || *minute > 59 || *second > 59) return bad("time of day out of range");

  size_t pos = 19;
  int64_t fraction = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t count = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (count == 9) return bad("more than 9 fractional digits");
      fraction = fraction * 10 + (text[pos] - '0');
      ++pos;
      ++count;
    }
    if (count == 0) return bad("no digits after '.'");
    for (; count < 9; ++count) fraction *= 10;
  }

  minutes offset{0};
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    auto off_hours = digits(text, pos + 1, 2);
    auto off_minutes = digits(text, pos + 4, 2);
    if (!off_hours || !off_minutes || text[pos + 3] != ':' || *off_hours > 23 ||
        *off_minutes > 59) {
      return bad("bad UTC offset");
    }
    offset = hours(*off_hours) + minutes(*off_minutes);
    if (text[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return bad("missing 'Z' or UTC offset");
  }
  if (pos != text.size()) return bad("trailing characters");

  auto local =
      sys_days(ymd) + hours(*hour) + minutes(*minute) + seconds(*second) + nanoseconds(fraction);
  return time_point_cast<system_clock::duration>(local - offset);
}

std::string format_log_record(LogStream stream, std::string_view text,
                              system_clock::time_point time) {
  std::string out;
  out.reserve(text.size() + 80);
  out += "{\"log\":";
  out += nlohmann::json(std::string(text))
             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out += ",\"stream\":\"";
  out += log_stream_name(stream);
  out += "\",\"time\":\"";
  out += format_rfc3339_nano(time);
  out += "\"}\n";
  return out;
}

Result<LogRecord> parse_log_record(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  nlohmann::json object;
  try {
    object = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::kDataLoss,
                "log record " + quote(line) + " is not valid JSON: " + e.what());
  }
  if (!object.is_object()) {
    return fail(ErrorCode::kDataLoss, "log record " + quote(line) + " is not a JSON object");
  }
  auto field = [&](const char* key) -> const nlohmann::json* {
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? &*it : nullptr;
  };
  const nlohmann::json* log = field("log");
  const nlohmann::json* stream = field("stream");
  const nlohmann::json* time = field("time");
  if (log == nullptr || stream == nullptr || time == nullptr) {
    return fail(ErrorCode::kDataLoss,
                "log record " + quote(line) + ": \"log\", \"stream\" and \"time\" must be strings");
  }
  LogRecord record;
  record.text = log->get<std::string>();
  const std::string& stream_name = stream->get_ref<const std::string&>();
  if (stream_name == "stdout") {
    record.stream = LogStream::kStdout;
  } else if (stream_name == "stderr") {
    record.stream = LogStream::kStderr;
  } else {
    return fail(ErrorCode::kDataLoss, "log record " + quote(line) + ": stream '" + stream_name +
                                          "' is neither stdout nor stderr");
  }
  auto parsed_time = parse_rfc3339_nano(time->get_ref<const std::string&>());
  if (!parsed_time) {
    return fail(Error(ErrorCode::kDataLoss, parsed_time.error().message())
                    .with_context("log record " + quote(line)));
  }
  record.time = *parsed_time;
  return record;
}

LineSplitter::LineSplitter(size_t max_record_bytes)
    : max_record_bytes_(std::max<size_t>(max_record_bytes, 1)) {}

std::vector<std::string> LineSplitter::feed(std::string_view bytes) {
  std::vector<std::string> records;
  pending_.append(bytes);
  // Erase consumed bytes once at the end: erasing per record would make a
  // chunk of many short lines quadratic.
  size_t start = 0;
  while (start < pending_.size()) {
    std::string_view rest = std::string_view(pending_).substr(start);
    size_t newline = rest.substr(0, max_record_bytes_).find('\n');
    if (newline != std::string_view::npos) {
      records.emplace_back(rest.substr(0, newline + 1));
      start += newline + 1;
    } else if (rest.size() >= max_record_bytes_) {
      size_t cut = utf8_safe_cut(rest, max_record_bytes_);
      records.emplace_back(rest.substr(0, cut));
      start += cut;
    } else {
      break;
    }
  }
  pending_.erase(0, start);
  return records;
}

std::optional<std::string> LineSplitter::finish() {
  if (pending_.empty()) return std::nullopt;
  std::string rest = std::move(pending_);
  pending_.clear();
  return rest;
}

}  // namespace berth::runtime
