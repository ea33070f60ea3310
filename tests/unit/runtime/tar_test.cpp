#include "runtime/tar.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <map>
#include <string>

#include "runtime/tar_test_util.h"

namespace berth::runtime {
namespace {

using namespace tar_testing;

TEST(TarReaderTest, EmptyInputIsDataLoss) {
  Error error = archive_error("");
  EXPECT_EQ(error.code(), ErrorCode::kDataLoss);
  EXPECT_NE(error.message().find("at offset 0 without the end-of-archive marker"),
            std::string::npos);
}

TEST(TarReaderTest, EndMarkerOnlyIsEmptyArchive) {
  TarReader reader(string_source(end_marker()));
  for (int i = 0; i < 3; ++i) {
    auto next = reader.next();
    ASSERT_TRUE(next.has_value()) << "call " << i << ": " << next.error().message();
    EXPECT_FALSE(next->has_value());
  }
}

TEST(TarReaderTest, LoneZeroBlockAtEndIsTolerated) {
  auto entries = read_archive(member("a", "x") + std::string(kBlock, '\0'));
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  EXPECT_EQ(paths(*entries), std::vector<std::string>{"a"});
}

TEST(TarReaderTest, DataAfterZeroBlockIsDataLoss) {
  Error error = archive_error(std::string(kBlock, '\0') + member("a", "x") + end_marker());
  EXPECT_EQ(error.code(), ErrorCode::kDataLoss);
  EXPECT_EQ(error.message(), "tar header at offset 0: zero block followed by data");
}

TEST(TarReaderTest, TrailingRecordPaddingAfterMarkerIsNotRead) {
  std::string archive = member("a", "x") + end_marker() + "garbage after the archive";
  auto entries = read_archive(archive);
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  EXPECT_EQ(entries->size(), 1u);
}

TEST(TarReaderTest, NotATarArchive) {
  Error error = archive_error(std::string(2000, 'z'));
  EXPECT_EQ(error.code(), ErrorCode::kDataLoss);
  EXPECT_TRUE(error.message().starts_with("tar header at offset 0 (not a tar archive?): checksum"))
      << error.message();
}

TEST(TarReaderTest, OldStyleNulTypeIsRegularFileOrDirectory) {
  auto entries =
      read_archive(member("file", "data", '\0') + member("dir/", "", '\0') + end_marker());
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].entry.type, '0');
  EXPECT_EQ((*entries)[0].data, "data");
  EXPECT_EQ((*entries)[1].entry.type, '5');
  EXPECT_EQ((*entries)[1].entry.path, "dir");
}

TEST(TarReaderTest, SignedChecksumIsAccepted) {
  std::string block = header("\xe9t\xe9", '0', 1);
  set_checksum(block, /*signed_sum=*/true);
  auto entries = read_archive(block + padded("x") + end_marker());
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  EXPECT_EQ((*entries)[0].entry.path, "\xe9t\xe9");
}

TEST(TarReaderTest, Base256Size) {
  std::string block = header("b256", '0', 0);
  std::string size_field(12, '\0');
  size_field[0] = static_cast<char>(0x80);
  size_field[10] = 0x01;  // 0x0105 = 261
  size_field[11] = 0x05;
  put(block, 124, size_field);
  set_checksum(block);
  std::string data = pattern(261);
  auto entries = read_archive(block + padded(data) + end_marker());
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  EXPECT_EQ((*entries)[0].entry.size, 261u);
  EXPECT_EQ((*entries)[0].data, data);
}

TEST(TarReaderTest, NegativeBase256SizeIsDataLoss) {
  std::string block = header("neg", '0', 0);
  put(block, 124, std::string(12, static_cast<char>(0xff)));
  set_checksum(block);
  Error error = archive_error(block + end_marker());
  EXPECT_EQ(error.code(), ErrorCode::kDataLoss);
  EXPECT_EQ(error.message(), "tar entry at offset 0: size field is negative");
}

TEST(TarReaderTest, OversizedBase256SizeIsDataLoss) {
  std::string block = header("huge", '0', 0);
  put(block, 124, std::string(12, static_cast<char>(0x80)) + std::string(11, '\xff'));
  set_checksum(block);
  Error error = archive_error(block + end_marker());
  EXPECT_EQ(error.code(), ErrorCode::kDataLoss);
  EXPECT_EQ(error.message(), "tar entry at offset 0: size field is too large");
}

TEST(TarReaderTest, NonOctalSizeIsDataLoss) {
  std::string block = header("bad", '0', 0);
  put(block, 124, "00000000009");
  set_checksum(block);
  Error error = archive_error(block + end_marker());
  EXPECT_EQ(error.code(), ErrorCode::kDataLoss);
  EXPECT_EQ(error.message(), "tar entry at offset 0: size field is not an octal number");
}

TEST(TarReaderTest, SpacePaddedOctalSize) {
  std::string block = header("spaces", '0', 0);
  put(block, 124, "          3 ");
  set_checksum(block);
  auto entries = read_archive(block + padded("abc") + end_marker());
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  EXPECT_EQ((*entries)[0].data, "abc");
}

