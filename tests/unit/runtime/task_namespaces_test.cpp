// pidMode/ipcMode "task" and "none": the container spec's namespaces and
// /dev/shm, and the sandbox's own spec (when the planner makes and removes
// it: tests/unit/engine). Pure: no root, no containerd.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/oci_spec.h"
#include "runtime/sandbox.h"
#include "runtime/spec_settings.h"

namespace berth {
namespace {

using nlohmann::json;

json container_spec() {
  runtime::SpecInputs inputs;
  inputs.image.cmd = {"sleep", "1"};
  inputs.cgroups_path = "/ns/c";
  inputs.agent_nofile_limit = {"RLIMIT_NOFILE", 1024, 4096};
  auto spec = runtime::build_spec(inputs);
  EXPECT_TRUE(spec) << spec.error().message();
  return *spec;
}

json namespace_entry(const json& spec, const std::string& type) {
  json found;
  int count = 0;
  for (const auto& n : spec["linux"]["namespaces"]) {
    if (n["type"] == type) {
      found = n;
      ++count;
    }
  }
  EXPECT_LE(count, 1) << "duplicate " << type << " namespace";
  return found;
}

json mount_at(const json& spec, const std::string& destination) {
  for (const auto& m : spec["mounts"]) {
    if (m["destination"] == destination) return m;
  }
  return nullptr;
}

TEST(TaskNamespaces, TaskModeJoinsTheSandboxNamespacesAndSharesItsShm) {
  json spec = container_spec();
  runtime::ContainerSettings settings;
  settings.shm_size_bytes = 1 << 20;  // a container's own size gives way to the task's
  settings.task_namespaces = {"/proc/42/ns/pid", "/proc/42/ns/ipc", "/run/berth/sandboxes/t/shm"};
  ASSERT_TRUE(runtime::apply_container_settings(spec, settings));
  EXPECT_EQ(namespace_entry(spec, "pid"), (json{{"type", "pid"}, {"path", "/proc/42/ns/pid"}}));
  EXPECT_EQ(namespace_entry(spec, "ipc"), (json{{"type", "ipc"}, {"path", "/proc/42/ns/ipc"}}));
  EXPECT_FALSE(namespace_entry(spec, "uts").contains("path"));
  EXPECT_FALSE(namespace_entry(spec, "mount").contains("path"));
  json shm = mount_at(spec, "/dev/shm");
  EXPECT_EQ(shm["type"], "bind");
  EXPECT_EQ(shm["source"], "/run/berth/sandboxes/t/shm");
  EXPECT_NE(std::find(shm["options"].begin(), shm["options"].end(), "noexec"),
            shm["options"].end());
  // /dev/shm is mounted after /dev, which holds its mount point.
  size_t dev = 0;
  size_t dev_shm = 0;
  for (size_t i = 0; i < spec["mounts"].size(); ++i) {
    if (spec["mounts"][i]["destination"] == "/dev") dev = i;
    if (spec["mounts"][i]["destination"] == "/dev/shm") dev_shm = i;
  }
  EXPECT_LT(dev, dev_shm);
}

TEST(TaskNamespaces, PidOnlyKeepsTheContainersOwnIpcAndShm) {
  json spec = container_spec();
  json shm_before = mount_at(spec, "/dev/shm");
  runtime::ContainerSettings settings;
  settings.task_namespaces.pid_path = "/proc/7/ns/pid";
  ASSERT_TRUE(runtime::apply_container_settings(spec, settings));
  EXPECT_EQ(namespace_entry(spec, "pid")["path"], "/proc/7/ns/pid");
  EXPECT_EQ(namespace_entry(spec, "ipc"), (json{{"type", "ipc"}}));
  EXPECT_EQ(mount_at(spec, "/dev/shm"), shm_before);
}

TEST(TaskNamespaces, IpcNoneIsAPrivateNamespaceWithoutDevShm) {
  json spec = container_spec();
  runtime::ContainerSettings settings;
  settings.shm_size_bytes = 1 << 20;
  settings.task_namespaces.ipc_none = true;
  ASSERT_TRUE(runtime::apply_container_settings(spec, settings));
  EXPECT_EQ(namespace_entry(spec, "ipc"), (json{{"type", "ipc"}}));
  EXPECT_TRUE(mount_at(spec, "/dev/shm").is_null());
  EXPECT_FALSE(mount_at(spec, "/dev/mqueue").is_null()) << "Docker keeps /dev/mqueue";
}

TEST(TaskNamespaces, BadCombinationsAndRelativePathsAreRefused) {
  json spec = container_spec();
  runtime::TaskNamespaces none_and_join;
  none_and_join.ipc_none = true;
  none_and_join.ipc_path = "/proc/1/ns/ipc";
  EXPECT_FALSE(runtime::apply_task_namespaces(spec, none_and_join));
  runtime::TaskNamespaces relative;
  relative.pid_path = "proc/1/ns/pid";
  EXPECT_FALSE(runtime::apply_task_namespaces(spec, relative));
}

TEST(SandboxSpec, PauseInAReadOnlyHostDirectoryWithNothingElse) {
  runtime::SandboxSpecInputs inputs;
  inputs.rootfs_path = "/run/berth/sandbox-rootfs";
  inputs.cgroups_path = "/ns/t.sandbox";
  inputs.hostname = "t.sandbox";
  inputs.agent_nofile_limit = {"RLIMIT_NOFILE", 1024, 4096};
  auto spec = runtime::build_sandbox_spec(inputs);
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ((*spec)["root"], (json{{"path", "/run/berth/sandbox-rootfs"}, {"readonly", true}}));
  EXPECT_EQ((*spec)["process"]["args"], json::array({"/berth-pause"}));
  EXPECT_EQ((*spec)["process"]["capabilities"]["bounding"], json::array());
  EXPECT_EQ((*spec)["process"]["noNewPrivileges"], true);
  for (const auto& m : (*spec)["mounts"]) {
    std::string destination = m["destination"];
    EXPECT_TRUE(destination == "/proc" || destination == "/dev" || destination.starts_with("/dev/"))
        << destination << " needs a mount point in the shared read-only root";
  }
  for (const char* type : {"pid", "ipc", "uts", "mount", "network"}) {
    json entry = namespace_entry(*spec, type);
    EXPECT_EQ(entry, (json{{"type", type}})) << "the sandbox makes its own " << type;
  }
  inputs.rootfs_path = "rootfs";
  EXPECT_FALSE(runtime::build_sandbox_spec(inputs));
}

}  // namespace
}  // namespace berth
