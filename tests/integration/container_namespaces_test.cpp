// What a container of a task shares and sees: the task's PID and IPC
// namespaces (pidMode/ipcMode), the node's devices, its stdin and terminal.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "fixtures/task_fixture.h"
#include "runtime/containerd.h"
#include "runtime/exec_process.h"

namespace berth::testing {
namespace {

using nlohmann::json;

// systemControls as Docker's --sysctl: set in the container's own network
// and IPC namespaces, never the node's.
TEST_F(TaskTest, SystemControlsAreSetInTheContainersNamespacesOnly) {
  auto node_value = [](const std::string& file) {
    std::ifstream in("/proc/sys/" + file);
    std::string value;
    std::getline(in, value);
    return value;
  };
  const std::string node_ports = node_value("net/ipv4/ip_local_port_range");
  const std::string node_shmmax = node_value("kernel/shmmax");
  json main = busybox("main", {"sh", "-c",
                               "cat /proc/sys/net/ipv4/ip_local_port_range /proc/sys/kernel/shmmax "
                               "/proc/sys/fs/mqueue/msg_max"});
  main["systemControls"] = {
      {{"namespace", "net.ipv4.ip_local_port_range"}, {"value", "40000 40100"}},
      {{"namespace", "kernel.shmmax"}, {"value", "1048576"}},
      {{"namespace", "fs.mqueue.msg_max"}, {"value", "64"}}};
  std::string id =
      run({{"family", "sysctls"}, {"networkMode", "bridge"}, {"containerDefinitions", {main}}});
  json task = wait_status(id, "STOPPED");
  EXPECT_EQ(container(task, "main")["exitCode"], 0) << task.dump(2);
  EXPECT_EQ(berthd_->ctl({"logs", id, "main"}).out, "40000\t40100\n1048576\n64\n");
  EXPECT_EQ(node_value("net/ipv4/ip_local_port_range"), node_ports);
  EXPECT_EQ(node_value("kernel/shmmax"), node_shmmax);
  ASSERT_EQ(berthd_->ctl({"rm", id}).exit_code, 0);

  // What would change the node is refused by name, before anything is made.
  json host = busybox("main", {"true"});
  host["systemControls"] = {{{"namespace", "net.core.somaxconn"}, {"value", "1024"}}};
  json node = busybox("main", {"true"});
  node["systemControls"] = {{{"namespace", "kernel.pid_max"}, {"value", "4096"}}};
  for (const auto& [definition, error] : std::vector<std::pair<json, std::string>>{
           {{{"family", "host-sysctl"}, {"networkMode", "host"}, {"containerDefinitions", {host}}},
            "containerDefinitions[0].systemControls: \"net.core.somaxconn\" would change the "
            "node's network"},
           {{{"family", "node-sysctl"}, {"containerDefinitions", {node}}},
            "containerDefinitions[0].systemControls[0].namespace: \"kernel.pid_max\" is not "
            "namespaced"}}) {
    std::string path = berthd_->dir() + "/sysctl.json";
    std::ofstream(path) << definition.dump();
    auto refused = berthd_->ctl({"run", "-f", path});
    EXPECT_EQ(refused.exit_code, 125);
    EXPECT_NE(refused.err.find(error), std::string::npos) << refused.err;
  }
  EXPECT_EQ(berthd_->leftovers(), "");
}

TEST_F(TaskTest, PidModeTaskSharesOneProcessNamespaceAndStopsEachContainer) {
  json a = busybox("a", {"sleep", "314159"});
  a["stopTimeout"] = 30;
  json b = busybox(
      "b", {"sh", "-c",
            "for i in $(seq 100); do ps | grep -q '[s]leep 314159' && break; sleep 0.1; done; "
            "ps | grep -q '[s]leep 314159' && echo sees a; "
            "echo pid 1 is $(cat /proc/1/cmdline); exec sleep 271828"});
  b["stopTimeout"] = 30;
  b["dependsOn"] = {{{"containerName", "a"}, {"condition", "START"}}};
  std::string id =
      run({{"family", "pidtask"}, {"pidMode", "task"}, {"containerDefinitions", {a, b}}});
  json task = wait_status(id, "RUNNING");
  std::string log = wait_log(*berthd_, id, "b", "pid 1 is");
  EXPECT_EQ(log, "sees a\npid 1 is /berth-pause\n");
  EXPECT_GT(containerd_pid(*berthd_, id + ".sandbox"), 0);

  // Neither sleep is pid 1 of its namespace: SIGTERM ends each at once,
  // long before the 30 s stopTimeout would send SIGKILL.
  auto before = std::chrono::steady_clock::now();
  auto stopped = berthd_->ctl({"-o", "json", "stop", id});
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(15));
  task = json::parse(stopped.out);
  EXPECT_EQ(task["status"], "STOPPED");
  EXPECT_EQ(container(task, "a")["exitCode"], 143) << task.dump(2);
  EXPECT_EQ(container(task, "b")["exitCode"], 143) << task.dump(2);
  EXPECT_EQ(berthd_->leftovers(), "");
  EXPECT_FALSE(std::filesystem::exists(berthd_->root() + "/../state/sandboxes/" + id + ".sandbox"));
}

TEST_F(TaskTest, IpcModeTaskSharesTheIpcNamespaceAndDevShm) {
  json a = busybox("a", {"sh", "-c",
                         "readlink /proc/self/ns/ipc; echo from a > /dev/shm/note; "
                         "exec sleep 100000"});
  json b = busybox("b", {"sh", "-c",
                         "for i in $(seq 100); do [ -f /dev/shm/note ] && break; sleep 0.1; done; "
                         "readlink /proc/self/ns/ipc; cat /dev/shm/note; exec sleep 100000"});
  b["dependsOn"] = {{{"containerName", "a"}, {"condition", "START"}}};
  std::string id =
      run({{"family", "ipctask"}, {"ipcMode", "task"}, {"containerDefinitions", {a, b}}});
  wait_status(id, "RUNNING");
  std::string log_a = wait_log(*berthd_, id, "a", "ipc:");
  std::string log_b = wait_log(*berthd_, id, "b", "from a");
  ASSERT_TRUE(log_a.starts_with("ipc:[")) << log_a;
  EXPECT_EQ(log_b, log_a + "from a\n");
  char host_ns[64] = {};
  ASSERT_GT(::readlink("/proc/self/ns/ipc", host_ns, sizeof host_ns - 1), 0);
  EXPECT_NE(log_a, std::string(host_ns) + "\n") << "not the host's IPC namespace";

  ASSERT_EQ(berthd_->ctl({"stop", id}).exit_code, 0);
  EXPECT_EQ(berthd_->leftovers(), "");
  EXPECT_FALSE(std::filesystem::exists(berthd_->root() + "/../state/sandboxes/" + id + ".sandbox"));
}

TEST_F(TaskTest, IpcModeNoneHasItsOwnNamespaceAndNoDevShm) {
  json main = busybox("main", {"sh", "-c",
                               "echo shm mounts: $(grep -c ' /dev/shm ' /proc/mounts); "
                               "readlink /proc/self/ns/ipc"});
  std::string id =
      run({{"family", "ipcnone"}, {"ipcMode", "none"}, {"containerDefinitions", {main}}});
  json task = wait_status(id, "STOPPED");
  EXPECT_EQ(container(task, "main")["exitCode"], 0) << task.dump(2);
  std::string log = berthd_->ctl({"logs", id, "main"}).out;
  EXPECT_TRUE(log.starts_with("shm mounts: 0\nipc:[")) << log;
  char host_ns[64] = {};
  ASSERT_GT(::readlink("/proc/self/ns/ipc", host_ns, sizeof host_ns - 1), 0);
  EXPECT_EQ(log.find(host_ns), std::string::npos) << log;
  EXPECT_EQ(containerd_pid(*berthd_, id + ".sandbox"), 0) << "none needs no sandbox";
  EXPECT_EQ(berthd_->leftovers(), "");
}

TEST_F(TaskTest, ASandboxThatDiesStopsItsTask) {
  // With only the IPC namespace shared, the containers outlive the sandbox.
  std::string id = run({{"family", "sandboxdies"},
                        {"ipcMode", "task"},
                        {"containerDefinitions", {busybox("main", {"sleep", "100000"})}}});
  wait_status(id, "RUNNING");
  int64_t sandbox = containerd_pid(*berthd_, id + ".sandbox");
  ASSERT_GT(sandbox, 0);
  ASSERT_EQ(::kill(static_cast<pid_t>(sandbox), SIGKILL), 0);
  json task = wait_status(id, "STOPPED");
  EXPECT_EQ(task["stopCode"], "EssentialContainerExited");
  EXPECT_NE(task["stoppedReason"].get<std::string>().find("sandbox"), std::string::npos)
      << task.dump(2);
  EXPECT_EQ(berthd_->leftovers(), "");
  EXPECT_FALSE(std::filesystem::exists(berthd_->root() + "/../state/sandboxes/" + id + ".sandbox"));
}

TEST_F(TaskTest, DeviceOfTheNodeIsReadableInTheContainer) {
  berthd_.reset();
  start_berthd({"--allowed-host-path", "/dev/zero"});
  json main = busybox("main", {"sh", "-c",
                               "head -c 4 /dev/berthzero | od -An -tx1; "
                               "ls -l /dev/berthzero | cut -c1"});
  main["linuxParameters"] = {
      {"devices", {{{"hostPath", "/dev/zero"}, {"containerPath", "/dev/berthzero"}}}}};
  std::string id = run({{"family", "device"}, {"containerDefinitions", {main}}});
  json task = wait_status(id, "STOPPED");
  EXPECT_EQ(container(task, "main")["exitCode"], 0) << task.dump(2);
  EXPECT_EQ(berthd_->ctl({"logs", id, "main"}).out, " 00 00 00 00\nc\n");
}

// A character device major that no driver of this host claims (so not one of
// the devices runc always allows either): opening a node of it fails with
// ENXIO once the device cgroup lets the access through, with EPERM when the
// cgroup refuses it, and touches nothing either way. -1 if there is none.
int unclaimed_char_major() {
  std::ifstream in("/proc/devices");
  std::set<int> claimed;
  bool in_chars = false;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("Character")) {
      in_chars = true;
    } else if (line.starts_with("Block")) {
      break;
    } else if (int major = 0; in_chars && (std::istringstream(line) >> major)) {
      claimed.insert(major);
    }
  }
  // 240-254: "local/experimental use" (Documentation/admin-guide/devices.txt).
  for (int major = 240; major <= 254; ++major) {
    if (!claimed.contains(major)) return major;
  }
  return -1;
}

