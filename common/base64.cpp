#include "common/base64.h"

#include <array>
#include <cstdint>

namespace berth {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr int kNotInAlphabet = -1;

constexpr std::array<int, 256> make_decode_table() {
  std::array<int, 256> table{};
  table.fill(kNotInAlphabet);
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
  }
  return table;
}

constexpr std::array<int, 256> kDecodeTable = make_decode_table();

std::string describe_char(char c) {
  auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x20 && byte < 0x7f) return std::string("'") + c + "'";
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("byte 0x") + kHex[byte >> 4] + kHex[byte & 0xf];
}

}  // namespace

std::string base64_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t group = static_cast<uint32_t>(static_cast<unsigned char>(data[i])) << 16 |
                     static_cast<uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8 |
                     static_cast<uint32_t>(static_cast<unsigned char>(data[i + 2]));
    out += kAlphabet[group >> 18 & 0x3f];
    out += kAlphabet[group >> 12 & 0x3f];
    out += kAlphabet[group >> 6 & 0x3f];
    out += kAlphabet[group & 0x3f];
  }
  size_t rest = data.size() - i;
  if (rest == 0) return out;
  uint32_t group = static_cast<uint32_t>(static_cast<unsigned char>(data[i])) << 16;
  if (rest == 2) group |= static_cast<uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8;
  out += kAlphabet[group >> 18 & 0x3f];
  out += kAlphabet[group >> 12 & 0x3f];
  out += rest == 2 ? kAlphabet[group >> 6 & 0x3f] : '=';
  out += '=';
  return out;
}

Result<std::string> base64_decode(std::string_view encoded) {
  std::string out;
  out.reserve(encoded.size() / 4 * 3);
  uint32_t group = 0;
  int sextets = 0;  // sextets collected in the current 4-character quantum
  int padding = 0;  // '=' seen; only more '=' (or line breaks) may follow
  for (size_t offset = 0; offset < encoded.size(); ++offset) {
    char c = encoded[offset];
    if (c == '\r' || c == '\n') continue;
    if (c == '=') {
      // Padding only completes a quantum that already holds 2 or 3 sextets.
      if (sextets + padding < 2 || sextets + padding >= 4) {
        return fail(ErrorCode::kInvalidArgument,
                    "invalid base64: unexpected '=' at offset " + std::to_string(offset));
      }
      ++padding;
      continue;
    }
    int value = kDecodeTable[static_cast<unsigned char>(c)];
    if (value == kNotInAlphabet) {
      return fail(ErrorCode::kInvalidArgument, "invalid base64: " + describe_char(c) +
                                                   " at offset " + std::to_string(offset) +
                                                   " is not in the base64 alphabet");
    }
    if (padding > 0) {
      return fail(ErrorCode::kInvalidArgument,
                  "invalid base64: data after '=' padding at offset " + std::to_string(offset));
    }
    group = group << 6 | static_cast<uint32_t>(value);
    if (++sextets == 4) {
      out += static_cast<char>(group >> 16 & 0xff);
      out += static_cast<char>(group >> 8 & 0xff);
      out += static_cast<char>(group & 0xff);
      group = 0;
      sextets = 0;
    }
  }
  if (padding > 0 && sextets + padding != 4) {
    return fail(ErrorCode::kInvalidArgument, "invalid base64: incomplete padding");
  }
  switch (sextets) {
    case 0:
      break;
    case 1:
      return fail(ErrorCode::kInvalidArgument,
                  "invalid base64: length leaves a single dangling character");
    case 2:
      out += static_cast<char>(group >> 4 & 0xff);
      break;
    case 3:
      out += static_cast<char>(group >> 10 & 0xff);
      out += static_cast<char>(group >> 2 & 0xff);
      break;
  }
  return out;
}

}  // namespace berth
