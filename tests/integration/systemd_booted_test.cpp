// berthd as the service its .deb installs, under a real systemd booted as
// PID 1 of a container (fixtures/booted_systemd.h): readiness, the status
// line, the watchdog's restart of a hung berthd, stops and restarts that
// leave tasks running, and a node shutdown that stops every task before
// logind lets it go on.
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cgroups/layout.h"
#include "cgroups/manager.h"
#include "fixtures/booted_systemd.h"
#include "fixtures/integration_test.h"
#include "fixtures/task_fixture.h"
#include "systemd/cgroup_driver.h"
#include "systemd/units.h"

namespace berth::testing {
namespace {

using json = nlohmann::json;

class BootedSystemdTest : public IntegrationTest {
 protected:
  static constexpr const char* kName = "berth-booted";

  void SetUp() override {
    IntegrationTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    std::string why;
    root_ = env().ensure_systemd_root(&why);
    ASSERT_FALSE(root_.empty()) << why;
    // A test that powered it off (or failed to) leaves it down: boot again.
    if (booted_ && !booted_->running()) booted_.reset();
    if (!booted_) {
      ASSERT_NO_FATAL_FAILURE(boot());
      // A short watchdog, for the test of a hung berthd.
      ASSERT_TRUE(booted_->write("/etc/systemd/system/berthd.service.d/test.conf",
                                 "[Service]\nWatchdogSec=3\nRestartSec=1\n"));
      ASSERT_EQ(booted_->run({"systemctl", "daemon-reload"}).exit_code, 0);
      auto enabled = booted_->run({"systemctl", "enable", "--now", "berthd"});
      ASSERT_EQ(enabled.exit_code, 0) << enabled.err << journal();
      auto imported = ctl({"image", "import", "/var/lib/berth-test/busybox-oci.tar"});
      ASSERT_EQ(imported.exit_code, 0) << imported.err;
    }
    auto started = booted_->run({"systemctl", "start", "berthd"});
    ASSERT_EQ(started.exit_code, 0) << started.err << journal();
  }

  static void TearDownTestSuite() { booted_.reset(); }

  // Boots the root; the container before it, if any, is gone first (its
  // cleanup removes cgroups by the same name).
  void boot() {
    booted_.reset();
    std::string why;
    booted_ = BootedSystemd::boot(root_, kName, env().dir() + "/" + kName + ".log", &why);
    ASSERT_TRUE(booted_) << why;
  }

  static CommandResult ctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"berthctl"};
    argv.insert(argv.end(), args.begin(), args.end());
    return booted_->run(argv);
  }
  static json describe(const std::string& task) {
    auto shown = ctl({"-o", "json", "describe", task});
    return shown.exit_code == 0 ? json::parse(shown.out) : json{{"error", shown.err}};
  }
  static json container(const json& task, const std::string& name) {
    return TaskTest::container(task, name);
  }
  static int64_t ms(const json& value) { return TaskTest::ms(value); }
  static std::string journal() {
    return "\n" + booted_->run({"journalctl", "--no-pager", "-u", "berthd"}).out;
  }
  // A running one-container task whose main process waits (and ends at
  // SIGTERM); its pid.
  static int64_t run_sleeper(const std::string& name) {
    auto ran = ctl({"run", "-d", "--name", name, "berth.test/busybox:latest", "--", "sh", "-c",
                    "trap 'exit 0' TERM; sleep 3600 & wait"});
    EXPECT_EQ(ran.exit_code, 0) << ran.err << journal();
    json task;
    EXPECT_TRUE(await(
        [&] {
          task = describe(name);
          return task.value("status", "") == "RUNNING";
        },
        std::chrono::seconds(30)))
        << task.dump(2);
    return container(task, name).value("pid", 0);
  }
  // Whether a process of the container's PID namespace lives.
  static bool alive(int64_t pid) {
    return booted_->sh("kill -0 " + std::to_string(pid)).exit_code == 0;
  }
  // Waits until `done()` holds, reading systemd's state again every 100 ms.
  static bool await(const std::function<bool()>& done, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return true;
  }

  std::string root_;
  static std::unique_ptr<BootedSystemd> booted_;
};

