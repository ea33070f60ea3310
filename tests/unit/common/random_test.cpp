#include "common/random.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <set>

namespace berth {
namespace {

TEST(RandomBytesTest, FillsEveryByteAndNeverRepeats) {
  std::set<std::array<unsigned char, 32>> seen;
  for (int i = 0; i < 8; ++i) {
    std::array<unsigned char, 32> bytes{};
    ASSERT_TRUE(random_bytes(bytes.data(), bytes.size()));
    // The end is filled too (eight zero bytes: one chance in 2^64).
    EXPECT_NE(std::count(bytes.end() - 8, bytes.end(), 0), 8);
    seen.insert(bytes);
  }
  EXPECT_EQ(seen.size(), 8U);
  EXPECT_TRUE(random_bytes(nullptr, 0));
}

}  // namespace
}  // namespace berth
