// `berthctl run IMAGE` in the foreground: a one-container task whose output
// the call streams. Output, exit codes, log files, image config overrides,
// cancellation, a containerd restart, and a berthd crash during a run.
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "fixtures/integration_test.h"

namespace berth::testing {
namespace {

class RunTest : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    berthd_ = std::make_unique<Berthd>(std::vector<std::string>{"--insecure-registry", registry()});
    ASSERT_TRUE(berthd_->ok()) << berthd_->log_text();
    auto pulled = berthd_->ctl({"image", "pull", image()});
    ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  }
  void TearDown() override {
    if (berthd_ && berthd_->ok()) {
      EXPECT_EQ(berthd_->leftovers(), "") << berthd_->log_text();
    }
    berthd_.reset();
  }
  // Every task berthd has, stopped ones too.
  nlohmann::json tasks() {
    auto ps = berthd_->ctl({"-o", "json", "ps", "-a"});
    EXPECT_EQ(ps.exit_code, 0) << ps.err;
    return ps.exit_code == 0 ? nlohmann::json::parse(ps.out).value("tasks", nlohmann::json::array())
                             : nlohmann::json::array();
  }
  // The task named `name`, once `done` holds for it (or for its absence:
  // null), re-checked on every engine event.
  nlohmann::json await_task(const std::string& name,
                            const std::function<bool(const nlohmann::json&)>& done) {
    auto events = LineReader::spawn(berthd_->ctl_argv({"-o", "json", "events"}));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    nlohmann::json task;
    while (true) {
      task = nullptr;
      for (const auto& t : tasks()) {
        if (t.value("name", "") == name) task = t;
      }
      if (done(task) || std::chrono::steady_clock::now() >= deadline) break;
      (void)events->next_line(std::chrono::seconds(1));
    }
    EXPECT_TRUE(done(task)) << task.dump(2) << berthd_->log_text();
    return task;
  }
  // The log file of the run named `name` (its task's only container).
  std::string log_of(const std::string& name) {
    for (const auto& entry : std::filesystem::directory_iterator(berthd_->root() + "/logs")) {
      if (entry.path().filename().string().ends_with("-" + name + ".log")) return entry.path();
    }
    return "";
  }
  std::unique_ptr<Berthd> berthd_;
};

// Every pid whose command line is exactly `argv`.
std::vector<pid_t> pids_running(const std::vector<std::string>& argv) {
  std::string wanted;
  for (const auto& a : argv) wanted += a + '\0';
  std::vector<pid_t> pids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), {});
    if (cmdline == wanted) pids.push_back(std::stoi(name));
  }
  return pids;
}

// The pids of `argv` once there is at least one. "echo started; exec
// sleep N" prints before its exec: the sleep may not be there yet, and
// /proc has no event to await, so poll it for a bounded time.
std::vector<pid_t> await_pids(const std::vector<std::string>& argv,
                              std::chrono::seconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pids = pids_running(argv);
  while (pids.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pids = pids_running(argv);
  }
  return pids;
}

