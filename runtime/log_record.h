// Container log records in Docker's json-file format, one JSON object per
// line:
//   {"log":"hello\n","stream":"stdout","time":"2024-05-01T12:00:00.123456789Z"}
// berth-logger writes them; berthd reads them back. Pure: no I/O here.
//
// "log" holds the container's bytes as written, including the '\n' that ended
// the line. A record whose "log" does not end in '\n' is a partial line (cut
// at the size limit, or the output's last bytes); a reader that wants whole
// lines joins it with the records that follow on the same stream.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace berth::runtime {

enum class LogStream { kStdout, kStderr };

// "stdout" or "stderr", as written in the "stream" field.
std::string_view log_stream_name(LogStream stream);

struct LogRecord {
  LogStream stream = LogStream::kStdout;
  std::string text;  // invalid UTF-8 in the original output reads back as U+FFFD
  std::chrono::system_clock::time_point time;
};

// One record as a complete line, '\n' included, ready for a single write().
// Bytes of text that are not valid UTF-8 become U+FFFD so the line is valid
// JSON whatever the container printed.
std::string format_log_record(LogStream stream, std::string_view text,
                              std::chrono::system_clock::time_point time);

// Parses one line of a log file (a trailing '\n' is allowed). A line that is
// not a record, such as the torn last line after a crash, is kDataLoss.
Result<LogRecord> parse_log_record(std::string_view line);

// UTC with exactly nine fractional digits ("2024-05-01T12:00:00.000000000Z"),
// like Docker: fixed width keeps the lines sortable as text.
std::string format_rfc3339_nano(std::chrono::system_clock::time_point time);

// Accepts RFC 3339 with 0-9 fractional digits and "Z" or a "+hh:mm" offset.
Result<std::chrono::system_clock::time_point> parse_rfc3339_nano(std::string_view text);

// Cuts a byte stream into record texts: each complete line, and a partial
// line whenever max_record_bytes accumulate without a newline so that memory
// stays bounded. A partial cut backs off to a UTF-8 character boundary so one
// character is not split into two replacement characters.
class LineSplitter {
 public:
  static constexpr size_t kDefaultMaxRecordBytes = size_t{16} * 1024;

  explicit LineSplitter(size_t max_record_bytes = kDefaultMaxRecordBytes);

  // Returns the record texts completed by these bytes, in order.
  std::vector<std::string> feed(std::string_view bytes);

  // At end of stream: the partial line still held, if any.
  std::optional<std::string> finish();

  size_t buffered_bytes() const { return pending_.size(); }

 private:
  size_t max_record_bytes_;
  std::string pending_;
};

}  // namespace berth::runtime
