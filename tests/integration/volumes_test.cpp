// Task volumes as the ECS agent gives them on Docker: the local driver's
// driverOpts mounted for the task (tmpfs with options, a bind of a node
// directory, another file system type), anonymous volumes shared through
// mountPoints and volumesFrom (also from a container that never starts),
// all unmounted and removed with the task without touching a bound node
// directory's files.
#include <stdlib.h>
#include <sys/mount.h>

#include <filesystem>
#include <fstream>

#include "fixtures/task_fixture.h"

namespace berth::testing {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

class VolumesTest : public TaskTest {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/berth-node-dir-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    host_dir_ = dir;
    std::ofstream(host_dir_ + "/kept") << "node file\n";
    TaskTest::SetUp();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(host_dir_, ec);
  }
  std::vector<std::string> berthd_flags() const override {
    return {"--allowed-host-path", host_dir_};
  }

  static json local(const json& options) {
    return {{"scope", "task"}, {"driver", "local"}, {"driverOpts", options}};
  }

  // Removes the task and checks that its volumes went with it.
  void remove_and_check(const std::string& id) {
    ASSERT_EQ(berthd_->ctl({"rm", id}).exit_code, 0);
    EXPECT_FALSE(fs::exists(berthd_->root() + "/volumes/" + id));
    EXPECT_EQ(berthd_->leftovers(), "");
  }

  std::string host_dir_;
};

TEST_F(VolumesTest, DriverOptsMountAsDockersLocalDriverAndGoWithTheTask) {
  json scratch = {{"name", "scratch"},
                  {"dockerVolumeConfiguration",
                   local({{"type", "tmpfs"}, {"device", "tmpfs"}, {"o", "size=64m,uid=1000"}})}};
  scratch["dockerVolumeConfiguration"]["labels"] = {{"team", "db"}};
  json node = {{"name", "node"},
               {"dockerVolumeConfiguration",
                local({{"type", "none"}, {"o", "bind"}, {"device", host_dir_}})}};
  json ram = {{"name", "ram"},
              {"dockerVolumeConfiguration", local({{"type", "ramfs"}, {"device", "ramfs"}})}};
  json anonymous = {{"name", "anonymous"}};
  json empty_host = {{"name", "empty-host"}, {"host", json::object()}};

  // Its command does not exist: it is created, never started, and its
  // volumes are still there for volumesFrom (as on Docker).
  json never = busybox("never", {"/nonexistent"});
  never["essential"] = false;
  never["mountPoints"] = {{{"sourceVolume", "anonymous"}, {"containerPath", "/anonymous"}},
                          {{"sourceVolume", "empty-host"}, {"containerPath", "/empty"}}};
  json writer = busybox(
      "writer", {"sh", "-c",
                 "awk '$2 ~ /^\\/(scratch|ram)$/ {print $2, $3} $2 == \"/node\" {print $2}' "
                 "/proc/mounts | sort; "
                 "grep ' /scratch ' /proc/mounts | grep -o 'size=65536k,uid=1000'; "
                 "stat -c '%u' /scratch; echo written > /node/written; cat /node/kept; "
                 "echo shared > /anonymous/x; echo empty > /empty/y"});
  writer["essential"] = false;
  writer["mountPoints"] = {{{"sourceVolume", "scratch"}, {"containerPath", "/scratch"}},
                           {{"sourceVolume", "node"}, {"containerPath", "/node"}},
                           {{"sourceVolume", "ram"}, {"containerPath", "/ram"}}};
  writer["volumesFrom"] = {{{"sourceContainer", "never"}}};
  json reader = busybox("reader", {"sh", "-c", "cat /anonymous/x /empty/y"});
  reader["essential"] = false;
  reader["volumesFrom"] = {{{"sourceContainer", "never"}, {"readOnly", true}}};
  reader["dependsOn"] = {{{"containerName", "writer"}, {"condition", "SUCCESS"}}};
  json idle = busybox("idle", {"sleep", "100000"});

  std::string id = run({{"family", "volumes"},
                        {"networkMode", "none"},
                        {"volumes", {scratch, node, ram, anonymous, empty_host}},
                        {"containerDefinitions", {never, writer, reader, idle}}});
  json task = wait_for(id, [](const json& t) {
    return container(t, "reader").value("status", "") == "STOPPED" &&
           container(t, "never").value("status", "") == "STOPPED";
  });
  EXPECT_EQ(container(task, "writer")["exitCode"], 0) << task.dump(2);
  EXPECT_EQ(container(task, "reader")["exitCode"], 0) << task.dump(2);
  EXPECT_FALSE(container(task, "never").contains("exitCode")) << task.dump(2);
  EXPECT_EQ(berthd_->ctl({"logs", id, "writer"}).out,
            "/node\n/ram ramfs\n/scratch tmpfs\nsize=65536k,uid=1000\n1000\nnode file\n")
      << task.dump(2);
  EXPECT_EQ(berthd_->ctl({"logs", id, "reader"}).out, "shared\nempty\n");

  // The mounts are the node's while the task is there, and go with it.
  std::string volumes = berthd_->root() + "/volumes/" + id;
  EXPECT_NE(berthd_->leftovers().find("volume mount: " + volumes + "/scratch"), std::string::npos);
  ASSERT_EQ(berthd_->ctl({"stop", id}).exit_code, 0);
  remove_and_check(id);
  // A bind loses its mount, never its files.
  EXPECT_TRUE(fs::exists(host_dir_ + "/kept"));
  EXPECT_TRUE(fs::exists(host_dir_ + "/written"));
}

