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
  EXPECT_EQ(config.shutdown_grace_seconds, 30);
  EXPECT_EQ(config.cgroup_driver, "") << "chosen at start from the init system";
}

TEST(DefaultConfigTest, TheCgroupDriverIsSystemdOrCgroupfs) {
  AgentConfig config;
  ASSERT_TRUE(apply_toml(R"(cgroup_driver = "cgroupfs")", "test", config));
  EXPECT_EQ(config.cgroup_driver, "cgroupfs");
  EXPECT_TRUE(validate(config));
  config.cgroup_driver = "systemd";
  EXPECT_TRUE(validate(config));
  config.cgroup_driver = "cgroupsfs";
  auto typo = validate(config);
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().message(), "cgroup-driver: 'cgroupsfs' is not one of systemd, cgroupfs");
}

TEST(DefaultConfigTest, TheShutdownGraceIsSecondsAndNotNegative) {
  AgentConfig config;
  ASSERT_TRUE(apply_toml("shutdown_grace_seconds = 5", "test", config));
  EXPECT_EQ(config.shutdown_grace_seconds, 5);
  auto text = apply_toml(R"(shutdown_grace_seconds = "5s")", "test", config);
  ASSERT_FALSE(text);
  EXPECT_NE(text.error().message().find("shutdown_grace_seconds"), std::string::npos)
      << text.error().message();
  config.shutdown_grace_seconds = -1;
  auto negative = validate(config);
  ASSERT_FALSE(negative);
  EXPECT_NE(negative.error().message().find("shutdown-grace"), std::string::npos);
}

}  // namespace
}  // namespace berth::agent