TEST_F(TaskTest, DevicePermissionsAreEnforcedAndAHostPathMustBeADevice) {
  int major = unclaimed_char_major();
  if (major < 0) GTEST_SKIP() << "every character major from 240 to 254 is in use";
  std::string dir = env().dir() + "/devices-" + berthd_->ns();
  std::filesystem::create_directories(dir);
  std::string node = dir + "/node";
  ASSERT_EQ(::mknod(node.c_str(), S_IFCHR | 0666, makedev(major, 0)), 0) << strerror(errno);
  std::ofstream(dir + "/plain") << "not a device\n";
  berthd_.reset();
  start_berthd({"--allowed-host-path", dir});

  auto probe = [&](const std::string& name, const std::optional<json>& permissions) {
    json c = busybox(name, {"sh", "-c", "cat /dev/probe; echo x > /dev/probe; true"});
    json device = {{"hostPath", node}, {"containerPath", "/dev/probe"}};
    if (permissions) device["permissions"] = *permissions;
    c["linuxParameters"] = {{"devices", {device}}};
    return c;
  };
  json read_only = probe("ro", json{"read"});
  read_only["essential"] = false;
  json write_only = probe("wo", json{"write"});
  write_only["essential"] = false;
  json all = probe("all", std::nullopt);
  all["dependsOn"] = {{{"containerName", "ro"}, {"condition", "COMPLETE"}},
                      {{"containerName", "wo"}, {"condition", "COMPLETE"}}};
  std::string id = run(
      {{"family", "device-permissions"}, {"containerDefinitions", {read_only, write_only, all}}});
  wait_status(id, "STOPPED");
  // The messages are the containers' stderr, which berthctl logs writes to its own.
  const std::string allowed_read = "cat: can't open '/dev/probe': No such device or address\n";
  const std::string refused_read = "cat: can't open '/dev/probe': Operation not permitted\n";
  const std::string allowed_write = "sh: can't create /dev/probe: No such device or address\n";
  const std::string refused_write = "sh: can't create /dev/probe: Operation not permitted\n";
  EXPECT_EQ(berthd_->ctl({"logs", id, "ro"}).err, allowed_read + refused_write);
  EXPECT_EQ(berthd_->ctl({"logs", id, "wo"}).err, refused_read + allowed_write);
  EXPECT_EQ(berthd_->ctl({"logs", id, "all"}).err, allowed_read + allowed_write);

  json plain = busybox("main", {"true"});
  plain["linuxParameters"] = {{"devices", {{{"hostPath", dir + "/plain"}}}}};
  id = run({{"family", "device-plain"}, {"containerDefinitions", {plain}}});
  json task = wait_status(id, "STOPPED");
  EXPECT_EQ(task["stopCode"], "TaskFailedToStart");
  EXPECT_NE(
      task["stoppedReason"].get<std::string>().find("linuxParameters.devices: hostPath '" + dir +
                                                    "/plain' is not a character or block device"),
      std::string::npos)
      << task.dump(2);
  EXPECT_EQ(berthd_->leftovers(), "");
}

