// Registry endpoints, mirrors and berthd's configuration file.
#include <gtest/gtest.h>

#include "agent/config/config.h"
#include "runtime/containerd.h"
#include "runtime/containers.h"
#include "runtime/registry.h"

namespace berth {
namespace {

using runtime::RegistryConfig;

TEST(RegistryEndpoints, MirrorsComeFirstThenTheRegistry) {
  RegistryConfig config;
  config.insecure_registries = {"127.0.0.1:5000"};
  config.mirrors["docker.io"] = {"http://10.0.0.1:5000/v2/", "127.0.0.1:5000", "mirror.example"};
  auto endpoints = runtime::registry_endpoints(config, "docker.io");
  ASSERT_TRUE(endpoints) << endpoints.error().message();
  ASSERT_EQ(endpoints->size(), 4u);
  EXPECT_EQ((*endpoints)[0].url(), "http://10.0.0.1:5000");
  EXPECT_EQ((*endpoints)[1].url(), "http://127.0.0.1:5000");  // insecure: plain HTTP
  EXPECT_EQ((*endpoints)[2].url(), "https://mirror.example");
  EXPECT_TRUE((*endpoints)[2].mirror);
  EXPECT_EQ((*endpoints)[3].url(), "https://registry-1.docker.io");
  EXPECT_FALSE((*endpoints)[3].mirror);
}

TEST(RegistryEndpoints, PlainHttpOnlyForInsecureRegistries) {
  RegistryConfig config;
  config.insecure_registries = {"127.0.0.1:5000"};
  EXPECT_EQ(runtime::registry_endpoints(config, "127.0.0.1:5000")->back().url(),
            "http://127.0.0.1:5000");
  EXPECT_EQ(runtime::registry_endpoints(config, "127.0.0.1:5001")->back().url(),
            "https://127.0.0.1:5001");
}

TEST(RegistryEndpoints, MalformedMirrorIsAnError) {
  RegistryConfig config;
  config.mirrors["docker.io"] = {"ftp://mirror"};
  auto endpoints = runtime::registry_endpoints(config, "docker.io");
  ASSERT_FALSE(endpoints);
  EXPECT_EQ(endpoints.error().message(),
            "registry mirror 'ftp://mirror' for 'docker.io' is not an http(s) URL or host[:port]");
  EXPECT_FALSE(runtime::parse_mirror_flag("docker.io"));
  EXPECT_FALSE(runtime::parse_mirror_flag("=http://x"));
  auto flag = runtime::parse_mirror_flag("docker.io=http://127.0.0.1:5000");
  ASSERT_TRUE(flag);
  EXPECT_EQ(flag->first, "docker.io");
  EXPECT_EQ(flag->second, "http://127.0.0.1:5000");
}

TEST(AgentConfig, TomlSetsEverySetting) {
  agent::AgentConfig config;
  auto applied = agent::apply_toml(R"(
containerd_address = "/run/c.sock"
namespace = "edge"
root = "/var/lib/b"
state = "/run/b"
socket = "/run/b/api.sock"
log_level = "debug"
insecure_registries = ["127.0.0.1:5000"]
[registry_mirrors]
"docker.io" = ["http://127.0.0.1:5000", "http://127.0.0.1:5001"]
"quay.io" = "http://127.0.0.1:5002"
)",
                                   "test.toml", config);
  ASSERT_TRUE(applied) << applied.error().message();
  EXPECT_EQ(config.containerd_address, "/run/c.sock");
  EXPECT_EQ(config.ns, "edge");
  EXPECT_EQ(config.log_dir(), "/var/lib/b/logs");
  EXPECT_EQ(config.insecure_registries, std::vector<std::string>{"127.0.0.1:5000"});
  EXPECT_EQ(config.registry_mirrors, (std::vector<std::string>{"docker.io=http://127.0.0.1:5000",
                                                               "docker.io=http://127.0.0.1:5001",
                                                               "quay.io=http://127.0.0.1:5002"}));
  EXPECT_TRUE(agent::validate(config));
}

TEST(AgentConfig, ResourceSettings) {
  agent::AgentConfig config;
  EXPECT_EQ(config.reserved_memory_mib, 256) << "the default reservation";
  EXPECT_EQ(config.task_pids_limit, 0) << "no pids limit unless asked";
  auto applied = agent::apply_toml(
      "reserved_cpu_units = 512\nreserved_memory_mib = 1024\ntask_pids_limit = 4096\n", "test.toml",
      config);
  ASSERT_TRUE(applied) << applied.error().message();
  EXPECT_EQ(config.reserved_cpu_units, 512);
  EXPECT_EQ(config.reserved_memory_mib, 1024);
  EXPECT_EQ(config.task_pids_limit, 4096);
  auto negative = agent::apply_toml("reserved_memory_mib = -1\n", "test.toml", config);
  ASSERT_FALSE(negative);
  EXPECT_EQ(negative.error().message(),
            "test.toml: reserved_memory_mib: must be a whole number, 0 or more");
}

TEST(AgentConfig, ErrorsNameTheKey) {
  agent::AgentConfig config;
  auto unknown = agent::apply_toml("namespaec = \"x\"\n", "berthd.toml", config);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message(), "berthd.toml: namespaec: unknown setting");
  auto wrong_type = agent::apply_toml("root = 3\n", "berthd.toml", config);
  ASSERT_FALSE(wrong_type);
  EXPECT_EQ(wrong_type.error().message(), "berthd.toml: root: must be a string");
  auto syntax = agent::apply_toml("root = \n", "berthd.toml", config);
  ASSERT_FALSE(syntax);
  EXPECT_NE(syntax.error().message().find("berthd.toml:line 1"), std::string::npos)
      << syntax.error().message();

  agent::AgentConfig relative;
  relative.root = "var/lib/berth";
  auto invalid = agent::validate(relative);
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().message(), "root: 'var/lib/berth' is not an absolute path");
  agent::AgentConfig level;
  level.log_level = "loud";
  EXPECT_FALSE(agent::validate(level));
}

TEST(ContainerdVersion, ParsesDebianAndUpstreamForms) {
  EXPECT_EQ(runtime::parse_containerd_version("1.6.20~ds1"), (std::pair{1, 6}));
  EXPECT_EQ(runtime::parse_containerd_version("v1.7.2"), (std::pair{1, 7}));
  EXPECT_FALSE(runtime::parse_containerd_version("unknown"));
}

TEST(UserLookup, NamesAndBareUidsNeedTheImagesFiles) {
  EXPECT_FALSE(runtime::user_needs_lookup(""));
  EXPECT_FALSE(runtime::user_needs_lookup("0"));
  EXPECT_FALSE(runtime::user_needs_lookup("1000:1000"));
  EXPECT_TRUE(runtime::user_needs_lookup("1000"));
  EXPECT_TRUE(runtime::user_needs_lookup("nobody"));
  EXPECT_TRUE(runtime::user_needs_lookup("1000:staff"));
}

}  // namespace
}  // namespace berth
