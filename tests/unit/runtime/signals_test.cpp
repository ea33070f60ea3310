#include "runtime/signals.h"

#include <gtest/gtest.h>
#include <signal.h>

namespace berth::runtime {
namespace {

TEST(ParseSignal, NamesWithAndWithoutSigInAnyCaseAndNumbers) {
  for (const auto& [text, expected] : std::vector<std::pair<std::string, int>>{
           {"SIGTERM", SIGTERM},
           {"TERM", SIGTERM},
           {"sigquit", SIGQUIT},
           {"SIGKILL", SIGKILL},
           {"SIGWINCH", SIGWINCH},
           {"usr1", SIGUSR1},
           {"9", SIGKILL},
           {"15", SIGTERM},
           {"SIGRTMIN", SIGRTMIN},
           {"SIGRTMIN+3", SIGRTMIN + 3},
           {"RTMAX-2", SIGRTMAX - 2},
           {"SIGRTMAX", SIGRTMAX},
       }) {
    auto parsed = parse_signal(text);
    ASSERT_TRUE(parsed) << text << ": " << parsed.error().message();
    EXPECT_EQ(*parsed, expected) << text;
  }
}

TEST(ParseSignal, AnythingElseIsRefusedNamingTheText) {
  for (const char* text : {"", "SIG", "TERMINATE", "0", "-15", "65", "15x", "SIGRTMIN-1",
                           "SIGRTMAX+1", "SIGRTMIN+99", "RTMIN+"}) {
    auto parsed = parse_signal(text);
    ASSERT_FALSE(parsed) << text << " gave " << *parsed;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(parsed.error().message().find("'" + std::string(text) + "'"), std::string::npos)
        << parsed.error().message();
  }
}

}  // namespace
}  // namespace berth::runtime