// Writes `text` to a FIFO that has a reader.
void write_fifo(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(fd, 0) << path << ": " << strerror(errno);
  EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
}

TEST_F(TaskTest, InteractiveContainerKeepsReadingItsStdinWhileOthersSeeItsEnd) {
  json reader = {{"name", "reader"},
                 {"image", "busybox:latest"},
                 {"interactive", true},
                 {"command", {"cat"}},
                 {"stopTimeout", 2}};
  json plain = busybox("plain", {"cat"});
  plain["essential"] = false;
  std::string id = run({{"family", "interactive-cat"}, {"containerDefinitions", {reader, plain}}});
  json task = wait_for(id, [](const json& t) {
    return t.value("status", "") == "RUNNING" && container(t, "plain")["status"] == "STOPPED";
  });
  // Without interactive, stdin is empty: cat is done at once.
  EXPECT_EQ(container(task, "plain")["exitCode"], 0);
  const int64_t pid = container(task, "reader")["pid"].get<int64_t>();
  const std::string reader_id = container(task, "reader")["containerdId"];

  // The container is there to exec into: cat still waits on its stdin, a FIFO.
  auto fd0 = exec_in(reader_id, {"stat", "-L", "-c", "%F", "/proc/1/fd/0"});
  EXPECT_EQ(fd0.exit_code, 0) << fd0.output;
  EXPECT_EQ(fd0.output, "fifo\n");
  // What is written to the FIFO is what cat reads.
  write_fifo(berthd_->root() + "/../state/stdin/" + reader_id, "hello through stdin\n");
  EXPECT_TRUE(wait_for_file_content(log_file(task, "reader"), "hello through stdin",
                                    std::chrono::seconds(30)));
  task = describe(id);
  EXPECT_EQ(task["status"], "RUNNING");
  EXPECT_EQ(container(task, "reader")["status"], "RUNNING");
  EXPECT_EQ(container(task, "reader")["pid"].get<int64_t>(), pid);
  EXPECT_EQ(berthd_->ctl({"logs", id, "reader"}).out, "hello through stdin\n");

  ASSERT_EQ(berthd_->ctl({"stop", id}).exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(berthd_->root() + "/../state/stdin/" + reader_id))
      << "the stdin FIFO outlived its container";
}

