// The default /etc/berth/berthd.toml that the package installs.
#include <gtest/gtest.h>

#include "agent/config/config.h"

namespace berth::agent {
namespace {

TEST(DefaultConfigTest, ThePackagedConfigParsesAndValidates) {
  AgentConfig config;
  auto applied = apply_toml_file(std::string(BERTH_SOURCE_DIR) + "/systemd/berthd.toml", config);
  ASSERT_TRUE(applied) << applied.error().message();
  EXPECT_TRUE(validate(config));
  EXPECT_EQ(config.exec_policy, "allow");
  EXPECT_EQ(config.socket, AgentConfig{}.socket);
}

}  // namespace
}  // namespace berth::agent
