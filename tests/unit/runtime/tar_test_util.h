// Helpers shared by the tar reader's tests: sources with short reads,
// readers of a whole archive, and hand-made headers for what GNU tar never
// writes.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "runtime/tar.h"

namespace berth::runtime::tar_testing {

namespace fs = std::filesystem;

constexpr size_t kBlock = 512;

// Serves `data` at most `chunk` bytes per call, so header and data reads
// must cope with short reads.
inline TarSource string_source(std::string data, size_t chunk = 7) {
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

inline Result<std::string> read_data(TarReader& reader, size_t buffer_size = 100) {
  std::string data;
  std::vector<char> buffer(buffer_size);
  while (true) {
    size_t n = BERTH_TRY(reader.read(buffer.data(), buffer.size()));
    if (n == 0) return data;
    data.append(buffer.data(), n);
  }
}

inline Result<std::vector<ReadEntry>> read_archive(std::string archive, size_t chunk = 7) {
  TarReader reader(string_source(std::move(archive), chunk));
  std::vector<ReadEntry> entries;
  while (true) {
    std::optional<TarEntry> entry = BERTH_TRY(reader.next());
    if (!entry) return entries;
    std::string data = BERTH_TRY(read_data(reader));
    entries.push_back({*entry, std::move(data)});
  }
}

inline std::map<std::string, ReadEntry> by_path(const std::vector<ReadEntry>& entries) {
  std::map<std::string, ReadEntry> out;
  for (const auto& e : entries) out[e.entry.path] = e;
  return out;
}

inline std::vector<std::string> paths(const std::vector<ReadEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.entry.path);
  return out;
}

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline void write_file(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

// Deterministic bytes that are not all alike, so misplaced reads show.
inline std::string pattern(size_t size, unsigned seed = 1) {
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
inline bool has_header_of_type(const std::string& archive, char type) {
  for (size_t offset = 0; offset + kBlock <= archive.size(); offset += kBlock) {
    if (archive.compare(offset + 257, 5, "ustar") == 0 && archive[offset + 156] == type) {
      return true;
    }
  }
  return false;
}

// ---- hand-made archives --------------------------------------------------------

inline void put(std::string& block, size_t offset, std::string_view value) {
  std::copy(value.begin(), value.end(), block.begin() + static_cast<std::ptrdiff_t>(offset));
}

inline std::string octal(uint64_t value, size_t width) {
  char text[32];
  std::snprintf(text, sizeof(text), "%0*llo", static_cast<int>(width - 1),
                static_cast<unsigned long long>(value));
  return std::string(text, width - 1);  // NUL terminator comes from the block
}

inline void set_checksum(std::string& block, bool signed_sum = false) {
  put(block, 148, "        ");
  long sum = 0;
  for (char c : block)
    sum += signed_sum ? static_cast<signed char>(c) : static_cast<unsigned char>(c);
  put(block, 148, octal(static_cast<uint64_t>(sum), 7));
  block[155] = ' ';
}

inline std::string header(std::string_view name, char type, uint64_t size,
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

inline std::string padded(std::string data) {
  data.resize((data.size() + kBlock - 1) / kBlock * kBlock, '\0');
  return data;
}

inline std::string member(std::string_view name, const std::string& data, char type = '0') {
  return header(name, type, data.size()) + padded(data);
}

inline std::string end_marker() { return std::string(2 * kBlock, '\0'); }

inline std::string pax_record(std::string_view key, std::string_view value) {
  // The length counts its own digits, so find the fixed point.
  size_t length = key.size() + value.size() + 3;
  while (std::to_string(length).size() + key.size() + value.size() + 3 != length) ++length;
  return std::to_string(length) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

inline std::string pax_member(const std::string& records) {
  return header("PaxHeaders/x", 'x', records.size()) + padded(records);
}

// The error from reading all of `archive`; fails the test if there is none.
inline Error archive_error(std::string archive) {
  auto entries = read_archive(std::move(archive));
  if (entries) {
    ADD_FAILURE() << "archive read without error";
    return Error(ErrorCode::kInternal, "no error");
  }
  return entries.error();
}

}  // namespace berth::runtime::tar_testing