std::unique_ptr<BootedSystemd> BootedSystemdTest::booted_;

// Type=notify: `systemctl start` returns once berthd said READY=1, which it
// says only after its API socket answers; the status line is berthd's.
TEST_F(BootedSystemdTest, StartReturnsOnceTheApiAnswersAndShowsTheStatus) {
  ASSERT_EQ(booted_->run({"systemctl", "stop", "berthd"}).exit_code, 0);
  ASSERT_EQ(booted_->run({"systemctl", "start", "berthd"}).exit_code, 0) << journal();
  // At once, no retry: the socket answers.
  auto version = ctl({"version"});
  EXPECT_EQ(version.exit_code, 0) << version.err << journal();
  EXPECT_EQ(booted_->property("berthd", "ActiveState"), "active");
  EXPECT_EQ(booted_->property("berthd", "Type"), "notify");
  EXPECT_NE(booted_->property("berthd", "StatusText").find("task(s) running; containerd reachable"),
            std::string::npos)
      << booted_->property("berthd", "StatusText");
  auto status = booted_->run({"systemctl", "status", "--no-pager", "berthd"});
  EXPECT_NE(status.out.find("Status: \""), std::string::npos) << status.out;
  // berthd's own line comes before systemd's "Started".
  std::string log = journal();
  size_t listening = log.rfind("listening on '/run/berth/berth.sock'");
  size_t started = log.rfind("Started berthd.service");
  ASSERT_NE(listening, std::string::npos) << log;
  ASSERT_NE(started, std::string::npos) << log;
  EXPECT_LT(listening, started) << log;

  // The package's logind setting, and berthd's delay lock for shutdowns.
  auto delay =
      booted_->run({"busctl", "get-property", "org.freedesktop.login1", "/org/freedesktop/login1",
                    "org.freedesktop.login1.Manager", "InhibitDelayMaxUSec"});
  EXPECT_EQ(delay.out, "t 45000000\n") << delay.err;
  auto locks = booted_->run({"systemd-inhibit", "--list", "--no-pager"});
  EXPECT_NE(locks.out.find("berthd"), std::string::npos) << locks.out;
  EXPECT_NE(locks.out.find("delay"), std::string::npos) << locks.out;
}

// A berthd that stops answering misses its keep-alives: systemd kills it
// and starts another, which adopts the running task (same pid).
TEST_F(BootedSystemdTest, WatchdogRestartsAHungBerthdWhichAdoptsTheTasks) {
  int64_t pid = run_sleeper("watched");
  ASSERT_GT(pid, 0);
  std::string restarts = booted_->property("berthd", "NRestarts");
  std::string main_pid = booted_->property("berthd", "MainPID");
  auto stopped_at = std::chrono::steady_clock::now();
  ASSERT_EQ(booted_->sh("kill -STOP " + main_pid).exit_code, 0);
  // WatchdogSec=3, RestartSec=1: a new berthd within a few seconds more.
  ASSERT_TRUE(await(
      [&] {
        std::string now = booted_->property("berthd", "MainPID");
        return now != main_pid && now != "0" &&
               booted_->property("berthd", "ActiveState") == "active";
      },
      std::chrono::seconds(15)))
      << journal();
  auto took = std::chrono::steady_clock::now() - stopped_at;
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_EQ(booted_->property("berthd", "NRestarts"), std::to_string(std::stoi(restarts) + 1));
  EXPECT_NE(journal().find("Watchdog timeout"), std::string::npos) << journal();
  auto task = describe("watched");
  EXPECT_EQ(task.value("status", ""), "RUNNING") << task.dump(2);
  EXPECT_EQ(container(task, "watched").value("pid", 0), pid) << task.dump(2);
  EXPECT_TRUE(alive(pid));
  EXPECT_EQ(ctl({"stop", "watched"}).exit_code, 0);
}

