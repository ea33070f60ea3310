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

#include "fixtures/booted_systemd_test.h"

namespace berth::testing {
namespace {

using json = nlohmann::json;

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
