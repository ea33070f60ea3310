#include "runtime/tar.h"

#include <algorithm>
#include <array>
#include <limits>
#include <string_view>
#include <utility>

namespace berth::runtime {
namespace {

constexpr size_t kBlockSize = 512;
// Long names and pax headers are buffered whole; real ones are a few hundred
// bytes, so anything this large is corrupt or hostile.
constexpr uint64_t kMaxSpecialDataSize = 1 << 20;
constexpr uint64_t kMaxSize = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// Header field positions (POSIX ustar; GNU reuses the prefix area for other
// things, which is why the prefix is honoured only for POSIX magic).
constexpr size_t kNameOffset = 0, kNameLength = 100;
constexpr size_t kSizeOffset = 124, kSizeLength = 12;
constexpr size_t kChecksumOffset = 148, kChecksumLength = 8;
constexpr size_t kTypeOffset = 156;
constexpr size_t kLinkNameOffset = 157, kLinkNameLength = 100;
constexpr size_t kMagicOffset = 257;
constexpr size_t kPrefixOffset = 345, kPrefixLength = 155;
constexpr std::string_view kPosixMagic("ustar\0", 6);

using Block = std::array<char, kBlockSize>;

constexpr char kGnuLongName = 'L';
constexpr char kGnuLongLink = 'K';
constexpr char kPaxHeader = 'x';
constexpr char kPaxGlobalHeader = 'g';

std::string at_offset(uint64_t offset) { return "at offset " + std::to_string(offset); }

std::string quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

uint64_t padding_for(uint64_t size) { return (kBlockSize - size % kBlockSize) % kBlockSize; }

// A NUL-terminated string field, which may also fill its whole width.
std::string_view string_field(const Block& block, size_t offset, size_t length) {
  std::string_view field(block.data() + offset, length);
  return field.substr(0, field.find('\0'));
}

bool is_zero_block(const Block& block) {
  return std::ranges::all_of(block, [](char c) { return c == '\0'; });
}

// Octal digits padded with spaces/NULs, or (GNU, for values octal cannot hold)
// base-256: the high bit of the first byte set, the rest a big-endian number.
Result<uint64_t> parse_number(const Block& block, size_t offset, size_t length,
                              std::string_view field_name) {
  std::string_view field(block.data() + offset, length);
  auto first = static_cast<unsigned char>(field.front());
  if (first & 0x80) {
    if (first == 0xff) {
      return fail(ErrorCode::kDataLoss, std::string(field_name) + " field is negative");
    }
    uint64_t value = first & 0x7f;
    for (char c : field.substr(1)) {
      if (value > (kMaxSize >> 8)) {
        return fail(ErrorCode::kDataLoss, std::string(field_name) + " field is too large");
      }
      value = value << 8 | static_cast<unsigned char>(c);
    }
    return value;
  }
  size_t i = 0;
  while (i < field.size() && field[i] == ' ') ++i;
  uint64_t value = 0;
  for (; i < field.size() && field[i] >= '0' && field[i] <= '7'; ++i) {
    value = value * 8 + static_cast<uint64_t>(field[i] - '0');
  }
  bool only_terminators = std::all_of(field.begin() + static_cast<std::ptrdiff_t>(i), field.end(),
                                      [](char c) { return c == ' ' || c == '\0'; });
  if (!only_terminators) {
    return fail(ErrorCode::kDataLoss, std::string(field_name) + " field is not an octal number");
  }
  return value;
}

// The checksum is the sum of the header bytes with the checksum field taken as
// spaces. Some historic tars summed signed chars, so accept either sum.
Status verify_checksum(const Block& block) {
  uint64_t stored = BERTH_TRY(parse_number(block, kChecksumOffset, kChecksumLength, "checksum"));
  int64_t unsigned_sum = 0;
  int64_t signed_sum = 0;
  for (size_t i = 0; i < kBlockSize; ++i) {
    bool in_checksum = i >= kChecksumOffset && i < kChecksumOffset + kChecksumLength;
    char c = in_checksum ? ' ' : block[i];
    unsigned_sum += static_cast<unsigned char>(c);
    signed_sum += static_cast<signed char>(c);
  }
  if (static_cast<int64_t>(stored) != unsigned_sum && static_cast<int64_t>(stored) != signed_sum) {
    return fail(ErrorCode::kDataLoss, "checksum mismatch (header says " + std::to_string(stored) +
                                          ", computed " + std::to_string(unsigned_sum) + ")");
  }
  return {};
}

// Makes an archive member name relative and canonical, refusing names that
// would land outside the directory they are extracted to.
Result<std::string> normalize_member_path(std::string_view raw, std::string_view what) {
  if (raw.empty()) return fail(ErrorCode::kInvalidArgument, std::string(what) + " is empty");
  if (raw.find('\0') != std::string_view::npos) {
    return fail(ErrorCode::kInvalidArgument, std::string(what) + " contains a NUL byte");
  }
  if (raw.starts_with('/')) {
    return fail(ErrorCode::kInvalidArgument, std::string(what) + " " + quote(raw) + " is absolute");
  }
  std::string normalized;
  size_t start = 0;
  while (start <= raw.size()) {
    size_t slash = std::min(raw.find('/', start), raw.size());
    std::string_view component = raw.substr(start, slash - start);
    start = slash + 1;
    if (component.empty() || component == ".") continue;
    if (component == "..") {
      return fail(ErrorCode::kInvalidArgument,
                  std::string(what) + " " + quote(raw) + " has a \"..\" component");
    }
    if (!normalized.empty()) normalized += '/';
    normalized += component;
  }
  return normalized.empty() ? "." : normalized;
}

// What pax and GNU headers preceding an entry say about it.
struct PendingOverrides {
  std::optional<std::string> gnu_long_name;
  std::optional<std::string> gnu_long_link;
  std::optional<std::string> pax_path;
  std::optional<std::string> pax_link_path;
  std::optional<uint64_t> pax_size;
  std::optional<uint64_t> first_header_offset;  // where the overrides began
};

Result<uint64_t> parse_decimal(std::string_view text, std::string_view what) {
  if (text.empty() || text.size() > 19) {
    return fail(ErrorCode::kDataLoss, std::string(what) + " " + quote(text) + " is not a number");
  }
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return fail(ErrorCode::kDataLoss, std::string(what) + " " + quote(text) + " is not a number");
    }
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

// Records are "<length> <key>=<value>\n", the length counting the whole record.
Status parse_pax_records(std::string_view data, PendingOverrides& overrides) {
  while (!data.empty()) {
    size_t space = data.find(' ');
    if (space == std::string_view::npos) {
      return fail(ErrorCode::kDataLoss, "pax record without a length");
    }
    uint64_t length = BERTH_TRY(parse_decimal(data.substr(0, space), "pax record length"));
    if (length <= space + 1 || length > data.size() || data[length - 1] != '\n') {
      return fail(ErrorCode::kDataLoss,
                  "pax record length " + std::to_string(length) + " does not fit the record");
    }
    std::string_view record = data.substr(space + 1, length - space - 2);
    data.remove_prefix(length);
    size_t equals = record.find('=');
    if (equals == std::string_view::npos) {
      return fail(ErrorCode::kDataLoss, "pax record " + quote(record) + " has no '='");
    }
    std::string_view key = record.substr(0, equals);
    std::string_view value = record.substr(equals + 1);
    // An empty value deletes the keyword, i.e. the ustar field applies again.
    if (key == "path") {
      overrides.pax_path = value.empty() ? std::nullopt : std::optional<std::string>(value);
    } else if (key == "linkpath") {
      overrides.pax_link_path = value.empty() ? std::nullopt : std::optional<std::string>(value);
    } else if (key == "size") {
      if (value.empty()) {
        overrides.pax_size.reset();
      } else {
        uint64_t size = BERTH_TRY(parse_decimal(value, "pax size"));
        if (size > kMaxSize) return fail(ErrorCode::kDataLoss, "pax size is too large");
        overrides.pax_size = size;
      }
    }
  }
  return {};
}

bool is_header_only_type(char type) {
  return type == '1' || type == '2' || type == '3' || type == '4' || type == '5' || type == '6';
}

Result<TarEntry> make_entry(const Block& block, const PendingOverrides& overrides) {
  TarEntry entry;
  entry.type = block[kTypeOffset];

  std::string raw_path(string_field(block, kNameOffset, kNameLength));
  std::string_view magic(block.data() + kMagicOffset, kPosixMagic.size());
  if (magic == kPosixMagic) {
    std::string_view prefix = string_field(block, kPrefixOffset, kPrefixLength);
    if (!prefix.empty()) raw_path = std::string(prefix) + "/" + raw_path;
  }
  if (overrides.gnu_long_name) raw_path = *overrides.gnu_long_name;
  if (overrides.pax_path) raw_path = *overrides.pax_path;

  std::string link_name(string_field(block, kLinkNameOffset, kLinkNameLength));
  if (overrides.gnu_long_link) link_name = *overrides.gnu_long_link;
  if (overrides.pax_link_path) link_name = *overrides.pax_link_path;

  // Pre-POSIX tars mark directories only by the trailing slash.
  if (entry.type == '\0') entry.type = raw_path.ends_with('/') ? '5' : '0';

  entry.path = BERTH_TRY(normalize_member_path(raw_path, "path"));
  if (entry.type == '1') {
    entry.link_name = BERTH_TRY_CTX(normalize_member_path(link_name, "hard link target"),
                                    "entry " + quote(entry.path));
  } else {
    entry.link_name = std::move(link_name);
  }

  uint64_t size = overrides.pax_size
                      ? *overrides.pax_size
                      : BERTH_TRY(parse_number(block, kSizeOffset, kSizeLength, "size"));
  if (size > kMaxSize) return fail(ErrorCode::kDataLoss, "size field is too large");
  entry.size = is_header_only_type(entry.type) ? 0 : size;
  return entry;
}

}  // namespace

TarReader::TarReader(TarSource source) : source_(std::move(source)) {}

Error TarReader::remember(Error error) {
  failed_ = error;
  return error;
}

Result<std::optional<TarEntry>> TarReader::next() {
  if (failed_) return fail(*failed_);
  Result<std::optional<TarEntry>> entry = read_next_entry();
  if (!entry) return fail(remember(std::move(entry.error())));
  return entry;
}

Result<size_t> TarReader::read(char* buf, size_t len) {
  if (failed_) return fail(*failed_);
  if (data_remaining_ == 0 || len == 0) return 0;
  size_t wanted = static_cast<size_t>(std::min<uint64_t>(len, data_remaining_));
  std::string context =
      "tar entry " + quote(current_path_) + " " + at_offset(current_header_offset_);
  Result<size_t> got = source_(buf, wanted);
  if (!got) return fail(remember(got.error().with_context(context)));
  if (*got > wanted) {
    return fail(remember(
        Error(ErrorCode::kInternal, context + ": source returned more bytes than asked for")));
  }
  if (*got == 0) {
    return fail(remember(Error(ErrorCode::kDataLoss, context + ": archive truncated, " +
                                                         std::to_string(data_remaining_) +
                                                         " bytes of data missing")));
  }
  offset_ += *got;
  data_remaining_ -= *got;
  return *got;
}

Result<size_t> TarReader::read_full(char* buf, size_t len) {
  size_t total = 0;
  while (total < len) {
    size_t got =
        BERTH_TRY_CTX(source_(buf + total, len - total), "read tar archive " + at_offset(offset_));
    if (got > len - total) {
      return fail(ErrorCode::kInternal, "tar source returned more bytes than asked for");
    }
    if (got == 0) break;
    total += got;
    offset_ += got;
  }
  return total;
}

Status TarReader::skip(uint64_t count, std::string_view what) {
  std::array<char, size_t{16} * 1024> scratch;
  while (count > 0) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(count, scratch.size()));
    size_t got = BERTH_TRY(read_full(scratch.data(), chunk));
    if (got < chunk) {
      return fail(ErrorCode::kDataLoss, std::string(what) + ": archive truncated " +
                                            at_offset(offset_) + ", " +
                                            std::to_string(count - got) + " bytes missing");
    }
    count -= got;
  }
  return {};
}