// KillMode=process: a stop or restart of berthd ends berthd only.
TEST_F(BootedSystemdTest, StopAndRestartOfBerthdLeaveTasksRunning) {
  int64_t pid = run_sleeper("kept");
  ASSERT_GT(pid, 0);
  ASSERT_EQ(booted_->run({"systemctl", "restart", "berthd"}).exit_code, 0) << journal();
  auto task = describe("kept");
  EXPECT_EQ(task.value("status", ""), "RUNNING") << task.dump(2);
  EXPECT_EQ(container(task, "kept").value("pid", 0), pid) << task.dump(2);

  ASSERT_EQ(booted_->run({"systemctl", "stop", "berthd"}).exit_code, 0) << journal();
  EXPECT_EQ(booted_->property("berthd", "ActiveState"), "inactive");
  EXPECT_TRUE(alive(pid)) << "the task died with berthd";
  ASSERT_EQ(booted_->run({"systemctl", "start", "berthd"}).exit_code, 0) << journal();
  task = describe("kept");
  EXPECT_EQ(task.value("status", ""), "RUNNING") << task.dump(2);
  EXPECT_EQ(container(task, "kept").value("pid", 0), pid) << task.dump(2);
  EXPECT_EQ(ctl({"stop", "kept"}).exit_code, 0);
}

// The systemd cgroup driver's sd-bus calls, against the container's own
// manager (its bus socket, through /proc/<its PID 1>/root): a transient
// slice with limits that the kernel enforces, listed, then stopped.
TEST_F(BootedSystemdTest, TransientSliceCarriesItsLimitsIntoTheCgroupAndGoesAtStop) {
  std::string bus =
      "unix:path=/proc/" + std::to_string(booted_->init_pid()) + "/root/run/dbus/system_bus_socket";
  auto units = systemd::Units::connect(bus);
  ASSERT_TRUE(units) << units.error().message();
  std::string slice = "berth-0123456789ab.slice";
  auto started = (*units)->start_transient(slice,
                                           {{"Description", std::string("berth test slice")},
                                            {"MemoryLimit", uint64_t{64} << 20},
                                            {"CPUQuotaPerSecUSec", uint64_t{250000}},
                                            {"TasksMax", uint64_t{40}}},
                                           std::chrono::seconds(10));
  ASSERT_TRUE(started) << started.error().message();
  EXPECT_EQ((*units)->property(slice, "org.freedesktop.systemd1.Slice", "MemoryLimit").value_or(""),
            std::to_string(uint64_t{64} << 20));
  EXPECT_EQ((*units)->property(slice, "org.freedesktop.systemd1.Unit", "ActiveState").value_or(""),
            "active");
  EXPECT_EQ(booted_->property(slice, "CPUQuotaPerSecUSec"), "250ms");
  // What the kernel holds (the container's cgroups, under its subtree).
  std::string dir = "/berth-nspawn-" + std::string(kName) + "/berth.slice/" + slice;
  EXPECT_EQ(read_file("/sys/fs/cgroup/memory" + dir + "/memory.limit_in_bytes"), "67108864\n");
  EXPECT_EQ(read_file("/sys/fs/cgroup/cpu" + dir + "/cpu.cfs_quota_us"), "25000\n");
  EXPECT_EQ(read_file("/sys/fs/cgroup/pids" + dir + "/pids.max"), "40\n");
  auto listed = (*units)->list("berth-*.slice");
  ASSERT_TRUE(listed) << listed.error().message();
  EXPECT_EQ(*listed, std::vector<std::string>{slice});

  auto again = (*units)->start_transient(slice, {}, std::chrono::seconds(10));
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find(slice), std::string::npos) << again.error().message();

  ASSERT_TRUE((*units)->stop(slice, std::chrono::seconds(10)));
  EXPECT_FALSE(std::filesystem::exists("/sys/fs/cgroup/memory" + dir));
  EXPECT_TRUE((*units)->list("berth-*.slice").value_or(std::vector<std::string>{"?"}).empty());
  EXPECT_TRUE((*units)->stop(slice, std::chrono::seconds(10))) << "a second stop is no error";
}