TEST_F(TaskTest, InteractiveShellSurvivesABerthdCrashWithItsStdinOpen) {
  json shell = {{"name", "shell"},
                {"image", "busybox:latest"},
                {"interactive", true},
                {"command", {"sh"}},
                {"stopTimeout", 2}};
  std::string id = run({{"family", "interactive-sh"}, {"containerDefinitions", {shell}}});
  json task = wait_status(id, "RUNNING");
  const int64_t pid = container(task, "shell")["pid"].get<int64_t>();
  const std::string shell_id = container(task, "shell")["containerdId"];
  const std::string fifo = berthd_->root() + "/../state/stdin/" + shell_id;
  // Readiness: the shell runs commands from its stdin (and so had not seen
  // its end, which would have made it exit).
  write_fifo(fifo, "echo before the crash\n");
  ASSERT_TRUE(
      wait_for_file_content(log_file(task, "shell"), "before the crash", std::chrono::seconds(30)))
      << berthd_->log_text();

  berthd_->kill(SIGKILL);
  // Nothing of berthd's holds the FIFO: the shell still reads it.
  write_fifo(fifo, "echo while berthd is down\n");
  EXPECT_TRUE(wait_for_file_content(log_file(task, "shell"), "while berthd is down",
                                    std::chrono::seconds(30)));
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();

  task = describe(id);
  EXPECT_EQ(task["status"], "RUNNING");
  EXPECT_EQ(container(task, "shell")["pid"].get<int64_t>(), pid) << "the container was restarted";
  EXPECT_EQ(::kill(static_cast<pid_t>(pid), 0), 0) << "the container is gone";
  auto fd0 = exec_in(shell_id, {"stat", "-L", "-c", "%F", "/proc/1/fd/0"});
  EXPECT_EQ(fd0.output, "fifo\n");
  write_fifo(fifo, "echo after the restart\n");
  EXPECT_TRUE(wait_for_file_content(log_file(task, "shell"), "after the restart",
                                    std::chrono::seconds(30)));
  EXPECT_EQ(berthd_->ctl({"logs", id, "shell"}).out,
            "before the crash\nwhile berthd is down\nafter the restart\n");
  task = describe(id);
  EXPECT_EQ(container(task, "shell")["status"], "RUNNING");
  EXPECT_EQ(container(task, "shell")["pid"].get<int64_t>(), pid);
}