TEST_F(VolumesTest, AMountTheKernelRefusesStopsTheTaskNamingTheVolumeAndLeavesNothing) {
  json bad = {{"name", "bad"}, {"dockerVolumeConfiguration", local({{"type", "nosuchfs"}})}};
  json main = busybox("main", {"true"});
  main["mountPoints"] = {{{"sourceVolume", "bad"}, {"containerPath", "/bad"}}};
  std::string id = run({{"family", "bad-volume"},
                        {"networkMode", "none"},
                        {"volumes", {bad}},
                        {"containerDefinitions", {main}}});
  json task = wait_status(id, "STOPPED");
  EXPECT_EQ(task["stopCode"], "TaskFailedToStart") << task.dump(2);
  EXPECT_NE(task.value("stoppedReason", "")
                .find("volume 'bad': dockerVolumeConfiguration.driverOpts: mount type 'nosuchfs' "
                      "device '' o '': No such device"),
            std::string::npos)
      << task.dump(2);
  remove_and_check(id);
}

TEST_F(VolumesTest, ADeviceOutsideTheAllowedPathsOrAnotherDriverIsRefusedByName) {
  auto refused = [&](const json& volume, const std::string& message) {
    json main = busybox("main", {"true"});
    auto result =
        try_run({{"family", "refused"}, {"volumes", {volume}}, {"containerDefinitions", {main}}});
    EXPECT_EQ(result.exit_code, 125);
    EXPECT_NE(result.err.find(message), std::string::npos) << result.err;
  };
  refused(
      {{"name", "v"},
       {"dockerVolumeConfiguration", local({{"type", "none"}, {"o", "bind"}, {"device", "/etc"}})}},
      "volumes[0].dockerVolumeConfiguration.driverOpts.device: \"/etc\" is not at or below a "
      "host path this node allows");
  json plugin = {{"name", "v"}, {"dockerVolumeConfiguration", {{"driver", "rexray/ebs"}}}};
  refused(plugin,
          "volumes[0].dockerVolumeConfiguration.driver: not supported by berth: volume "
          "driver \"rexray/ebs\"");
  EXPECT_EQ(berthd_->ctl({"ps", "-a", "-q"}).out, "");
  EXPECT_EQ(berthd_->leftovers(), "");
}

