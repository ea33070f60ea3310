#include "runtime/log_record.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace berth::runtime {
namespace {

using std::chrono::system_clock;
using Strings = std::vector<std::string>;

// 2024-05-01T12:34:56.123456789Z
system_clock::time_point sample_time() {
  using namespace std::chrono;
  auto tp = sys_days(year(2024) / May / 1) + hours(12) + minutes(34) + seconds(56) +
            nanoseconds(123456789);
  return time_point_cast<system_clock::duration>(tp);
}

TEST(LogRecordFormat, DockerJsonFileLine) {
  EXPECT_EQ(format_log_record(LogStream::kStdout, "hello\n", sample_time()),
            "{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":"
            "\"2024-05-01T12:34:56.123456789Z\"}\n");
  EXPECT_EQ(format_log_record(LogStream::kStderr, "oops", sample_time()),
            "{\"log\":\"oops\",\"stream\":\"stderr\",\"time\":"
            "\"2024-05-01T12:34:56.123456789Z\"}\n");
}

TEST(LogRecordFormat, EscapesControlAndQuotes) {
  std::string line =
      format_log_record(LogStream::kStdout, std::string("a\"b\\c\td\x01\0\r\n", 11), sample_time());
  EXPECT_NE(line.find(R"("log":"a\"b\\c\td\u0001\u0000\r\n")"), std::string::npos) << line;
  // One record per line: the only raw newline is the terminator.
  EXPECT_EQ(line.find('\n'), line.size() - 1);
}

TEST(LogRecordFormat, InvalidUtf8StillValidJson) {
  std::string text = "ok \xff\xfe bad \xc3 end\n";
  std::string line = format_log_record(LogStream::kStdout, text, sample_time());
  auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(parsed.is_discarded()) << line;
  EXPECT_EQ(parsed["log"], "ok \xEF\xBF\xBD\xEF\xBF\xBD bad \xEF\xBF\xBD end\n");

  auto record = parse_log_record(line);
  ASSERT_TRUE(record.has_value()) << record.error().message();
  EXPECT_EQ(record->text, "ok \xEF\xBF\xBD\xEF\xBF\xBD bad \xEF\xBF\xBD end\n");
}

TEST(LogRecordFormat, ValidUtf8Untouched) {
  std::string text = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\n";  // café € 😀
  auto record = parse_log_record(format_log_record(LogStream::kStdout, text, sample_time()));
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->text, text);
}

TEST(LogRecordParse, RoundTrip) {
  for (LogStream stream : {LogStream::kStdout, LogStream::kStderr}) {
    for (const char* text : {"line\n", "partial", "", "\n"}) {
      auto record = parse_log_record(format_log_record(stream, text, sample_time()));
      ASSERT_TRUE(record.has_value()) << record.error().message();
      EXPECT_EQ(record->stream, stream);
      EXPECT_EQ(record->text, text);
      EXPECT_EQ(record->time, sample_time());
    }
  }
}

TEST(LogRecordParse, AcceptsDockerWrittenLines) {
  // As written by dockerd's json-file driver (extra "attrs" is ignored).
  auto record = parse_log_record(R"({"log":"GET / 200\n","stream":"stdout","attrs":{"tag":"x"},)"
                                 R"("time":"2024-05-01T12:34:56.1234Z"})");
  ASSERT_TRUE(record.has_value()) << record.error().message();
  EXPECT_EQ(record->text, "GET / 200\n");
  EXPECT_EQ(record->time, sample_time() - std::chrono::nanoseconds(56789));
}

TEST(LogRecordParse, Errors) {
  for (const char* bad : {
           "",
           "{\"log\":\"x\",\"stream\":\"stdout\",\"time\":\"2024-05-01T12:34:5",  // torn write
           "[]",
           R"({"stream":"stdout","time":"2024-05-01T12:34:56Z"})",
           R"({"log":1,"stream":"stdout","time":"2024-05-01T12:34:56Z"})",
           R"({"log":"x","stream":"stdin","time":"2024-05-01T12:34:56Z"})",
           R"({"log":"x","stream":"stdout","time":"yesterday"})",
       }) {
    SCOPED_TRACE(bad);
    auto record = parse_log_record(bad);
    ASSERT_FALSE(record);
    EXPECT_EQ(record.error().code(), ErrorCode::kDataLoss);
  }
}

TEST(Rfc3339, FormatIsFixedWidthUtc) {
  EXPECT_EQ(format_rfc3339_nano(sample_time()), "2024-05-01T12:34:56.123456789Z");
  EXPECT_EQ(format_rfc3339_nano(system_clock::time_point{}), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(format_rfc3339_nano(system_clock::time_point{} + std::chrono::milliseconds(1500)),
            "1970-01-01T00:00:01.500000000Z");
}

TEST(Rfc3339, Parse) {
  struct Case {
    const char* text;
    system_clock::time_point expected;
  };
  using namespace std::chrono;
  for (const Case& c : std::vector<Case>{
           {"2024-05-01T12:34:56.123456789Z", sample_time()},
           {"2024-05-01T12:34:56Z", sample_time() - nanoseconds(123456789)},
           {"2024-05-01T12:34:56.5Z", sample_time() - nanoseconds(123456789) + milliseconds(500)},
           {"2024-05-01T14:34:56.123456789+02:00", sample_time()},
           {"2024-05-01T07:04:56.123456789-05:30", sample_time()},
       }) {
    SCOPED_TRACE(c.text);
    auto time = parse_rfc3339_nano(c.text);
    ASSERT_TRUE(time.has_value()) << time.error().message();
    EXPECT_EQ(*time, c.expected);
  }
  for (const char* bad :
       {"", "2024-05-01", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-05-01T24:00:00Z",
        "2024-05-01T12:34:56", "2024-05-01T12:34:56.Z", "2024-05-01T12:34:56.1234567890Z",
        "2024-05-01T12:34:56Zjunk", "2024-05-01T12:34:56+0200"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(parse_rfc3339_nano(bad).has_value());
  }
}

TEST(Rfc3339, RoundTripNow) {
  auto now = system_clock::now();
  auto parsed = parse_rfc3339_nano(format_rfc3339_nano(now));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, now);
}

TEST(LineSplitter, CompleteLines) {
  LineSplitter splitter;
  EXPECT_EQ(splitter.feed("a\nbb\n\nccc\n"), (Strings{"a\n", "bb\n", "\n", "ccc\n"}));
  EXPECT_EQ(splitter.buffered_bytes(), 0u);
  EXPECT_EQ(splitter.finish(), std::nullopt);
}

TEST(LineSplitter, HoldsPartialLineAcrossFeeds) {
  LineSplitter splitter;
  EXPECT_EQ(splitter.feed("hel"), Strings{});
  EXPECT_EQ(splitter.feed("lo\nwor"), Strings{"hello\n"});
  EXPECT_EQ(splitter.buffered_bytes(), 3u);
  EXPECT_EQ(splitter.feed("ld\n"), Strings{"world\n"});
}

TEST(LineSplitter, FinishFlushesPartialLine) {
  LineSplitter splitter;
  EXPECT_EQ(splitter.feed("done\nno newline"), Strings{"done\n"});
  EXPECT_EQ(splitter.finish(), std::optional<std::string>("no newline"));
  EXPECT_EQ(splitter.finish(), std::nullopt);
}

TEST(LineSplitter, CutsLongLinesAtLimit) {
  LineSplitter splitter(4);
  EXPECT_EQ(splitter.feed("abcdefghij\nxy"), (Strings{"abcd", "efgh", "ij\n"}));
  EXPECT_EQ(splitter.finish(), std::optional<std::string>("xy"));

  // A line of exactly the limit, newline included, stays whole.
  LineSplitter exact(4);
  EXPECT_EQ(exact.feed("abc\n"), Strings{"abc\n"});
  // One byte more and the newline comes alone.
  EXPECT_EQ(exact.feed("abcd\n"), (Strings{"abcd", "\n"}));
}

TEST(LineSplitter, DefaultLimitIs16KiB) {
  LineSplitter splitter;
  std::string big(size_t{40} * 1024, 'x');
  auto records = splitter.feed(big);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].size(), 16u * 1024);
  EXPECT_EQ(records[1].size(), 16u * 1024);
  EXPECT_EQ(splitter.buffered_bytes(), 8u * 1024);
  auto rest = splitter.finish();
  ASSERT_TRUE(rest.has_value());
  EXPECT_EQ(rest->size(), 8u * 1024);
}