TEST(TarReaderTest, PathsAreNormalised) {
  auto entries = read_archive(member("./", "", '5') + member("././a//b/./c/", "", '5') +
                              member("./x", "1") + end_marker());
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  EXPECT_EQ(paths(*entries), (std::vector<std::string>{".", "a/b/c", "x"}));
}

TEST(TarReaderTest, DotDotComponentIsRejected) {
  for (const char* name : {"../etc/passwd", "a/../../b", "a/..", "./.."}) {
    Error error = archive_error(member(name, "x") + end_marker());
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument) << name;
    EXPECT_EQ(error.message(),
              "tar entry at offset 0: path \"" + std::string(name) + "\" has a \"..\" component");
  }
}

TEST(TarReaderTest, DotDotInsideNameIsFine) {
  auto entries = read_archive(member("a..b/..c", "x") + end_marker());
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  EXPECT_EQ((*entries)[0].entry.path, "a..b/..c");
}

TEST(TarReaderTest, AbsolutePathIsRejected) {
  Error error = archive_error(member("ok", "1") + member("/etc/passwd", "x") + end_marker());
  EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(error.message(), "tar entry at offset 1024: path \"/etc/passwd\" is absolute");
}

TEST(TarReaderTest, EmptyPathIsRejected) {
  Error error = archive_error(member("", "x") + end_marker());
  EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(error.message(), "tar entry at offset 0: path is empty");
}

TEST(TarReaderTest, EscapingHardLinkTargetIsRejected) {
  Error error = archive_error(header("link", '1', 0, "../../etc/shadow") + end_marker());
  EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(error.message(),
            "tar entry at offset 0: entry \"link\": hard link target \"../../etc/shadow\" has a "
            "\"..\" component");
}

TEST(TarReaderTest, SymlinkTargetMayEscape) {
  auto entries = read_archive(header("link", '2', 0, "/etc/passwd") + end_marker());
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  EXPECT_EQ((*entries)[0].entry.link_name, "/etc/passwd");
}

TEST(TarReaderTest, HeaderOnlyTypesCarryNoDataWhateverTheSizeSays) {
  // A directory header claiming 600 bytes must not swallow the next header.
  auto entries = read_archive(header("dir", '5', 600) + member("after", "payload") + end_marker());
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].entry.size, 0u);
  EXPECT_EQ((*entries)[1].entry.path, "after");
  EXPECT_EQ((*entries)[1].data, "payload");
}

TEST(TarReaderTest, OtherTypesArePassedThrough) {
  auto entries = read_archive(member("fifo", "", '6') + member("cont", "abc", '7') + end_marker());
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  EXPECT_EQ((*entries)[0].entry.type, '6');
  EXPECT_EQ((*entries)[1].entry.type, '7');
  EXPECT_EQ((*entries)[1].data, "abc");
}

TEST(TarReaderTest, PaxOverridesPathLinkpathAndSize) {
  std::string records =
      pax_record("path", "pax/name") + pax_record("mtime", "1.5") + pax_record("size", "3");
  std::string archive = pax_member(records) + header("short", '0', 0) + padded("xyz") +
                        pax_member(pax_record("linkpath", "pax-target")) +
                        header("sym", '2', 0, "short-target") + end_marker();
  auto entries = read_archive(archive);
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].entry.path, "pax/name");
  EXPECT_EQ((*entries)[0].entry.size, 3u);
  EXPECT_EQ((*entries)[0].data, "xyz");
  EXPECT_EQ((*entries)[1].entry.link_name, "pax-target");
}

TEST(TarReaderTest, GlobalPaxHeaderDoesNotRenameNextEntry) {
  std::string records = pax_record("path", "global-name");
  std::string archive = header("GlobalHead", 'g', records.size()) + padded(records) +
                        member("own-name", "x") + end_marker();
  auto entries = read_archive(archive);
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].entry, (TarEntry{"own-name", '0', 1, ""}));
}

TEST(TarReaderTest, PaxOverridesApplyToOneEntryOnly) {
  std::string archive = pax_member(pax_record("path", "renamed")) + member("first", "1") +
                        member("second", "2") + end_marker();
  auto entries = read_archive(archive);
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  EXPECT_EQ(paths(*entries), (std::vector<std::string>{"renamed", "second"}));
}

TEST(TarReaderTest, PaxEmptyValueRestoresHeaderField) {
  std::string records = pax_record("path", "ignored") + pax_record("path", "");
  auto entries = read_archive(pax_member(records) + member("header-name", "x") + end_marker());
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  EXPECT_EQ((*entries)[0].entry.path, "header-name");
}

TEST(TarReaderTest, PaxPathIsValidatedToo) {
  Error error =
      archive_error(pax_member(pax_record("path", "../up")) + member("fine", "x") + end_marker());
  EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(error.message(), "tar entry at offset 1024: path \"../up\" has a \"..\" component");
}

