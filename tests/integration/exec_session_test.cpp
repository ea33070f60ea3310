// Operators' exec sessions (berthctl exec) against a real containerd: a
// real pseudo-terminal, piped streams, large output, concurrency, the
// client or berthd killed mid-session, the node's policy, the audit log, and
// bad input. Every test ends with the fixture's leak check (containers,
// exec FIFO directories) and its own check for processes left running.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "fixtures/task_fixture.h"

namespace berth::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// One busybox container that waits, and stops at once on SIGTERM.
json waiting_task(const std::string& family, bool opted_in = false) {
  json task = {{"family", family},
               {"networkMode", "none"},
               {"containerDefinitions",
                {{{"name", "app"},
                  {"image", "busybox:latest"},
                  {"command", {"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"}}}}}};
  if (opted_in) task["enableExecuteCommand"] = true;
  return task;
}

// Waits (briefly, re-reading /proc) until `count` such processes run.
bool await_processes(const std::vector<std::string>& argv, size_t count) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (processes_running(argv) != count) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

std::string quoted(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) out += "'" + arg + "' ";
  return out;
}

std::vector<json> audit_lines(const std::string& path) {
  std::vector<json> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  return lines;
}

class ExecSessionTest : public TaskTest {
 protected:
  void SetUp() override {
    TaskTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    task_ = run(waiting_task("exec-session"));
    wait_status(task_, "RUNNING");
  }
  std::string audit_log() const { return berthd_->root() + "/audit.log"; }
  CommandResult exec(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"exec"};
    all.insert(all.end(), args.begin(), args.end());
    return berthd_->ctl(all);
  }
  // A shell pipeline around berthctl (`berthctl` in `script` is replaced).
  CommandResult shell(std::string script) {
    auto at = script.find("berthctl");
    script.replace(at, 8, quoted(berthd_->ctl_argv({})));
    return run_command({"sh", "-c", script});
  }

  // Starts `client` (a berthctl exec of `sleeper`), kills it with SIGKILL
  // once the session runs, and expects the session's end audited and its
  // process gone.
  void kill_client_and_expect_nothing_left(const std::vector<std::string>& client_argv,
                                           const std::vector<std::string>& sleeper) {
    auto client = Process::start(client_argv, berthd_->dir() + "/client.log");
    ASSERT_TRUE(client);
    ASSERT_TRUE(wait_for_file_content(audit_log(), "\"started\"", std::chrono::seconds(30)));
    ASSERT_TRUE(await_processes(sleeper, 1));
    client->stop(SIGKILL);
    ASSERT_TRUE(wait_for_file_content(audit_log(), "\"disconnected\"", std::chrono::seconds(30)))
        << berthd_->log_text();
    EXPECT_EQ(processes_running(sleeper), 0u);
  }

  std::string task_;
};

TEST_F(ExecSessionTest, ATerminalSessionBehavesAsDockerExecIt) {
  auto events = LineReader::spawn(berthd_->ctl_argv({"-o", "json", "events", task_}));
  ASSERT_TRUE(events);
  auto result =
      run_command({"python3", std::string(BERTH_SOURCE_DIR) + "/tests/fixtures/exec_tty.py",
                   BERTHCTL_PATH, berthd_->socket(), task_});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  json seen = json::parse(result.out);
  EXPECT_TRUE(seen.value("tty", "").starts_with("/dev/pts/")) << seen.dump();
  EXPECT_EQ(seen.value("size_before", ""), "30 100") << seen.dump();
  EXPECT_EQ(seen.value("size_after", ""), "40 120") << seen.dump();
  EXPECT_TRUE(seen.value("sleep_seen", false)) << seen.dump();
  EXPECT_TRUE(seen.value("interrupted", false)) << seen.dump();
  EXPECT_EQ(seen["exit_code"], 3) << seen.dump();
  EXPECT_TRUE(seen.value("termios_same", false)) << seen.dump();
  // The session is an event of the task: started, then exited with 3.
  bool started = false;
  bool exited = false;
  while (!exited) {
    auto line = events->next_line(std::chrono::seconds(10));
    if (!line) break;
    json event = json::parse(*line);
    if (event.value("status", "") == "EXEC_STARTED") started = true;
    if (event.value("status", "") == "EXEC_EXITED") {
      exited = true;
      EXPECT_NE(event.value("detail", "").find("exit 3"), std::string::npos) << *line;
      EXPECT_NE(event.value("detail", "").find("(tty)"), std::string::npos) << *line;
    }
  }
  EXPECT_TRUE(started && exited);
  ::kill(events->pid(), SIGTERM);
  events->wait();
  EXPECT_EQ(processes_running({"sleep", "100"}), 0u) << "the interrupted sleep is gone";
}