Result<std::string> TarReader::read_special_data(uint64_t size, uint64_t header_offset, char type) {
  std::string context = std::string("tar '") + type + "' header " + at_offset(header_offset);
  if (size > kMaxSpecialDataSize) {
    return fail(ErrorCode::kDataLoss, context + ": " + std::to_string(size) +
                                          " bytes is more than the " +
                                          std::to_string(kMaxSpecialDataSize) + " allowed");
  }
  std::string data(static_cast<size_t>(size), '\0');
  size_t got = BERTH_TRY(read_full(data.data(), data.size()));
  if (got < data.size()) {
    return fail(ErrorCode::kDataLoss, context + ": archive truncated " + at_offset(offset_));
  }
  BERTH_TRY(skip(padding_for(size), context));
  return data;
}

Result<std::optional<TarEntry>> TarReader::read_next_entry() {
  if (at_end_) return std::nullopt;
  BERTH_TRY(skip(data_remaining_ + padding_remaining_,
                 "tar entry " + quote(current_path_) + " " + at_offset(current_header_offset_)));
  data_remaining_ = 0;
  padding_remaining_ = 0;

  PendingOverrides overrides;
  Block block;
  while (true) {
    uint64_t header_offset = offset_;
    std::string context = "tar header " + at_offset(header_offset);
    size_t got = BERTH_TRY(read_full(block.data(), block.size()));
    if (got == 0) {
      // A clean cut at a block boundary still loses entries; insist on the marker.
      return fail(ErrorCode::kDataLoss, "tar archive truncated: input ends " +
                                            at_offset(header_offset) +
                                            " without the end-of-archive marker");
    }
    if (got < block.size()) {
      return fail(ErrorCode::kDataLoss, context + ": archive truncated inside the header");
    }
    if (is_zero_block(block)) {
      if (overrides.first_header_offset) {
        return fail(ErrorCode::kDataLoss, "tar extended header " +
                                              at_offset(*overrides.first_header_offset) +
                                              " is not followed by an entry");
      }
      // The marker is two zero blocks, but a lone one at the very end (as
      // some writers leave) is tolerated like GNU tar does.
      got = BERTH_TRY(read_full(block.data(), block.size()));
      if (got != 0 && (got < block.size() || !is_zero_block(block))) {
        return fail(ErrorCode::kDataLoss, context + ": zero block followed by data");
      }
      at_end_ = true;
      return std::nullopt;
    }
    Status checksum_ok = verify_checksum(block);
    if (!checksum_ok) {
      std::string hint = header_offset == 0 ? " (not a tar archive?)" : "";
      return fail(checksum_ok.error().with_context(context + hint));
    }

    char type = block[kTypeOffset];
    if (type == kGnuLongName || type == kGnuLongLink || type == kPaxHeader ||
        type == kPaxGlobalHeader) {
      uint64_t size = BERTH_TRY_CTX(parse_number(block, kSizeOffset, kSizeLength, "size"), context);
      std::string data = BERTH_TRY(read_special_data(size, header_offset, type));
      if (type == kPaxGlobalHeader) continue;  // archive-wide defaults we do not use
      if (!overrides.first_header_offset) overrides.first_header_offset = header_offset;
      if (type == kPaxHeader) {
        BERTH_TRY_CTX(parse_pax_records(data, overrides), context);
      } else {
        // GNU NUL-terminates the name inside the data.
        std::string name = data.substr(0, data.find('\0'));
        (type == kGnuLongName ? overrides.gnu_long_name : overrides.gnu_long_link) = name;
      }
      continue;
    }

    TarEntry entry =
        BERTH_TRY_CTX(make_entry(block, overrides), "tar entry " + at_offset(header_offset));
    current_path_ = entry.path;
    current_header_offset_ = header_offset;
    data_remaining_ = entry.size;
    padding_remaining_ = padding_for(entry.size);
    return entry;
  }
}

}  // namespace berth::runtime
