#include "runtime/tar.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace berth::runtime {
namespace {

namespace fs = std::filesystem;

constexpr size_t kBlock = 512;

// ---- sources and helpers -----------------------------------------------------

// Serves `data` at most `chunk` bytes per call, so header and data reads
// must cope with short reads.
TarSource string_source(std::string data, size_t chunk = 7) {
  auto position = std::make_shared<size_t>(0);
  auto content = std::make_shared<std::string>(std::move(data));
  return [position, content, chunk](char* buf, size_t len) -> Result<size_t> {
    size_t n = std::min({len, chunk, content->size() - *position});
    std::copy_n(content->data() + *position, n, buf);
    *position += n;
    return n;
  };
}

struct ReadEntry {
  TarEntry entry;
  std::string data;
};

Result<std::string> read_data(TarReader& reader, size_t buffer_size = 100) {
  std::string data;
  std::vector<char> buffer(buffer_size);
  while (true) {
    size_t n = BERTH_TRY(reader.read(buffer.data(), buffer.size()));
    if (n == 0) return data;
    data.append(buffer.data(), n);
  }
}

Result<std::vector<ReadEntry>> read_archive(std::string archive, size_t chunk = 7) {
  TarReader reader(string_source(std::move(archive), chunk));
  std::vector<ReadEntry> entries;
  while (true) {
    std::optional<TarEntry> entry = BERTH_TRY(reader.next());
    if (!entry) return entries;
    std::string data = BERTH_TRY(read_data(reader));
    entries.push_back({*entry, std::move(data)});
  }
}

std::map<std::string, ReadEntry> by_path(const std::vector<ReadEntry>& entries) {
  std::map<std::string, ReadEntry> out;
  for (const auto& e : entries) out[e.entry.path] = e;
  return out;
}

std::vector<std::string> paths(const std::vector<ReadEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.entry.path);
  return out;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_file(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

// Deterministic bytes that are not all alike, so misplaced reads show.
std::string pattern(size_t size, unsigned seed = 1) {
  std::string out(size, '\0');
  unsigned state = seed;
  for (char& c : out) {
    state = state * 1103515245 + 12345;
    c = static_cast<char>(state >> 16);
  }
  return out;
}

// Whether `archive` has a ustar-magic header block of `type`, to prove that
// tar really produced the feature a test is about.
bool has_header_of_type(const std::string& archive, char type) {
  for (size_t offset = 0; offset + kBlock <= archive.size(); offset += kBlock) {
    if (archive.compare(offset + 257, 5, "ustar") == 0 && archive[offset + 156] == type) {
      return true;
    }
  }
  return false;
}

// ---- hand-made archives --------------------------------------------------------

void put(std::string& block, size_t offset, std::string_view value) {
  std::copy(value.begin(), value.end(), block.begin() + static_cast<std::ptrdiff_t>(offset));
}

std::string octal(uint64_t value, size_t width) {
  char text[32];
  std::snprintf(text, sizeof(text), "%0*llo", static_cast<int>(width - 1),
                static_cast<unsigned long long>(value));
  return std::string(text, width - 1);  // NUL terminator comes from the block
}

void set_checksum(std::string& block, bool signed_sum = false) {
  put(block, 148, "        ");
  long sum = 0;
  for (char c : block)
    sum += signed_sum ? static_cast<signed char>(c) : static_cast<unsigned char>(c);
  put(block, 148, octal(static_cast<uint64_t>(sum), 7));
  block[155] = ' ';
}

std::string header(std::string_view name, char type, uint64_t size,
                   std::string_view link_name = "") {
  std::string block(kBlock, '\0');
  put(block, 0, name.substr(0, 100));
  put(block, 100, "0000644");
  put(block, 108, "0000000");
  put(block, 116, "0000000");
  put(block, 124, octal(size, 12));
  put(block, 136, "00000000000");
  block[156] = type;
  put(block, 157, link_name.substr(0, 100));
  put(block, 257, std::string("ustar") + '\0' + "00");  // POSIX magic and version
  set_checksum(block);
  return block;
}

std::string padded(std::string data) {
  data.resize((data.size() + kBlock - 1) / kBlock * kBlock, '\0');
  return data;
}

std::string member(std::string_view name, const std::string& data, char type = '0') {
  return header(name, type, data.size()) + padded(data);
}

std::string end_marker() { return std::string(2 * kBlock, '\0'); }

std::string pax_record(std::string_view key, std::string_view value) {
  // The length counts its own digits, so find the fixed point.
  size_t length = key.size() + value.size() + 3;
  while (std::to_string(length).size() + key.size() + value.size() + 3 != length) ++length;
  return std::to_string(length) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

std::string pax_member(const std::string& records) {
  return header("PaxHeaders/x", 'x', records.size()) + padded(records);
}

// The error from reading all of `archive`; fails the test if there is none.
Error archive_error(std::string archive) {
  auto entries = read_archive(std::move(archive));
  if (entries) {
    ADD_FAILURE() << "archive read without error";
    return Error(ErrorCode::kInternal, "no error");
  }
  return entries.error();
}

// ---- archives made by GNU tar -------------------------------------------------

class TarReaderGnuTarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern_text = ::testing::TempDir() + "berth_tar_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern_text.data()), nullptr);
    dir_ = pattern_text;
    src_ = dir_ / "src";
    fs::create_directories(src_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs GNU tar over src_ and returns the archive bytes.
  std::string tar(const std::string& options, const std::string& members = ".") {
    fs::path archive = dir_ / "out.tar";
    fs::remove(archive);
    std::string command = "tar --sort=name " + options + " -cf '" + archive.string() + "' -C '" +
                          src_.string() + "' " + members + " 2>&1";
    // A shell runs GNU tar on purpose: the options are written as on a command line.
    int status = std::system(command.c_str());  // NOLINT(cert-env33-c)
    EXPECT_EQ(status, 0) << command;
    return read_file(archive);
  }

  fs::path dir_;
  fs::path src_;
};

TEST_F(TarReaderGnuTarTest, OciLayoutRoundTrip) {
  std::string blob_hex(64, 'a');
  std::string layer = pattern(100'000);
  write_file(src_ / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  write_file(src_ / "index.json", R"({"schemaVersion":2,"manifests":[]})");
  write_file(src_ / "blobs/sha256" / blob_hex, layer);
  write_file(src_ / "blobs/sha256" / std::string(64, 'b'), std::string(kBlock, 'x'));
  write_file(src_ / "empty", "");

  auto entries = read_archive(tar("--format=gnu"));
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  EXPECT_EQ(paths(*entries),
            (std::vector<std::string>{".", "blobs", "blobs/sha256", "blobs/sha256/" + blob_hex,
                                      "blobs/sha256/" + std::string(64, 'b'), "empty", "index.json",
                                      "oci-layout"}));
  auto by = by_path(*entries);
  EXPECT_EQ(by["."].entry.type, '5');
  EXPECT_EQ(by["blobs"].entry.type, '5');
  EXPECT_EQ(by["blobs"].entry.size, 0u);
  const TarEntry& blob = by["blobs/sha256/" + blob_hex].entry;
  EXPECT_EQ(blob.type, '0');
  EXPECT_EQ(blob.size, layer.size());
  EXPECT_EQ(by["blobs/sha256/" + blob_hex].data, layer);
  EXPECT_EQ(by["blobs/sha256/" + std::string(64, 'b')].data, std::string(kBlock, 'x'));
  EXPECT_EQ(by["empty"].entry.size, 0u);
  EXPECT_EQ(by["empty"].data, "");
  EXPECT_EQ(by["oci-layout"].data, R"({"imageLayoutVersion":"1.0.0"})");
}

TEST_F(TarReaderGnuTarTest, UstarLinksAndNamesWithoutDotPrefix) {
  write_file(src_ / "a/hello.txt", "hello\n");
  fs::create_symlink("../a/hello.txt", src_ / "sym");
  fs::create_hard_link(src_ / "a/hello.txt", src_ / "zz_hard");

  auto entries = read_archive(tar("--format=ustar", "a sym zz_hard"));
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  EXPECT_EQ(paths(*entries), (std::vector<std::string>{"a", "a/hello.txt", "sym", "zz_hard"}));
  auto by = by_path(*entries);
  EXPECT_EQ(by["a/hello.txt"].data, "hello\n");
  EXPECT_EQ(by["sym"].entry.type, '2');
  EXPECT_EQ(by["sym"].entry.link_name, "../a/hello.txt") << "symlink targets stay verbatim";
  EXPECT_EQ(by["sym"].entry.size, 0u);
  EXPECT_EQ(by["zz_hard"].entry.type, '1');
  EXPECT_EQ(by["zz_hard"].entry.link_name, "a/hello.txt");
  EXPECT_EQ(by["zz_hard"].entry.size, 0u);
}

TEST_F(TarReaderGnuTarTest, UstarPrefixField) {
  std::string long_path = std::string(80, 'd') + "/" + std::string(80, 'e') + "/file.txt";
  write_file(src_ / long_path, "deep");
  std::string archive = tar("--format=ustar", std::string(80, 'd'));
  // The third header holds the file; its name must really be split.
  ASSERT_GE(archive.size(), 3 * kBlock);
  ASSERT_NE(archive[2 * kBlock + 345], '\0') << "tar did not use the ustar prefix field";

  auto entries = read_archive(archive);
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[2].entry.path, long_path);
  EXPECT_EQ((*entries)[2].data, "deep");
}

TEST_F(TarReaderGnuTarTest, GnuLongNameAndLongLink) {
  std::string long_name = std::string(150, 'n') + ".txt";
  std::string long_target = std::string(120, 't') + "/target";
  write_file(src_ / long_name, "long");
  fs::create_symlink(long_target, src_ / "link");
  std::string archive = tar("--format=gnu", "'" + long_name + "' link");
  ASSERT_TRUE(has_header_of_type(archive, 'L')) << "no GNU long name header";
  ASSERT_TRUE(has_header_of_type(archive, 'K')) << "no GNU long link header";

  auto entries = read_archive(archive);
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  // Members named on the command line keep their order.
  EXPECT_EQ(paths(*entries), (std::vector<std::string>{long_name, "link"}));
  auto by = by_path(*entries);
  EXPECT_EQ(by[long_name].data, "long");
  EXPECT_EQ(by["link"].entry.type, '2');
  EXPECT_EQ(by["link"].entry.link_name, long_target);
}

TEST_F(TarReaderGnuTarTest, PaxLongNameAndLongLink) {
  std::string long_name = std::string(150, 'p') + "/" + std::string(150, 'q');
  std::string long_target = std::string(130, 'x');
  std::string data = pattern(3000, 7);
  write_file(src_ / long_name, data);
  fs::create_symlink(long_target, src_ / "link");
  std::string archive = tar("--format=pax", "'" + std::string(150, 'p') + "' link");
  ASSERT_TRUE(has_header_of_type(archive, 'x')) << "no pax headers";
  ASSERT_FALSE(has_header_of_type(archive, 'L')) << "pax must not need GNU long names";

  auto entries = read_archive(archive);
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  auto by = by_path(*entries);
  ASSERT_EQ(by.size(), 3u) << testing::PrintToString(paths(*entries));
  EXPECT_EQ(by[long_name].data, data);
  EXPECT_EQ(by[long_name].entry.size, data.size());
  EXPECT_EQ(by["link"].entry.link_name, long_target);
}

TEST_F(TarReaderGnuTarTest, PaxGlobalHeaderIsIgnored) {
  write_file(src_ / "a", "A");
  // GNU tar names the global header "/tmp/GlobalHead.*": an absolute name
  // that must not be mistaken for an entry.
  std::string archive = tar("--format=pax --pax-option=comment=hello", "a");
  ASSERT_TRUE(has_header_of_type(archive, 'g')) << "no global header";

  auto entries = read_archive(archive);
  ASSERT_TRUE(entries.has_value()) << entries.error().message();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].entry.path, "a");
  EXPECT_EQ((*entries)[0].data, "A");
}

TEST_F(TarReaderGnuTarTest, UnreadAndPartlyReadDataIsSkipped) {
  write_file(src_ / "1", pattern(5000, 1));
  write_file(src_ / "2", pattern(700, 2));
  write_file(src_ / "3", "three");
  TarReader reader(string_source(tar("--format=gnu", "1 2 3"), 4096));

  auto first = reader.next();
  ASSERT_TRUE(first.has_value() && first->has_value());
  EXPECT_EQ((*first)->path, "1");  // not read at all

  auto second = reader.next();
  ASSERT_TRUE(second.has_value() && second->has_value());
  EXPECT_EQ((*second)->path, "2");
  char buf[10];
  ASSERT_EQ(reader.read(buf, sizeof(buf)).value(), 10u);
  EXPECT_EQ(std::string(buf, 10), pattern(700, 2).substr(0, 10));

  auto third = reader.next();
  ASSERT_TRUE(third.has_value() && third->has_value()) << third.error().message();
  EXPECT_EQ((*third)->path, "3");
  EXPECT_EQ(read_data(reader).value(), "three");
  auto end = reader.next();
  ASSERT_TRUE(end.has_value());
  EXPECT_FALSE(end->has_value());
  // Still at the end, however often asked.
  EXPECT_FALSE(reader.next().value().has_value());
}

TEST_F(TarReaderGnuTarTest, ReadsFromFileSourceInLargeChunks) {
  write_file(src_ / "f", pattern(70'000, 3));
  std::string archive_bytes = tar("--format=gnu", "f");
  fs::path archive = dir_ / "out.tar";
  std::FILE* file = std::fopen(archive.c_str(), "rb");
  ASSERT_NE(file, nullptr);
  TarReader reader(
      [file](char* buf, size_t len) -> Result<size_t> { return std::fread(buf, 1, len, file); });
  auto entry = reader.next();
  ASSERT_TRUE(entry.has_value() && entry->has_value());
  EXPECT_EQ(read_data(reader, 65536).value(), pattern(70'000, 3));
  EXPECT_FALSE(reader.next().value().has_value());
  std::fclose(file);
}

TEST_F(TarReaderGnuTarTest, BadChecksumNamesHeaderOffset) {
  write_file(src_ / "a", "A");
  write_file(src_ / "b", "B");
  std::string archive = tar("--format=gnu", "a b");
  archive[2 * kBlock + 1] = 'X';  // second header: "b" becomes "bX"

  TarReader reader(string_source(archive));
  ASSERT_TRUE(reader.next().has_value());
  auto broken = reader.next();
  ASSERT_FALSE(broken.has_value());
  EXPECT_EQ(broken.error().code(), ErrorCode::kDataLoss);
  EXPECT_TRUE(broken.error().message().starts_with(
      "tar header at offset 1024: checksum mismatch (header says "))
      << broken.error().message();
  // Errors are final.
  auto again = reader.next();
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().message(), broken.error().message());
  EXPECT_FALSE(reader.read(nullptr, 0).has_value());
}

TEST_F(TarReaderGnuTarTest, TruncatedInsideDataIsDataLoss) {
  write_file(src_ / "big", pattern(2000));
  std::string archive = tar("--format=gnu", "big");
  archive.resize(kBlock + 1500);

  TarReader reader(string_source(archive));
  ASSERT_TRUE(reader.next().has_value());
  auto data = read_data(reader);
  ASSERT_FALSE(data.has_value());
  EXPECT_EQ(data.error().code(), ErrorCode::kDataLoss);
  EXPECT_EQ(data.error().message(),
            "tar entry \"big\" at offset 0: archive truncated, 500 bytes of data missing");
}

TEST_F(TarReaderGnuTarTest, TruncatedWhileSkippingDataIsDataLoss) {
  write_file(src_ / "big", pattern(2000));
  std::string archive = tar("--format=gnu", "big");
  archive.resize(kBlock + 1500);

  TarReader reader(string_source(archive));
  ASSERT_TRUE(reader.next().has_value());
  // 500 bytes of data and 48 of padding are missing.
  auto next = reader.next();
  ASSERT_FALSE(next.has_value());
  EXPECT_EQ(next.error().code(), ErrorCode::kDataLoss);
  EXPECT_EQ(next.error().message(),
            "tar entry \"big\" at offset 0: archive truncated at offset 2012, 548 bytes missing");
}

TEST_F(TarReaderGnuTarTest, TruncatedInsideHeaderIsDataLoss) {
  write_file(src_ / "a", "A");
  write_file(src_ / "b", "B");
  std::string archive = tar("--format=gnu", "a b");
  archive.resize(2 * kBlock + 100);
  Error error = archive_error(archive);
  EXPECT_EQ(error.code(), ErrorCode::kDataLoss);
  EXPECT_EQ(error.message(), "tar header at offset 1024: archive truncated inside the header");
}

TEST_F(TarReaderGnuTarTest, MissingEndMarkerIsDataLoss) {
  write_file(src_ / "a", "A");
  std::string archive = tar("--format=gnu", "a");
  archive.resize(2 * kBlock);
  Error error = archive_error(archive);
  EXPECT_EQ(error.code(), ErrorCode::kDataLoss);
  EXPECT_EQ(error.message(),
            "tar archive truncated: input ends at offset 1024 without the end-of-archive marker");
}

// ---- hand-made archives ---------------------------------------------------------

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
