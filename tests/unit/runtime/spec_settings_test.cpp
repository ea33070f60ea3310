#include "runtime/spec_settings.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "runtime/oci_spec.h"

namespace berth::runtime {
namespace {

using nlohmann::json;

json base_spec() {
  SpecInputs in;
  in.image.cmd = {"/bin/sh"};
  in.cgroups_path = "/berth/task1/web";
  in.agent_nofile_limit = {"RLIMIT_NOFILE", 1024, 1048576};
  auto spec = build_spec(in);
  EXPECT_TRUE(spec.has_value()) << spec.error().message();
  return spec.value_or(json::object());
}

struct stat stat_of(const char* path) {
  struct stat st {};
  EXPECT_EQ(::stat(path, &st), 0) << path;
  return st;
}

TEST(DeviceAccess, FromEcsPermissions) {
  EXPECT_EQ(device_access({}).value(), "rwm");
  EXPECT_EQ(device_access({"read"}).value(), "r");
  EXPECT_EQ(device_access({"write", "read"}).value(), "rw");
  EXPECT_EQ(device_access({"mknod", "read", "read"}).value(), "rm");
  EXPECT_EQ(device_access({"read", "write", "mknod"}).value(), "rwm");
  auto bad = device_access({"read", "execute"});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("'execute'"), std::string::npos) << bad.error().message();
}

TEST(SpecSettingsResources, OciResourcesBesideTheDeviceRules) {
  json spec = base_spec();
  const json devices = spec["linux"]["resources"]["devices"];
  ContainerSettings settings;
  settings.resources.cpu_shares = 512;
  settings.resources.memory_limit = 64 << 20;
  settings.resources.memory_reservation = 32 << 20;
  settings.resources.memory_swap = 64 << 20;
  settings.resources.swappiness = 10;
  ASSERT_TRUE(apply_container_settings(spec, settings).has_value());
  const json& r = spec["linux"]["resources"];
  EXPECT_EQ(r["cpu"], (json{{"shares", 512}}));
  EXPECT_EQ(
      r["memory"],
      (json{
          {"limit", 64 << 20}, {"reservation", 32 << 20}, {"swap", 64 << 20}, {"swappiness", 10}}));
  EXPECT_EQ(r["devices"], devices);

  json plain = base_spec();
  ASSERT_TRUE(apply_container_settings(plain, ContainerSettings{}).has_value());
  EXPECT_FALSE(plain["linux"]["resources"].contains("cpu")) << "no limit: the runtime's default";
  EXPECT_FALSE(plain["linux"]["resources"].contains("memory"));
}

TEST(SpecSettingsDevices, NodeAndCgroupRuleFromTheHostDevice) {
  json spec = base_spec();
  const size_t default_rules = spec["linux"]["resources"]["devices"].size();
  ContainerSettings settings;
  settings.devices = {{"/dev/zero", "/dev/berthzero", {"read"}}, {"/dev/null", "/dev/null", {}}};
  ASSERT_TRUE(apply_container_settings(spec, settings).has_value());

  const json& nodes = spec["linux"]["devices"];
  ASSERT_EQ(nodes.size(), 2u) << nodes.dump();
  struct stat zero = stat_of("/dev/zero");
  EXPECT_EQ(nodes[0], (json{{"path", "/dev/berthzero"},
                            {"type", "c"},
                            {"major", major(zero.st_rdev)},
                            {"minor", minor(zero.st_rdev)},
                            {"fileMode", zero.st_mode & 07777},
                            {"uid", zero.st_uid},
                            {"gid", zero.st_gid}}));
  EXPECT_EQ(nodes[1]["path"], "/dev/null");

  // The rules come after the defaults (deny all first), one per device.
  const json& rules = spec["linux"]["resources"]["devices"];
  ASSERT_EQ(rules.size(), default_rules + 2) << rules.dump();
  EXPECT_EQ(rules[0]["allow"], false);
  EXPECT_EQ(rules[default_rules], (json{{"allow", true},
                                        {"type", "c"},
                                        {"major", major(zero.st_rdev)},
                                        {"minor", minor(zero.st_rdev)},
                                        {"access", "r"}}));
  struct stat null = stat_of("/dev/null");
  EXPECT_EQ(rules[default_rules + 1]["minor"], minor(null.st_rdev));
  EXPECT_EQ(rules[default_rules + 1]["access"], "rwm");
}

TEST(SpecSettingsDevices, ContainerPathDefaultsToHostPathAndReplacesASamePathNode) {
  json spec = base_spec();
  ContainerSettings settings;
  settings.devices = {{"/dev/zero", "/dev/x", {}}, {"/dev/null", "", {"write"}}};
  ASSERT_TRUE(apply_container_settings(spec, settings).has_value());
  ContainerSettings again;
  again.devices = {{"/dev/null", "/dev/x", {}}};
  ASSERT_TRUE(apply_container_settings(spec, again).has_value());
  const json& nodes = spec["linux"]["devices"];
  ASSERT_EQ(nodes.size(), 2u) << nodes.dump();
  EXPECT_EQ(nodes[0]["path"], "/dev/null");
  EXPECT_EQ(nodes[1]["path"], "/dev/x");
  EXPECT_EQ(nodes[1]["minor"], minor(stat_of("/dev/null").st_rdev));
}

TEST(SpecSettingsDevices, NoDevicesLeaveTheSpecAlone) {
  json spec = base_spec();
  json before = spec;
  ASSERT_TRUE(apply_container_settings(spec, ContainerSettings{}).has_value());
  EXPECT_EQ(spec["linux"]["resources"], before["linux"]["resources"]);
  EXPECT_FALSE(spec["linux"].contains("devices"));
}

TEST(SpecSettingsDevices, HostPathMustBeADeviceNode) {
  struct Case {
    std::string host_path;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"/dev", "is not a character or block device"},
      {"/proc/self/status", "is not a character or block device"},
      {"/dev/berth-no-such-device", "No such file or directory"},
  };
  for (const auto& c : cases) {
    json spec = base_spec();
    ContainerSettings settings;
    settings.devices = {{c.host_path, "/dev/x", {}}};
    auto applied = apply_container_settings(spec, settings);
    ASSERT_FALSE(applied.has_value()) << c.host_path;
    const std::string& message = applied.error().message();
    EXPECT_NE(message.find("linuxParameters.devices: hostPath '" + c.host_path + "'"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find(c.error), std::string::npos) << message;
  }
}

TEST(SpecSettingsDevices, UnknownPermissionIsAnError) {
  json spec = base_spec();
  ContainerSettings settings;
  settings.devices = {{"/dev/null", "/dev/null", {"read", "all"}}};
  auto applied = apply_container_settings(spec, settings);
  ASSERT_FALSE(applied.has_value());
  EXPECT_NE(applied.error().message().find("linuxParameters.devices"), std::string::npos);
  EXPECT_NE(applied.error().message().find("'all'"), std::string::npos);
}

// --- capabilities -----------------------------------------------------------

std::vector<std::string> capability_set(const json& spec, const char* set) {
  std::vector<std::string> out;
  for (const auto& c : spec["process"]["capabilities"][set]) out.push_back(c.get<std::string>());
  return out;
}

TEST(SpecSettingsCapabilities, PrivilegedGetsEveryCapabilityBerthdHoldsAndNoMaskedPaths) {
  json spec = base_spec();
  ContainerSettings settings;
  settings.privileged = true;
  settings.agent_capabilities = std::set<std::string>{"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_KILL"};
  ASSERT_TRUE(apply_container_settings(spec, settings));
  for (const char* set : {"bounding", "effective", "permitted"}) {
    EXPECT_EQ(capability_set(spec, set),
              (std::vector<std::string>{"CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"}))
        << set;
  }
  EXPECT_EQ(spec["linux"]["maskedPaths"], json::array());
  EXPECT_EQ(spec["linux"]["readonlyPaths"], json::array());
}

TEST(SpecSettingsCapabilities, DefaultsBerthdLacksAreLeftOutAndAddingOneIsRefusedByName) {
  std::set<std::string> held = bounding_capabilities();
  held.erase("CAP_NET_RAW");
  held.erase("CAP_SYS_RESOURCE");
  json spec = base_spec();
  ContainerSettings settings;
  settings.agent_capabilities = held;
  settings.cap_add = {"NET_ADMIN"};
  ASSERT_TRUE(apply_container_settings(spec, settings));
  auto effective = capability_set(spec, "effective");
  EXPECT_EQ(std::ranges::count(effective, "CAP_NET_RAW"), 0);
  EXPECT_EQ(std::ranges::count(effective, "CAP_NET_ADMIN"), 1);
  EXPECT_EQ(std::ranges::count(effective, "CAP_CHOWN"), 1);

  spec = base_spec();
  settings.cap_add = {"SYS_RESOURCE"};
  auto refused = apply_container_settings(spec, settings);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message(),
            "linuxParameters.capabilities.add: 'SYS_RESOURCE': berthd does not hold this "
            "capability, so no container can have it");
}

TEST(SpecSettingsDevices, PrivilegedMakesTheNodesDevicesButNotPtsOrPtmx) {
  auto paths = host_device_paths();
  EXPECT_NE(std::ranges::find(paths, "/dev/null"), paths.end());
  for (const auto& path : paths) {
    EXPECT_FALSE(path.starts_with("/dev/pts/")) << path;
    EXPECT_NE(path, "/dev/ptmx");
    EXPECT_NE(path, "/dev/console");
  }
  json spec = base_spec();
  ContainerSettings settings;
  settings.privileged = true;
  settings.host_devices = {"/dev/null", "/dev/zero", "/dev/no-such-device"};
  ASSERT_TRUE(apply_container_settings(spec, settings));
  std::vector<std::string> made;
  for (const auto& d : spec["linux"]["devices"]) made.push_back(d["path"].get<std::string>());
  // One that went since it was listed is skipped.
  EXPECT_EQ(made, (std::vector<std::string>{"/dev/null", "/dev/zero"}));
}

}  // namespace
}  // namespace berth::runtime