TEST_F(ExecSessionTest, WithoutATerminalStreamsStayApartAndWhole) {
  auto piped = shell("echo hi | berthctl exec -i " + task_ + " -- cat");
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.out, "hi\n");

  auto both = exec({task_, "--", "sh", "-c", "echo out; echo err >&2; exit 5"});
  EXPECT_EQ(both.exit_code, 5);
  EXPECT_EQ(both.out, "out\n");
  EXPECT_EQ(both.err, "err\n");

  // 50 MiB, checksummed inside the container and after the trip.
  const std::string make_big =
      "dd if=/dev/urandom of=/tmp/big bs=1048576 count=50 2>/dev/null && sha256sum /tmp/big";
  auto made = exec({task_, "--", "sh", "-c", make_big});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::string inside = made.out.substr(0, 64);
  auto big = shell("berthctl exec " + task_ + " -- cat /tmp/big | sha256sum");
  ASSERT_EQ(big.exit_code, 0) << big.err;
  EXPECT_EQ(big.out.substr(0, 64), inside);
  auto size = shell("berthctl exec " + task_ + " -- cat /tmp/big | wc -c");
  EXPECT_EQ(std::stoll(size.out), 50LL << 20);

  // Options as docker exec's: user, workdir, environment.
  auto options = exec({"-u", "nobody", "-w", "/tmp", "-e", "GREETING=hello", task_, "app", "--",
                       "sh", "-c", "echo $(id -un) $(pwd) $GREETING"});
  EXPECT_EQ(options.exit_code, 0) << options.err;
  EXPECT_EQ(options.out, "nobody /tmp hello\n");
}

TEST_F(ExecSessionTest, TwentySessionsAtOnceEachEndWithItsOwnCode) {
  std::vector<std::thread> threads;
  std::vector<CommandResult> results(20);
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      results[i] = exec({task_, "--", "sh", "-c",
                         "echo session-" + std::to_string(i) + "; exit " + std::to_string(i)});
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(results[i].exit_code, i) << results[i].err;
    EXPECT_EQ(results[i].out, "session-" + std::to_string(i) + "\n");
  }
}

TEST_F(ExecSessionTest, AClientKilledMidSessionLeavesNoProcessBehind) {
  kill_client_and_expect_nothing_left(berthd_->ctl_argv({"exec", task_, "--", "sleep", "1001"}),
                                      {"sleep", "1001"});
  json task = describe(task_);
  EXPECT_EQ(task.value("status", ""), "RUNNING");
}

// A process that reads no stdin while the client sends endless stdin: the
// session's stdin writer waits on a full pipe, and must still notice the
// client going away.
TEST_F(ExecSessionTest, AClientKilledWhileItsStdinIsStuckLeavesNoProcessBehind) {
  std::string command = "exec " +
                        quoted(berthd_->ctl_argv({"exec", "-i", task_, "--", "sleep", "1004"})) +
                        "< /dev/zero";
  kill_client_and_expect_nothing_left({"sh", "-c", command}, {"sleep", "1004"});
}

TEST_F(ExecSessionTest, BerthdKilledMidSessionAdoptsTheTaskAndEndsTheProcess) {
  const std::vector<std::string> sleeper = {"sleep", "1002"};
  int pid_before = container(describe(task_), "app").value("pid", 0);
  auto client = Process::start(berthd_->ctl_argv({"exec", task_, "--", "sleep", "1002"}),
                               berthd_->dir() + "/client.log");
  ASSERT_TRUE(client);
  ASSERT_TRUE(wait_for_file_content(audit_log(), "\"started\"", std::chrono::seconds(30)));
  ASSERT_TRUE(await_processes(sleeper, 1));
  berthd_->kill(SIGKILL);
  client->wait();
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  EXPECT_EQ(processes_running(sleeper), 0u) << "the restarted berthd ends the session";
  json task = describe(task_);
  EXPECT_EQ(task.value("status", ""), "RUNNING");
  EXPECT_EQ(container(task, "app").value("pid", -1), pid_before) << "adopted, not restarted";
}