TEST_F(VolumesTest, ASharedVolumeOutlivesItsTaskAndIsCheckedAgainstWhatMadeIt) {
  auto shared = [](const std::string& name, bool autoprovision, const json& options,
                   const json& labels) {
    json config = {{"scope", "shared"}, {"driver", "local"}, {"autoprovision", autoprovision}};
    if (!options.empty()) config["driverOpts"] = options;
    if (!labels.empty()) config["labels"] = labels;
    return json{{"name", name}, {"dockerVolumeConfiguration", config}};
  };
  auto task_with = [&](const std::string& family, const json& volume, const std::string& script) {
    json main = busybox("main", {"sh", "-c", script});
    main["mountPoints"] = {{{"sourceVolume", volume["name"]}, {"containerPath", "/data"}}};
    std::string id = run({{"family", family},
                          {"networkMode", "none"},
                          {"volumes", {volume}},
                          {"containerDefinitions", {main}}});
    return std::make_pair(id, wait_status(id, "STOPPED"));
  };
  const json labels = {{"team", "cache"}};
  const json tmpfs = {{"type", "tmpfs"}, {"o", "size=8m"}};

  // Made by the first task, kept after its removal, found by the next.
  auto [first, first_task] =
      task_with("first", shared("cache", true, json::object(), labels), "echo kept > /data/file");
  EXPECT_EQ(container(first_task, "main")["exitCode"], 0) << first_task.dump(2);
  remove_and_check(first);
  const std::string named = berthd_->root() + "/named-volumes/cache";
  auto record = json::parse(std::ifstream(named + "/volume.json"), nullptr, false);
  EXPECT_EQ(record.value("labels", json()), labels) << record.dump();
  auto [second, second_task] =
      task_with("second", shared("cache", false, json::object(), {}), "cat /data/file");
  EXPECT_EQ(container(second_task, "main")["exitCode"], 0) << second_task.dump(2);
  EXPECT_EQ(berthd_->ctl({"logs", second, "main"}).out, "kept\n");
  remove_and_check(second);

  // A shared tmpfs stays mounted between its tasks.
  auto [writer, writer_task] =
      task_with("tmpfs-writer", shared("ram", true, tmpfs, {}), "echo in-memory > /data/f");
  EXPECT_EQ(container(writer_task, "main")["exitCode"], 0) << writer_task.dump(2);
  remove_and_check(writer);
  auto [reader, reader_task] =
      task_with("tmpfs-reader", shared("ram", true, tmpfs, {}),
                "grep ' /data ' /proc/mounts | cut -d' ' -f3; cat /data/f");
  EXPECT_EQ(berthd_->ctl({"logs", reader, "main"}).out, "tmpfs\nin-memory\n");
  remove_and_check(reader);

  // Refused, naming the volume: one that does not exist without
  // autoprovision, and one made with other labels.
  auto [absent, absent_task] =
      task_with("absent", shared("absent", false, json::object(), {}), "true");
  EXPECT_NE(absent_task.value("stoppedReason", "")
                .find("shared volume 'absent': no shared volume of that name on this node, and "
                      "autoprovision is false"),
            std::string::npos)
      << absent_task.dump(2);
  remove_and_check(absent);
  auto [other, other_task] =
      task_with("other", shared("cache", true, json::object(), {{"team", "web"}}), "true");
  EXPECT_NE(other_task.value("stoppedReason", "")
                .find("shared volume 'cache': the shared volume on this node was made with other "
                      "labels ({\"team\":\"cache\"}, not {\"team\":\"web\"})"),
            std::string::npos)
      << other_task.dump(2);
  remove_and_check(other);
  EXPECT_FALSE(fs::exists(berthd_->root() + "/named-volumes/absent"));
  ::umount2((berthd_->root() + "/named-volumes/ram/_data").c_str(), MNT_DETACH);
}

}  // namespace
}  // namespace berth::testing