TEST(TarReaderTest, MalformedPaxRecordsAreDataLoss) {
  struct Case {
    std::string records;
    std::string message;
  };
  std::vector<Case> cases = {
      {"nonsense", "pax record without a length"},
      {"x1 path=a\n", "pax record length \"x1\" is not a number"},
      {"99 path=a\n", "pax record length 99 does not fit the record"},
      {"8 path=a\n", "pax record length 8 does not fit the record"},
      {"9 pathxa\n", "pax record \"pathxa\" has no '='"},
      {pax_record("size", "12a"), "pax size \"12a\" is not a number"},
  };
  for (const Case& c : cases) {
    Error error = archive_error(pax_member(c.records) + member("f", "x") + end_marker());
    EXPECT_EQ(error.code(), ErrorCode::kDataLoss) << c.records;
    EXPECT_EQ(error.message(), "tar header at offset 0: " + c.message) << c.records;
  }
}

TEST(TarReaderTest, GnuLongNameFromHandMadeHeaders) {
  std::string name = std::string(200, 'g');
  std::string archive = member("././@LongLink", name + std::string(1, '\0'), 'L') +
                        member(name.substr(0, 100), "body") + end_marker();
  auto entries = read_archive(archive);
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].entry.path, name);
  EXPECT_EQ((*entries)[0].data, "body");
}

TEST(TarReaderTest, ExtendedHeaderWithoutEntryIsDataLoss) {
  Error error = archive_error(pax_member(pax_record("path", "p")) + end_marker());
  EXPECT_EQ(error.code(), ErrorCode::kDataLoss);
  EXPECT_EQ(error.message(), "tar extended header at offset 0 is not followed by an entry");
}

TEST(TarReaderTest, OversizedLongNameIsRefusedBeforeReading) {
  Error error = archive_error(header("././@LongLink", 'L', 2 << 20) + end_marker());
  EXPECT_EQ(error.code(), ErrorCode::kDataLoss);
  EXPECT_EQ(error.message(),
            "tar 'L' header at offset 0: 2097152 bytes is more than the 1048576 allowed");
}

TEST(TarReaderTest, TruncatedPaxHeaderIsDataLoss) {
  std::string archive = pax_member(pax_record("path", std::string(300, 'p')));
  archive.resize(kBlock + 100);
  Error error = archive_error(archive);
  EXPECT_EQ(error.code(), ErrorCode::kDataLoss);
  EXPECT_EQ(error.message(), "tar 'x' header at offset 0: archive truncated at offset 612");
}

TEST(TarReaderTest, SourceErrorsPropagateWithOffset) {
  std::string archive = member("a", "x") + end_marker();
  size_t served = 0;
  TarReader reader([&](char* buf, size_t len) -> Result<size_t> {
    if (served >= kBlock) return fail(ErrorCode::kUnavailable, "connection reset");
    size_t n = std::min(len, kBlock - served);
    std::copy_n(archive.data() + served, n, buf);
    served += n;
    return n;
  });
  ASSERT_TRUE(reader.next().has_value());
  auto data = read_data(reader);
  ASSERT_FALSE(data.has_value());
  EXPECT_EQ(data.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(data.error().message(), "tar entry \"a\" at offset 0: connection reset");

  TarReader header_reader([](char*, size_t) -> Result<size_t> {
    return fail(ErrorCode::kUnavailable, "connection reset");
  });
  auto next = header_reader.next();
  ASSERT_FALSE(next.has_value());
  EXPECT_EQ(next.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(next.error().message(), "read tar archive at offset 0: connection reset");
}

TEST(TarReaderTest, SourceReturningTooMuchIsInternalError) {
  TarReader reader([](char*, size_t len) -> Result<size_t> { return len + 1; });
  auto next = reader.next();
  ASSERT_FALSE(next.has_value());
  EXPECT_EQ(next.error().code(), ErrorCode::kInternal);
}

TEST(TarReaderTest, ReadBeforeNextReturnsZero) {
  TarReader reader(string_source(member("a", "x") + end_marker()));
  char buf[4];
  EXPECT_EQ(reader.read(buf, sizeof(buf)).value(), 0u);
}

TEST(TarReaderTest, ReadStopsAtEntryEnd) {
  TarReader reader(string_source(member("a", "abc") + member("b", "def") + end_marker(), 4096));
  ASSERT_TRUE(reader.next().has_value());
  char buf[100];
  EXPECT_EQ(reader.read(buf, sizeof(buf)).value(), 3u);
  EXPECT_EQ(std::string(buf, 3), "abc");
  EXPECT_EQ(reader.read(buf, sizeof(buf)).value(), 0u);
  auto b = reader.next();
  ASSERT_TRUE(b.has_value() && b->has_value());
  EXPECT_EQ((*b)->path, "b");
  EXPECT_EQ(read_data(reader).value(), "def");
}

}  // namespace
}  // namespace berth::runtime