TEST_F(RunTest, StreamsStdoutAndStderrAndReturnsTheExitCode) {
  auto run = berthd_->ctl({"run", "--rm", "--name", "streams", image(), "--", "sh", "-c",
                           "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_EQ(run.out, "out\n");
  EXPECT_EQ(run.err, "err\n");
  // --rm: the task goes with its record and its log once its output was read.
  await_task("streams", [](const nlohmann::json& t) { return t.is_null(); });
  EXPECT_EQ(log_of("streams"), "");

  // Without --rm the log file outlives the container and tags each line
  // with its stream.
  run = berthd_->ctl(
      {"run", "--name", "kept-log", image(), "--", "sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(run.exit_code, 3);
  std::string log = read_file(log_of("kept-log"));
  EXPECT_NE(log.find(R"({"log":"out\n","stream":"stdout")"), std::string::npos) << log;
  EXPECT_NE(log.find(R"({"log":"err\n","stream":"stderr")"), std::string::npos) << log;
  EXPECT_EQ(berthd_->ctl({"rm", "kept-log"}).exit_code, 0);
  EXPECT_EQ(log_of("kept-log"), "");
}

TEST_F(RunTest, AnInteractiveTerminalRunBehavesAsDockerRunIt) {
  auto result =
      run_command({"python3", std::string(BERTH_SOURCE_DIR) + "/tests/fixtures/run_tty.py",
                   BERTHCTL_PATH, berthd_->socket(), image(), "run-it"});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  auto seen = nlohmann::json::parse(result.out);
  EXPECT_TRUE(seen.value("prompt", false)) << "its output from the start: " << seen.dump();
  EXPECT_TRUE(seen.value("tty", "").starts_with("/dev/pts/")) << seen.dump();
  EXPECT_EQ(seen["exit_code"], 4) << seen.dump();
  EXPECT_TRUE(seen.value("termios_same", false)) << seen.dump();
  // --rm: the task goes once its client saw the end.
  await_task("run-it", [](const nlohmann::json& t) { return t.is_null(); });
}

TEST_F(RunTest, DetachingFromRunItLeavesItRunningAndRmRemovesItOnceStopped) {
  auto result =
      run_command({"python3", std::string(BERTH_SOURCE_DIR) + "/tests/fixtures/run_tty.py",
                   BERTHCTL_PATH, berthd_->socket(), image(), "run-detach", "detach"});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  auto seen = nlohmann::json::parse(result.out);
  EXPECT_TRUE(seen.value("prompt", false)) << seen.dump();
  EXPECT_EQ(seen["detach_code"], 0) << seen.dump();
  EXPECT_TRUE(seen.value("termios_same", false)) << seen.dump();
  auto task = await_task("run-detach", [](const nlohmann::json& t) {
    return !t.is_null() && t.value("status", "") == "RUNNING";
  });
  EXPECT_EQ(task.value("status", ""), "RUNNING");
  EXPECT_EQ(berthd_->ctl({"stop", "run-detach"}).exit_code, 0);
  // --rm: no client holds it any more, so it goes once stopped.
  await_task("run-detach", [](const nlohmann::json& t) { return t.is_null(); });
}

TEST_F(RunTest, AnInteractiveRunWithoutATerminalGetsStdinAndItsEnd) {
  auto piped = run_command({"sh", "-c",
                            "printf 'one\\ntwo\\n' | " + std::string(BERTHCTL_PATH) + " --socket " +
                                berthd_->socket() + " run -i --rm --name run-i " + image() +
                                " -- sh -c 'cat; printf end; exit 6'"});
  EXPECT_EQ(piped.exit_code, 6) << piped.err;
  EXPECT_EQ(piped.out, "one\ntwo\nend") << "to the last byte, newline or not";
  await_task("run-i", [](const nlohmann::json& t) { return t.is_null(); });
  // The definition a detached run -it makes: interactive, with a terminal.
  auto detached = berthd_->ctl(
      {"run", "-d", "-i", "-t", "--stop-timeout", "2", "--name", "run-dit", image(), "--", "sh"});
  ASSERT_EQ(detached.exit_code, 0) << detached.err;
  await_task("run-dit", [](const nlohmann::json& t) {
    return !t.is_null() && t.value("status", "") == "RUNNING";
  });
  EXPECT_EQ(berthd_->ctl({"stop", "run-dit"}).exit_code, 0);
  EXPECT_EQ(berthd_->ctl({"rm", "run-dit"}).exit_code, 0);
}

TEST_F(RunTest, ImageConfigAndOverrides) {
  // The image's Cmd is sh and its PATH comes from the image config.
  auto env = berthd_->ctl(
      {"run", "--rm", "-e", "GREETING=hi", image(), "--", "sh", "-c", "echo $GREETING $PATH"});
  EXPECT_EQ(env.exit_code, 0) << env.err;
  EXPECT_EQ(env.out, "hi /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");

  auto user = berthd_->ctl({"run", "--rm", "-u", "nobody", "-w", "/tmp", image(), "--", "sh", "-c",
                            "id -u; id -g; pwd"});
  EXPECT_EQ(user.exit_code, 0) << user.err;
  EXPECT_EQ(user.out, "65534\n65534\n/tmp\n");

  auto hostname = berthd_->ctl({"run", "--rm", "--name", "named-host", image(), "--", "hostname"});
  EXPECT_EQ(hostname.out, "named-host\n") << hostname.err;

  auto entrypoint = berthd_->ctl({"run", "--rm", "--entrypoint", "echo", image(), "--", "a", "b"});
  EXPECT_EQ(entrypoint.exit_code, 0) << entrypoint.err;
  EXPECT_EQ(entrypoint.out, "a b\n");

  // Hardened defaults: no CAP_SYS_ADMIN (bit 21), a read-only /proc/sys.
  auto caps = berthd_->ctl(
      {"run", "--rm", image(), "--", "sh", "-c",
       "grep CapEff /proc/self/status; touch /proc/sys/kernel/hostname 2>/dev/null || echo ro"});
  EXPECT_EQ(caps.out, "CapEff:\t00000000a80425fb\nro\n") << caps.err;

  auto unknown_user = berthd_->ctl({"run", "--rm", "-u", "nosuchuser", image(), "--", "true"});
  EXPECT_EQ(unknown_user.exit_code, 125);
  EXPECT_NE(unknown_user.err.find("nosuchuser"), std::string::npos) << unknown_user.err;
}

TEST_F(RunTest, AForegroundRunGetsTheNodesDefaultNetworkUnlessTold) {
  // The node's default (bridge here): an eth0 with an address of berthd's
  // own subnet, as a detached run gets.
  auto bridged = berthd_->ctl({"run", "--rm", image(), "--", "ip", "-4", "-o", "addr", "show"});
  EXPECT_EQ(bridged.exit_code, 0) << bridged.err;
  EXPECT_NE(bridged.out.find("eth0"), std::string::npos) << bridged.out;
  EXPECT_NE(bridged.out.find(berthd_->subnet_prefix()), std::string::npos) << bridged.out;
  auto node = berthd_->ctl({"node", "info"});
  EXPECT_NE(node.out.find("network:  bridge by default"), std::string::npos) << node.out;

  auto none = berthd_->ctl(
      {"run", "--rm", "--network", "none", image(), "--", "ip", "-4", "-o", "addr", "show"});
  EXPECT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out.find("eth0"), std::string::npos) << none.out;
  EXPECT_NE(none.out.find("127.0.0.1"), std::string::npos) << none.out;
}

TEST_F(RunTest, BadInputIsRefusedAndCreatesNothing) {
  auto missing =
      berthd_->ctl({"run", "--rm", registry() + "/test/never-pulled:latest", "--", "true"});
  EXPECT_EQ(missing.exit_code, 125);
  EXPECT_NE(missing.err.find("is not present"), std::string::npos) << missing.err;

  auto bad_name = berthd_->ctl({"run", "--rm", "--name", "bad/name", image(), "--", "true"});
  EXPECT_EQ(bad_name.exit_code, 125);
  EXPECT_NE(bad_name.err.find("'bad/name' is invalid"), std::string::npos) << bad_name.err;
  // Nothing of them is left: no task either.
  EXPECT_TRUE(tasks().empty()) << tasks().dump(2);

  auto no_binary = berthd_->ctl({"run", "--rm", image(), "--", "/no/such/binary"});
  EXPECT_EQ(no_binary.exit_code, 125);
  EXPECT_NE(no_binary.err.find("/no/such/binary"), std::string::npos) << no_binary.err;

  // `run` exits 125 whenever it cannot run the task (as `docker run`).
  const std::string refused = berthd_->dir() + "/refused.json";
  std::ofstream(refused) << R"({"family": "refused", "containerDefinitions": [{"name": "a"}]})";
  auto invalid = berthd_->ctl({"run", "-f", refused});
  EXPECT_EQ(invalid.exit_code, 125) << invalid.err;
  EXPECT_NE(invalid.err.find("image"), std::string::npos) << invalid.err;
  auto unreadable = berthd_->ctl({"run", "-f", berthd_->dir() + "/no-such-file.json"});
  EXPECT_EQ(unreadable.exit_code, 125) << unreadable.err;
  auto bad_env = berthd_->ctl({"run", "-d", "-e", "NOVALUE", image(), "--", "true"});
  EXPECT_EQ(bad_env.exit_code, 125) << bad_env.err;
  EXPECT_NE(bad_env.err.find("'NOVALUE'"), std::string::npos) << bad_env.err;
  EXPECT_TRUE(tasks().empty()) << tasks().dump(2);
}

// Global flags may follow the subcommand, as kubectl users type them; a
// container that never ran has no exit code in -o json (not 0).
TEST_F(RunTest, GlobalFlagsAfterTheSubcommandAndNoExitCodeForWhatNeverRan) {
  const std::string path = berthd_->dir() + "/never.json";
  std::ofstream(path)
      << nlohmann::json{{"family", "never"},
                        {"networkMode", "none"},
                        {"containerDefinitions",
                         {{{"name", "first"},
                           {"image", image()},
                           {"essential", false},
                           {"command", {"sh", "-c", "exit 3"}}},
                          {{"name", "second"},
                           {"image", image()},
                           {"command", {"true"}},
                           {"dependsOn",
                            {{{"containerName", "first"}, {"condition", "SUCCESS"}}}}}}}}
             .dump();
  auto run = berthd_->ctl({"run", "-f", path, "--name", "never", "-o", "json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_FALSE(nlohmann::json::parse(run.out).value("taskId", "").empty()) << run.out;
  await_task("never", [](const nlohmann::json& t) {
    return !t.is_null() && t.value("status", "") == "STOPPED";
  });
  auto described = run_command(
      {BERTHCTL_PATH, "describe", "never", "-o", "json", "--socket", berthd_->socket()});
  ASSERT_EQ(described.exit_code, 0) << described.err;
  auto task = nlohmann::json::parse(described.out);
  ASSERT_EQ(task["containers"].size(), 2u) << task.dump(2);
  EXPECT_EQ(task["containers"][0]["exitCode"], 3);
  EXPECT_FALSE(task["containers"][1].contains("exitCode")) << task.dump(2);
  EXPECT_FALSE(task["containers"][1].contains("hasExitCode")) << task.dump(2);
  EXPECT_EQ(berthd_->ctl({"rm", "never"}).exit_code, 0);
}

TEST_F(RunTest, WithoutRmTheStoppedTaskStaysButNothingRuns) {
  auto run = berthd_->ctl({"run", "--name", "kept", image(), "--", "true"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  auto task = await_task("kept", [](const nlohmann::json& t) {
    return !t.is_null() && t.value("status", "") == "STOPPED";
  });
  EXPECT_EQ(task["containers"][0]["exitCode"], 0);
  EXPECT_TRUE(task["foreground"].get<bool>());
  EXPECT_EQ(env().ctr(berthd_->ns(), {"containers", "ls", "-q"}).out, "");
  EXPECT_EQ(env().ctr(berthd_->ns(), {"tasks", "ls", "-q"}).out, "");
  EXPECT_EQ(berthd_->ctl({"rm", "kept"}).exit_code, 0);
}

TEST_F(RunTest, CancellingTheClientStopsAndRemovesTheContainer) {
  auto reader = LineReader::spawn(
      berthd_->ctl_argv({"run", "--rm", "--name", "cancelled", "--stop-timeout", "1", image(), "--",
                         "sh", "-c", "echo started; exec sleep 987001"}));
  ASSERT_TRUE(reader);
  ASSERT_EQ(reader->next_line(std::chrono::seconds(30)), "started");
  ASSERT_EQ(await_pids({"sleep", "987001"}).size(), 1u);
  kill(reader->pid(), SIGINT);
  EXPECT_EQ(reader->wait(), 125);
  // sleep as pid 1 ignores SIGTERM: SIGKILL after the stop timeout ends it,
  // and berthd removes the task (TearDown checks nothing is left).
  EXPECT_TRUE(wait_for_file_content(berthd_->log(), "container 'cancelled' STOPPED (exit code 137",
                                    std::chrono::seconds(30)))
      << berthd_->log_text();
  await_task("cancelled", [](const nlohmann::json& t) { return t.is_null(); });
  EXPECT_TRUE(pids_running({"sleep", "987001"}).empty());
}

TEST_F(RunTest, AnExitWhileContainerdIsDownIsReportedAfterItReturns) {
  auto reader = LineReader::spawn(berthd_->ctl_argv(
      {"run", "--rm", image(), "--", "sh", "-c", "echo started; exec sleep 987002"}));
  ASSERT_TRUE(reader);
  ASSERT_EQ(reader->next_line(std::chrono::seconds(30)), "started");
  auto pids = await_pids({"sleep", "987002"});
  ASSERT_EQ(pids.size(), 1u);

  // containerd goes away; the container dies while nobody can hear it.
  ASSERT_TRUE(env().stop_containerd());
  kill(pids[0], SIGKILL);
  ASSERT_TRUE(env().start_containerd());

  // berthd resubscribes, reconciles, and reports the exit.
  EXPECT_EQ(reader->wait(), 137);
  EXPECT_NE(berthd_->log_text().find("STOPPED (exit code 137"), std::string::npos);
  EXPECT_NE(berthd_->log_text().find("lost containerd"), std::string::npos);
  EXPECT_NE(berthd_->log_text().find("containerd is back after"), std::string::npos);
}

TEST_F(RunTest, LogsKeepFillingWhileBerthdIsDownAndTheRestartedOneRecordsTheExit) {
  const std::string script =
      "echo before; trap 'echo after; exit 0' USR1; while :; do sleep 1; done";
  auto reader = LineReader::spawn(berthd_->ctl_argv(
      {"run", "--name", "writer", "--stop-timeout", "1", image(), "--", "sh", "-c", script}));
  ASSERT_TRUE(reader);
  ASSERT_EQ(reader->next_line(std::chrono::seconds(30)), "before");
  // berthd is not in the output path: kill it, then make the container write.
  berthd_->kill(SIGKILL);
  EXPECT_EQ(reader->wait(), 125) << "the client lost its berthd";
  auto pids = await_pids({"sh", "-c", script});
  ASSERT_EQ(pids.size(), 1u);
  kill(pids[0], SIGUSR1);
  std::string log_path = log_of("writer");
  EXPECT_TRUE(wait_for_file_content(log_path, R"({"log":"after\n","stream":"stdout")",
                                    std::chrono::seconds(30)))
      << read_file(log_path);
  // Once the shell is gone, the restarted berthd finds the exit it missed;
  // the run stays a task until it is removed (no --rm).
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pids[0], 0));
  if (pidfd >= 0) {
    pollfd exited{pidfd, POLLIN, 0};
    EXPECT_EQ(::poll(&exited, 1, 30'000), 1);
    ::close(pidfd);
  } else {
    EXPECT_EQ(errno, ESRCH) << "gone already";
  }
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  auto task = await_task("writer", [](const nlohmann::json& t) {
    return !t.is_null() && t.value("status", "") == "STOPPED";
  });
  EXPECT_EQ(task["containers"][0]["exitCode"], 0) << "it exited after its USR1, berthd away\n"
                                                  << task.dump(2) << berthd_->log_text();
  // Which came first at the restart, the exit or the stop of a run whose
  // client is gone, depends on how soon containerd noted the exit.
  EXPECT_TRUE(task["stopCode"] == "EssentialContainerExited" ||
              task["stopCode"] == "ServiceSchedulerInitiated")
      << task.dump(2);
  EXPECT_EQ(berthd_->ctl({"rm", "writer"}).exit_code, 0);
}

TEST_F(RunTest, ACrashDuringAForegroundRunLeavesNothingAfterTheRestart) {
  auto reader = LineReader::spawn(
      berthd_->ctl_argv({"run", "--rm", "--name", "crashed", "--stop-timeout", "1", image(), "--",
                         "sh", "-c", "echo started; exec sleep 987003"}));
  ASSERT_TRUE(reader);
  ASSERT_EQ(reader->next_line(std::chrono::seconds(30)), "started");
  ASSERT_EQ(await_pids({"sleep", "987003"}).size(), 1u);
  berthd_->kill(SIGKILL);
  EXPECT_EQ(reader->wait(), 125);
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  // Stopped (SIGKILL after its 1 s stopTimeout: sleep ignores SIGTERM as
  // pid 1) and, with --rm, removed; TearDown checks that nothing is left.
  await_task("crashed", [](const nlohmann::json& t) { return t.is_null(); });
  EXPECT_TRUE(pids_running({"sleep", "987003"}).empty());
  EXPECT_EQ(log_of("crashed"), "");
}

}  // namespace
}  // namespace berth::testing