// The driver over that client: a task's slice with the task's limits,
// listed as the task, its counters read, and gone at removal.
TEST_F(BootedSystemdTest, TheSystemdDriverMakesListsReadsAndRemovesATaskSlice) {
  std::string bus =
      "unix:path=/proc/" + std::to_string(booted_->init_pid()) + "/root/run/dbus/system_bus_socket";
  auto units = systemd::Units::connect(bus);
  ASSERT_TRUE(units) << units.error().message();
  auto layout = cgroups::detect_host_layout();
  ASSERT_TRUE(layout) << layout.error().message();
  // The container's cgroups, as this host sees them.
  auto cgroupfs =
      cgroups::make_manager(*layout, "berth-nspawn-" + std::string(kName) + "/berth.slice");
  ASSERT_TRUE(cgroupfs) << cgroupfs.error().message();
  systemd::SystemdCgroupManager driver(std::move(*cgroupfs), **units, false);
  std::string task = "aaaabbbbcccc";
  ASSERT_TRUE(driver.create_task(task, {256, uint64_t{64} << 20, 40}));
  ASSERT_TRUE(driver.create_task(task, {256, uint64_t{64} << 20, 40})) << "an existing slice";
  EXPECT_EQ(booted_->property("berth-aaaabbbbcccc.slice", "MemoryLimit"), "67108864");
  EXPECT_EQ(booted_->property("berth-aaaabbbbcccc.slice", "CPUQuotaPerSecUSec"), "250ms");
  auto stats = driver.stats(task);
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->memory_limit_bytes, uint64_t{64} << 20);
  EXPECT_EQ(stats->cpu_quota_us, 25000);
  EXPECT_EQ(stats->pids_limit, 40u);
  EXPECT_EQ(driver.list_tasks().value_or(std::vector<std::string>{}),
            std::vector<std::string>{task});
  EXPECT_EQ(driver.container_cgroups_path(task, "web"),
            "berth-aaaabbbbcccc.slice:berth:aaaabbbbcccc-web");
  auto dashed = driver.create_task("with-dash", {});
  ASSERT_FALSE(dashed);
  EXPECT_NE(dashed.error().message().find("has a '-'"), std::string::npos);

  ASSERT_TRUE(driver.remove_task(task));
  EXPECT_TRUE(driver.list_tasks().value_or(std::vector<std::string>{"?"}).empty());
  EXPECT_EQ(booted_->property("berth-aaaabbbbcccc.slice", "ActiveState"), "inactive");
  EXPECT_TRUE(driver.remove_task(task)) << "removing it again";
}

// logDriver journald: every line goes to the journal with the container's
// fields (stdout at priority 6, stderr at 3), and `berthctl logs` reads
// them back from there.
TEST_F(BootedSystemdTest, JournaldDriverSendsEachLineWithTheContainersFields) {
  json definition = {
      {"family", "journaled"},
      {"containerDefinitions",
       {{{"name", "app"},
         {"image", "berth.test/busybox:latest"},
         {"memory", 32},
         {"logConfiguration", {{"logDriver", "journald"}, {"options", {{"tag", "app-tag"}}}}},
         {"command", {"sh", "-c", "echo to stdout; echo to stderr >&2"}}}}}};
  ASSERT_TRUE(booted_->write("/var/lib/berth-test/journaled.json", definition.dump()));
  auto ran = ctl({"run", "-f", "/var/lib/berth-test/journaled.json"});
  ASSERT_EQ(ran.exit_code, 0) << ran.err << journal();
  std::string id = ran.out.substr(0, ran.out.find('\n'));
  std::vector<json> entries;
  ASSERT_TRUE(await(
      [&] {
        auto shown = booted_->run({"journalctl", "--no-pager", "-o", "json", "CONTAINER_NAME=app",
                                   "BERTH_TASK_ID=" + id});
        entries.clear();
        std::istringstream lines(shown.out);
        for (std::string line; std::getline(lines, line);) {
          if (!line.empty()) entries.push_back(json::parse(line));
        }
        return entries.size() >= 2;
      },
      std::chrono::seconds(30)))
      << journal();
  ASSERT_EQ(entries.size(), 2u);
  std::map<std::string, json> by_message;
  for (const auto& e : entries) by_message[e.value("MESSAGE", "")] = e;
  ASSERT_TRUE(by_message.contains("to stdout")) << entries[0].dump(2);
  ASSERT_TRUE(by_message.contains("to stderr")) << entries[1].dump(2);
  EXPECT_EQ(by_message["to stdout"]["PRIORITY"], "6");
  EXPECT_EQ(by_message["to stderr"]["PRIORITY"], "3");
  const json& e = by_message["to stdout"];
  EXPECT_EQ(e["CONTAINER_ID"], id + "-app");
  EXPECT_EQ(e["CONTAINER_TAG"], "app-tag");
  EXPECT_EQ(e["SYSLOG_IDENTIFIER"], "app-tag");
  EXPECT_EQ(e["BERTH_TASK_FAMILY"], "journaled");

  // The local file (dual logging) gone, `berthctl logs` still has both
  // lines: it read them from the journal.
  ASSERT_TRUE(std::filesystem::remove(root_ + "/var/lib/berth/logs/" + id + "-app.log"));
  auto logs = ctl({"logs", id});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_NE(logs.out.find("to stdout"), std::string::npos) << logs.out << logs.err;
  EXPECT_NE((logs.out + logs.err).find("to stderr"), std::string::npos) << logs.out << logs.err;
}

