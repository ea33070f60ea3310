#include "common/base64.h"

#include <gtest/gtest.h>

#include <string>

namespace berth {
namespace {

TEST(Base64Test, EncodesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64Test, DecodesRfc4648Vectors) {
  EXPECT_EQ(base64_decode("").value(), "");
  EXPECT_EQ(base64_decode("Zg==").value(), "f");
  EXPECT_EQ(base64_decode("Zm8=").value(), "fo");
  EXPECT_EQ(base64_decode("Zm9v").value(), "foo");
  EXPECT_EQ(base64_decode("Zm9vYg==").value(), "foob");
  EXPECT_EQ(base64_decode("Zm9vYmE=").value(), "fooba");
  EXPECT_EQ(base64_decode("Zm9vYmFy").value(), "foobar");
}

TEST(Base64Test, UsesStandardAlphabetForHighBits) {
  // 0xfb 0xff 0xbf exercises '+' and '/', which URL-safe base64 replaces.
  EXPECT_EQ(base64_encode("\xfb\xff\xbf"), "+/+/");
  EXPECT_EQ(base64_decode("+/+/").value(), "\xfb\xff\xbf");
}

TEST(Base64Test, RoundTripsEveryByteValue) {
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes += static_cast<char>(i);
  for (size_t length = 0; length <= all_bytes.size(); length += 37) {
    std::string input = all_bytes.substr(0, length);
    auto decoded = base64_decode(base64_encode(input));
    ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
    EXPECT_EQ(*decoded, input) << "length " << length;
  }
}

TEST(Base64Test, DockerAuthFieldDecodes) {
  EXPECT_EQ(base64_decode("dXNlcjpwYXNz").value(), "user:pass");
}

TEST(Base64Test, AcceptsMissingPadding) {
  EXPECT_EQ(base64_decode("Zg").value(), "f");
  EXPECT_EQ(base64_decode("Zm8").value(), "fo");
}

TEST(Base64Test, SkipsLineBreaks) { EXPECT_EQ(base64_decode("Zm9v\r\nYmFy\n").value(), "foobar"); }

TEST(Base64Test, RejectsCharacterOutsideAlphabet) {
  auto decoded = base64_decode("Zm9v!mFy");
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(decoded.error().message(),
            "invalid base64: '!' at offset 4 is not in the base64 alphabet");
}

TEST(Base64Test, DescribesNonPrintableByteInHex) {
  auto decoded = base64_decode(std::string("Zm\x01v", 4));
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error().message(),
            "invalid base64: byte 0x01 at offset 2 is not in the base64 alphabet");
}

TEST(Base64Test, RejectsUrlSafeAlphabet) {
  auto decoded = base64_decode("-_-_");
  ASSERT_FALSE(decoded.has_value());
  EXPECT_NE(decoded.error().message().find("'-' at offset 0"), std::string::npos);
}

TEST(Base64Test, RejectsDataAfterPadding) {
  auto decoded = base64_decode("Zg==Zg==");
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(decoded.error().message(), "invalid base64: data after '=' padding at offset 4");
}

TEST(Base64Test, RejectsMisplacedPadding) {
  for (const char* input : {"=", "Z===", "Zm9v=", "Zg==="}) {
    auto decoded = base64_decode(input);
    ASSERT_FALSE(decoded.has_value()) << input;
    EXPECT_NE(decoded.error().message().find("unexpected '='"), std::string::npos) << input;
  }
}

TEST(Base64Test, RejectsIncompletePadding) {
  auto decoded = base64_decode("Zg=");
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error().message(), "invalid base64: incomplete padding");
}

TEST(Base64Test, RejectsDanglingCharacter) {
  auto decoded = base64_decode("Zm9vY");
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error().message(), "invalid base64: length leaves a single dangling character");
}

}  // namespace
}  // namespace berth
