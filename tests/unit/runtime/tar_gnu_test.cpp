#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "runtime/tar.h"
#include "runtime/tar_test_util.h"

namespace berth::runtime {
namespace {

using namespace tar_testing;

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

}  // namespace
}  // namespace berth::runtime
