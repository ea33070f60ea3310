#include "ctl/detach_keys.h"

#include <gtest/gtest.h>

namespace berthctl {
namespace {

TEST(DetachKeysTest, PassesOrdinaryBytes) {
  DetachKeys keys;
  EXPECT_EQ(keys.feed("echo hi\r"), "echo hi\r");
  EXPECT_FALSE(keys.detached());
}

TEST(DetachKeysTest, DetachesOnCtrlPCtrlQAndDropsTheRest) {
  DetachKeys keys;
  EXPECT_EQ(keys.feed("ab\x10\x11 cd"), "ab");
  EXPECT_TRUE(keys.detached());
  EXPECT_EQ(keys.feed("more"), "");
}

TEST(DetachKeysTest, TheSequenceMaySpanReads) {
  DetachKeys keys;
  EXPECT_EQ(keys.feed("x\x10"), "x");
  EXPECT_FALSE(keys.detached());
  EXPECT_EQ(keys.feed("\x11"), "");
  EXPECT_TRUE(keys.detached());
}

TEST(DetachKeysTest, AHeldPrefixIsSentWhenTheSequenceBreaks) {
  DetachKeys keys;
  EXPECT_EQ(keys.feed("\x10"), "");
  EXPECT_EQ(keys.feed("a"),
            "\x10"
            "a");
  EXPECT_FALSE(keys.detached());
  // Ctrl-P Ctrl-P Ctrl-Q: the first Ctrl-P goes out, the next two detach.
  EXPECT_EQ(keys.feed("\x10\x10\x11"), "\x10");
  EXPECT_TRUE(keys.detached());
}

TEST(DetachKeysTest, ASequenceThatRepeatsItsStartStillMatches) {
  DetachKeys keys("aab");
  EXPECT_EQ(keys.feed("aaab"), "a");
  EXPECT_TRUE(keys.detached());
}

TEST(DetachKeysTest, AnEmptySequenceNeverDetaches) {
  DetachKeys keys("");
  EXPECT_EQ(keys.feed("\x10\x11"), "\x10\x11");
  EXPECT_FALSE(keys.detached());
}

}  // namespace
}  // namespace berthctl