TEST_F(TaskTest, PseudoTerminalGivesTheContainerATerminalAlsoWhenInteractive) {
  json plain = busybox("plain", {"sh", "-c", "tty; echo done"});
  plain["pseudoTerminal"] = true;
  plain["essential"] = false;
  json shell = {{"name", "shell"},        {"image", "busybox:latest"}, {"interactive", true},
                {"pseudoTerminal", true}, {"command", {"sh"}},         {"stopTimeout", 2}};
  std::string id = run({{"family", "tty"}, {"containerDefinitions", {plain, shell}}});
  json task = wait_for(id, [](const json& t) {
    return t.value("status", "") == "RUNNING" && container(t, "plain")["status"] == "STOPPED";
  });
  EXPECT_EQ(container(task, "plain")["exitCode"], 0) << task.dump(2);
  // A terminal ends lines with CR LF.
  EXPECT_EQ(berthd_->ctl({"logs", id, "plain"}).out, "/dev/pts/0\r\ndone\r\n");

  // What is written to an interactive container's stdin goes through its
  // terminal, which echoes it.
  const std::string shell_id = container(task, "shell")["containerdId"];
  write_fifo(berthd_->root() + "/../state/stdin/" + shell_id, "tty; echo from-$((6*7))\n");
  EXPECT_TRUE(wait_for_file_content(log_file(task, "shell"), "from-42", std::chrono::seconds(30)));
  EXPECT_NE(berthd_->ctl({"logs", id, "shell"}).out.find("/dev/pts/0"), std::string::npos);
  EXPECT_EQ(describe(id)["status"], "RUNNING");
}

}  // namespace
}  // namespace berth::testing