TEST(LineSplitter, DoesNotSplitUtf8Characters) {
  const std::string euro = "\xE2\x82\xAC";  // 3 bytes
  LineSplitter splitter(4);
  // "a€" is 4 bytes and fits; "b€" + "c" would cut the euro after 3 bytes.
  EXPECT_EQ(splitter.feed("a" + euro), Strings{"a" + euro});
  EXPECT_EQ(splitter.feed("bc" + euro + "d\n"), (Strings{"bc", euro + "d", "\n"}));
  // Stray continuation bytes and invalid leads are cut where they fall.
  LineSplitter stray(2);
  EXPECT_EQ(stray.feed("\x80\x80\x80\x80"), (Strings{"\x80\x80", "\x80\x80"}));
}

TEST(LineSplitter, NoBytesLost) {
  std::string input;
  for (int i = 0; i < 2000; ++i)
    input += std::string(static_cast<size_t>(i % 97), 'a' + i % 26) + "\n";
  input += "tail";
  LineSplitter splitter(64);
  std::string joined;
  // Feed in odd-sized chunks to cross every boundary.
  for (size_t pos = 0; pos < input.size(); pos += 13) {
    for (const std::string& r : splitter.feed(std::string_view(input).substr(pos, 13))) {
      EXPECT_LE(r.size(), 64u);
      joined += r;
    }
  }
  if (auto rest = splitter.finish()) joined += *rest;
  EXPECT_EQ(joined, input);
}

}  // namespace
}  // namespace berth::runtime
