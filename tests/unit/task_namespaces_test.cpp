// pidMode/ipcMode "task" and "none": the container spec's namespaces and
// /dev/shm, the sandbox's own spec, and when the reconciler makes and
// removes the sandbox. Pure: no root, no containerd.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "agent/task_state.h"
#include "agent/taskdef/taskdef.h"
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

// --- the reconciler

agent::TaskDefinition definition(const std::string& extra) {
  std::string text =
      R"({"family":"f",)" + extra +
      R"("containerDefinitions":[{"name":"a","image":"busybox"},{"name":"b","image":"busybox"}]})";
  auto parsed = agent::parse_task_definition(text, {});
  EXPECT_TRUE(parsed.definition) << agent::format_problems(parsed.problems);
  return *parsed.definition;
}

bool has(const agent::Plan& plan, agent::Action::Kind kind) {
  for (const auto& action : plan.actions) {
    if (action.kind == kind) return true;
  }
  return false;
}

TEST(SandboxPlan, OnlyTaskModesNeedASandbox) {
  EXPECT_FALSE(agent::needs_sandbox(definition("")));
  EXPECT_FALSE(agent::needs_sandbox(definition(R"("pidMode":"host","ipcMode":"none",)")));
  EXPECT_TRUE(agent::needs_sandbox(definition(R"("pidMode":"task",)")));
  EXPECT_TRUE(agent::needs_sandbox(definition(R"("ipcMode":"task",)")));
  auto plain = agent::new_task("t1", "", "{}", definition(""), 1);
  EXPECT_FALSE(plain.sandbox);
  auto shared = agent::new_task("t1", "", "{}", definition(R"("pidMode":"task",)"), 1);
  ASSERT_TRUE(shared.sandbox);
  EXPECT_EQ(shared.sandbox->containerd_id, "t1.sandbox");
}

TEST(SandboxPlan, ContainersStartOnlyOnceTheSandboxRuns) {
  auto def = definition(R"("pidMode":"task",)");
  auto task = agent::new_task("t1", "", "{}", def, 1);
  std::vector<bool> idle(2, false);
  for (auto& c : task.containers) c.known = agent::TaskStatus::kPulled;

  auto plan = agent::plan_task(task, def, idle, 10);
  EXPECT_TRUE(has(plan, agent::Action::Kind::kCreateSandbox));
  EXPECT_FALSE(has(plan, agent::Action::Kind::kStart));
  EXPECT_EQ(plan.actions.front().container, agent::kTaskLevel);

  plan = agent::plan_task(task, def, idle, 10, /*sandbox_busy=*/true);
  EXPECT_TRUE(plan.actions.empty()) << "nothing while the sandbox is being made";

  task.sandbox->known = agent::TaskStatus::kRunning;
  task.sandbox->pid = 99;
  plan = agent::plan_task(task, def, idle, 10);
  EXPECT_FALSE(has(plan, agent::Action::Kind::kCreateSandbox));
  EXPECT_TRUE(has(plan, agent::Action::Kind::kStart));
}

TEST(SandboxPlan, TheSandboxGoesAfterTheLastContainerAndThenTheTaskStops) {
  auto def = definition(R"("ipcMode":"task",)");
  auto task = agent::new_task("t1", "", "{}", def, 1);
  task.sandbox->known = agent::TaskStatus::kRunning;
  for (auto& c : task.containers) {
    c.known = agent::TaskStatus::kRunning;
    c.started_at_ms = 5;
  }
  agent::request_stop(task, "UserInitiated", "stop");
  std::vector<bool> idle(2, false);
  auto plan = agent::plan_task(task, def, idle, 10);
  EXPECT_TRUE(has(plan, agent::Action::Kind::kSignal));
  EXPECT_FALSE(has(plan, agent::Action::Kind::kRemoveSandbox));

  for (auto& c : task.containers) {
    c.known = agent::TaskStatus::kStopped;
    c.removed = true;
  }
  plan = agent::plan_task(task, def, {true, false}, 20);
  EXPECT_FALSE(has(plan, agent::Action::Kind::kRemoveSandbox)) << "a container action in flight";
  plan = agent::plan_task(task, def, idle, 20);
  EXPECT_TRUE(has(plan, agent::Action::Kind::kRemoveSandbox));
  EXPECT_NE(task.known, agent::TaskStatus::kStopped) << "not before the sandbox is gone";

  task.sandbox->known = agent::TaskStatus::kStopped;
  task.sandbox->removed = true;
  plan = agent::plan_task(task, def, idle, 30);
  EXPECT_TRUE(has(plan, agent::Action::Kind::kRemoveCgroup)) << "the task cgroup goes last";
  EXPECT_NE(task.known, agent::TaskStatus::kStopped);
  task.cgroup_removed = true;
  plan = agent::plan_task(task, def, idle, 40);
  EXPECT_TRUE(plan.actions.empty());
  EXPECT_EQ(task.known, agent::TaskStatus::kStopped);
}

TEST(SandboxPlan, ASandboxThatExitedStopsTheTask) {
  auto def = definition(R"("pidMode":"task",)");
  auto task = agent::new_task("t1", "", "{}", def, 1);
  for (auto& c : task.containers) {
    c.known = agent::TaskStatus::kRunning;
    c.started_at_ms = 5;
  }
  task.sandbox->known = agent::TaskStatus::kStopped;
  task.sandbox->reason = "its process exited with 137";
  auto plan = agent::plan_task(task, def, {false, false}, 10);
  EXPECT_EQ(task.desired, agent::TaskStatus::kStopped);
  EXPECT_EQ(task.stop_code, "EssentialContainerExited");
  EXPECT_NE(task.stopped_reason.find("sandbox"), std::string::npos);
  EXPECT_TRUE(has(plan, agent::Action::Kind::kSignal));
}

TEST(SandboxPlan, ANeverMadeSandboxNeedsNoRemoval) {
  auto def = definition(R"("pidMode":"task",)");
  auto task = agent::new_task("t1", "", "{}", def, 1);
  agent::request_stop(task, "UserInitiated", "stop");
  auto plan = agent::plan_task(task, def, {false, false}, 10);
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(plan.actions[0].kind, agent::Action::Kind::kRemoveCgroup);
  EXPECT_TRUE(task.sandbox->removed);
  task.cgroup_removed = true;
  plan = agent::plan_task(task, def, {false, false}, 10);
  EXPECT_TRUE(plan.actions.empty());
  EXPECT_EQ(task.known, agent::TaskStatus::kStopped);
}

TEST(SandboxPlan, TheSandboxSurvivesACheckpoint) {
  auto def = definition(R"("pidMode":"task",)");
  auto task = agent::new_task("t1", "", "{}", def, 1);
  task.sandbox->known = agent::TaskStatus::kRunning;
  task.sandbox->pid = 1234;
  task.sandbox->creating = true;
  auto back = agent::task_from_json(agent::to_json(task));
  ASSERT_TRUE(back);
  ASSERT_TRUE(back->sandbox);
  EXPECT_EQ(back->sandbox->containerd_id, "t1.sandbox");
  EXPECT_EQ(back->sandbox->known, agent::TaskStatus::kRunning);
  EXPECT_EQ(back->sandbox->pid, 1234u);
  EXPECT_TRUE(back->sandbox->creating);
  auto plain =
      agent::task_from_json(agent::to_json(agent::new_task("t2", "", "{}", definition(""), 1)));
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->sandbox);
}

}  // namespace
}  // namespace berth