TEST_F(ExecSessionTest, BadInputGetsAClearErrorAndLeavesNothing) {
  auto unknown = exec({"no-such-task", "--", "true"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no-such-task"), std::string::npos) << unknown.err;
  auto no_container = exec({task_, "sidecar", "--", "true"});
  EXPECT_EQ(no_container.exit_code, 1);
  EXPECT_NE(no_container.err.find("no container 'sidecar'"), std::string::npos) << no_container.err;
  auto no_command = exec({task_, "--"});
  EXPECT_EQ(no_command.exit_code, 125);
  EXPECT_NE(no_command.err.find("no command"), std::string::npos) << no_command.err;
  auto missing = exec({task_, "--", "no-such-binary"});
  EXPECT_EQ(missing.exit_code, 127);
  EXPECT_NE(missing.err.find("no-such-binary"), std::string::npos) << missing.err;
  auto not_executable = exec({task_, "--", "/etc/passwd"});
  EXPECT_EQ(not_executable.exit_code, 126);
  EXPECT_NE(not_executable.err.find("/etc/passwd"), std::string::npos) << not_executable.err;
  auto bad_user = exec({"-u", "nosuchuser", task_, "--", "true"});
  EXPECT_EQ(bad_user.exit_code, 1);
  EXPECT_NE(bad_user.err.find("nosuchuser"), std::string::npos) << bad_user.err;

  ASSERT_EQ(berthd_->ctl({"stop", task_}).exit_code, 0);
  auto stopped = exec({task_, "--", "true"});
  EXPECT_EQ(stopped.exit_code, 1);
  EXPECT_NE(stopped.err.find("not RUNNING"), std::string::npos) << stopped.err;
  // Every session, failed ones too, has its line.
  size_t ends = 0;
  for (const auto& line : audit_lines(audit_log())) ends += line["phase"] == "end";
  EXPECT_EQ(ends, 6u);  // "no command" never reached berthd
}

class ExecPolicyTest : public ExecSessionTest {
 protected:
  std::vector<std::string> berthd_flags() const override { return {"--exec-policy", "opt-in"}; }
};

TEST_F(ExecPolicyTest, OptInAndDenyRefuseSessionsNamingThePolicyAndAuditThem) {
  auto refused = exec({task_, "--", "true"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("exec_policy is opt-in"), std::string::npos) << refused.err;
  std::string opted = run(waiting_task("exec-opted-in", true));
  wait_status(opted, "RUNNING");
  auto allowed = exec({opted, "--", "sh", "-c", "exit 4"});
  EXPECT_EQ(allowed.exit_code, 4) << allowed.err;

  auto lines = audit_lines(audit_log());
  ASSERT_EQ(lines.size(), 3u);  // refused (end), allowed (start, end)
  EXPECT_EQ(lines[0]["outcome"], "refused");
  EXPECT_EQ(lines[0]["task"], task_);
  EXPECT_EQ(lines[0]["caller"]["uid"], static_cast<int64_t>(::getuid()));
  EXPECT_GT(lines[0]["caller"]["pid"].get<int64_t>(), 0);
  EXPECT_EQ(lines[2]["outcome"], "exited");
  EXPECT_EQ(lines[2]["exitCode"], 4);
  EXPECT_EQ(lines[2]["command"], json({"sh", "-c", "exit 4"}));

  // deny: even the task that opted in is refused.
  berthd_->ctl({"stop", task_});
  berthd_->ctl({"stop", opted});
  berthd_.reset();
  start_berthd({"--exec-policy", "deny"});
  std::string task = run(waiting_task("exec-denied", true));
  wait_status(task, "RUNNING");
  auto denied = exec({task, "--", "true"});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_NE(denied.err.find("exec_policy is deny"), std::string::npos) << denied.err;
  auto last = audit_lines(audit_log()).back();
  EXPECT_EQ(last["outcome"], "refused");
  EXPECT_EQ(last["task"], task);
}

}  // namespace
}  // namespace berth::testing