// `systemctl poweroff`: logind announces the shutdown and waits for
// berthd's delay lock; berthd stops the task, its non-essential container
// first, each with its stop signal, and lets the lock go. After the next
// boot the task shows both containers' own exit codes (their TERM traps),
// not a kill at the end of the shutdown. Powers the container off: last.
TEST_F(BootedSystemdTest, PoweroffStopsEveryTaskBeforeTheNodeGoes) {
  json definition = {{"family", "graceful"},
                     {"containerDefinitions",
                      {{{"name", "main"},
                        {"image", "berth.test/busybox:latest"},
                        {"essential", true},
                        {"memory", 32},
                        {"command",
                         {"sh", "-c",
                          "trap 'echo main got TERM; exit 42' TERM; echo main up; "
                          "while true; do sleep 0.1; done"}}},
                       {{"name", "side"},
                        {"image", "berth.test/busybox:latest"},
                        {"essential", false},
                        {"memory", 32},
                        {"command",
                         {"sh", "-c",
                          "trap 'echo side got TERM; sleep 2; exit 43' TERM; echo side up; "
                          "while true; do sleep 0.1; done"}}}}}};
  ASSERT_TRUE(booted_->write("/var/lib/berth-test/graceful.json", definition.dump()));
  auto ran = ctl({"run", "-f", "/var/lib/berth-test/graceful.json", "--name", "graceful"});
  ASSERT_EQ(ran.exit_code, 0) << ran.err << journal();
  std::string id = ran.out.substr(0, ran.out.find('\n'));
  // Both traps are set once both lines are out.
  ASSERT_TRUE(await(
      [&] {
        auto logs = ctl({"logs", id});
        return logs.out.find("main up") != std::string::npos &&
               logs.out.find("side up") != std::string::npos;
      },
      std::chrono::seconds(30)))
      << ctl({"logs", id}).out << journal();

  ASSERT_TRUE(booted_->poweroff(std::chrono::seconds(90))) << "the container did not power off";
  ASSERT_NO_FATAL_FAILURE(boot());
  // berthd is enabled: it came up with the boot.
  ASSERT_EQ(booted_->property("berthd", "ActiveState"), "active") << journal();
  auto task = describe(id);
  EXPECT_EQ(task.value("status", ""), "STOPPED") << task.dump(2);
  EXPECT_EQ(task.value("stopCode", ""), "TerminationNotice") << task.dump(2);
  json main = container(task, "main");
  json side = container(task, "side");
  EXPECT_EQ(main.value("exitCode", -1), 42) << task.dump(2);
  EXPECT_EQ(side.value("exitCode", -1), 43) << task.dump(2);
  // The essential container was signalled only once the other had ended
  // (which took it 2 s after its TERM).
  EXPECT_GE(ms(main["stoppedAtMs"]), ms(side["stoppedAtMs"])) << task.dump(2);
  auto logs = ctl({"logs", id});
  EXPECT_NE(logs.out.find("main got TERM"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("side got TERM"), std::string::npos) << logs.out;
}

}  // namespace
}  // namespace berth::testing
