// berthctl attach and berthctl debug against a real containerd: attaching
// to an interactive terminal container through a real pseudo-terminal (two
// clients, a detach), and ephemeral debug containers in an awsvpc task's
// namespaces (what they see, describe, their removal when the session, the
// task or berthd ends, policy and bad input). Every test ends with the
// fixture's leak check (containers, snapshots, task cgroups, exec FIFOs).
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

std::vector<json> audit_lines(const std::string& path) {
  std::vector<json> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  return lines;
}

size_t audited(const std::string& path, const std::string& kind, const std::string& outcome) {
  size_t count = 0;
  for (const auto& line : audit_lines(path)) {
    count += line.value("kind", "") == kind && line.value("outcome", "") == outcome;
  }
  return count;
}

class SessionsTest : public TaskTest {
 protected:
  std::string audit_log() const { return berthd_->root() + "/audit.log"; }
  // Waits until the audit log has `count` lines of `kind` with `outcome`.
  bool await_audited(const std::string& kind, const std::string& outcome, size_t count = 1) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (audited(audit_log(), kind, outcome) < count) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  }
  // The debug containers that containerd, the snapshotter, the task's
  // cgroups and the exec directory still hold.
  std::string debug_leftovers(const std::string& task) {
    std::string found;
    auto& env = Environment::get();
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"containers", "ls", "-q"}, {"snapshots", "ls"}}) {
      std::istringstream lines(env.ctr(berthd_->ns(), args).out);
      for (std::string line; std::getline(lines, line);) {
        if (line.find("debug-") != std::string::npos) found += line + "\n";
      }
    }
    std::error_code ec;
    for (const auto& hierarchy : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      std::error_code inner;
      for (const auto& entry :
           fs::directory_iterator(hierarchy.path() / berthd_->ns() / task, inner)) {
        if (entry.path().filename().string().starts_with("debug-")) {
          found += entry.path().string() + "\n";
        }
      }
    }
    for (const auto& entry : fs::directory_iterator(berthd_->dir() + "/state/exec", ec)) {
      found += entry.path().string() + "\n";
    }
    return found;
  }
  // Waits until describe shows `count` debug containers in `task`.
  json await_ephemeral(const std::string& task, size_t count) {
    return wait_for(task, [&](const json& t) {
      return t.value("ephemeralContainers", json::array()).size() == count;
    });
  }
};

json interactive_shell(const std::string& family) {
  return {{"family", family},
          {"networkMode", "none"},
          {"containerDefinitions",
           {{{"name", "shell"},
             {"image", "busybox:latest"},
             {"interactive", true},
             {"pseudoTerminal", true},
             {"command", {"sh"}},
             {"stopTimeout", 2}}}}};
}

// An awsvpc task whose one container waits.
json waiting_awsvpc(const std::string& family) {
  return {{"family", family},
          {"networkMode", "awsvpc"},
          {"containerDefinitions",
           {{{"name", "app"},
             {"image", "busybox:latest"},
             {"command", {"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"}}}}}};
}

TEST_F(SessionsTest, AttachSeesTheTerminalFromTwoClientsAndDetachLeavesItRunning) {
  std::string task = run(interactive_shell("attach-shell"));
  json running = wait_status(task, "RUNNING");
  int pid_before = container(running, "shell").value("pid", 0);
  auto result =
      run_command({"python3", std::string(BERTH_SOURCE_DIR) + "/tests/fixtures/attach_tty.py",
                   BERTHCTL_PATH, berthd_->socket(), task, audit_log()});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  json seen = json::parse(result.out);
  EXPECT_TRUE(seen.value("echoed", false)) << seen.dump();
  EXPECT_TRUE(seen.value("second_saw", false)) << seen.dump();
  EXPECT_EQ(seen["detach_code"], 0) << seen.dump();
  EXPECT_TRUE(seen.value("termios_same", false)) << seen.dump();
  // Still running, the same process: a detach ends only the client.
  json after = describe(task);
  EXPECT_EQ(after.value("status", ""), "RUNNING");
  EXPECT_EQ(container(after, "shell").value("status", ""), "RUNNING");
  EXPECT_EQ(container(after, "shell").value("pid", -1), pid_before);
  // The one that typed Ctrl-P Ctrl-Q detached; the other was ended.
  EXPECT_TRUE(await_audited("attach", "detached", 1));
  EXPECT_TRUE(await_audited("attach", "disconnected", 1));
  // The shell still reads its terminal: a later attach drives it again, and
  // ends with the container's exit code when the shell exits.
  auto typed = run_command({"sh", "-c",
                            "printf 'echo again-$((1+2))\\rexit 7\\r' | timeout 60 " +
                                std::string(BERTHCTL_PATH) + " --socket " + berthd_->socket() +
                                " attach " + task});
  EXPECT_EQ(typed.exit_code, 7) << typed.out << typed.err;
  EXPECT_NE(typed.out.find("again-3"), std::string::npos) << typed.out << typed.err;
  EXPECT_EQ(wait_status(task, "STOPPED").value("status", ""), "STOPPED");
}

TEST_F(SessionsTest, AttachToAStoppedOrUnknownTaskGetsAClearError) {
  auto unknown = berthd_->ctl({"attach", "no-such-task"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no-such-task"), std::string::npos) << unknown.err;
  std::string task = run(interactive_shell("attach-stopped"));
  wait_status(task, "RUNNING");
  ASSERT_EQ(berthd_->ctl({"stop", task}).exit_code, 0);
  auto stopped = berthd_->ctl({"attach", task});
  EXPECT_EQ(stopped.exit_code, 1);
  EXPECT_NE(stopped.err.find("not RUNNING"), std::string::npos) << stopped.err;
  auto bad_keys = berthd_->ctl({"attach", "--detach-keys", "ctrl-1", task});
  EXPECT_EQ(bad_keys.exit_code, 125);
  EXPECT_NE(bad_keys.err.find("ctrl-1"), std::string::npos) << bad_keys.err;
}

TEST_F(SessionsTest, ADebugContainerSeesTheTasksAddressAndTheTargetsProcesses) {
  std::string task = run(waiting_awsvpc("debug-sees"));
  json running = wait_status(task, "RUNNING");
  ASSERT_FALSE(running.value("addresses", json::array()).empty()) << running.dump();
  std::string address = running["addresses"][0].get<std::string>();
  address = address.substr(0, address.find('/'));
  auto seen = berthd_->ctl({"debug", task, "--", "sh", "-c", "ip -4 addr; ps; exit 3"});
  EXPECT_EQ(seen.exit_code, 3) << seen.err;
  EXPECT_NE(seen.out.find("inet " + address + "/"), std::string::npos) << seen.out;
  EXPECT_NE(seen.out.find("sleep 3600"), std::string::npos) << seen.out;
  // Its exit is no container's: the task and its container go on.
  json after = describe(task);
  EXPECT_EQ(after.value("status", ""), "RUNNING");
  EXPECT_EQ(after["containers"].size(), 1u);
  EXPECT_EQ(container(after, "app").value("pid", -1), container(running, "app").value("pid", 0));
  EXPECT_EQ(debug_leftovers(task), "");
  auto lines = audit_lines(audit_log());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1]["kind"], "debug");
  EXPECT_EQ(lines[1]["exitCode"], 3);
  // -t: its process has a terminal of its own.
  auto tty = berthd_->ctl({"debug", "-t", task, "--", "tty"});
  EXPECT_EQ(tty.exit_code, 0) << tty.err;
  EXPECT_TRUE(tty.out.starts_with("/dev/pts/")) << tty.out;
  EXPECT_EQ(debug_leftovers(task), "");
}

TEST_F(SessionsTest, DescribeShowsADebugContainerUntilItsClientGoes) {
  std::string task = run(waiting_awsvpc("debug-shown"));
  wait_status(task, "RUNNING");
  auto client = Process::start(berthd_->ctl_argv({"debug", task, "--", "sleep", "1003"}),
                               berthd_->dir() + "/client.log");
  ASSERT_TRUE(client);
  ASSERT_TRUE(await_audited("debug", "started"));
  json shown = await_ephemeral(task, 1);
  json ephemeral = shown["ephemeralContainers"][0];
  EXPECT_EQ(ephemeral.value("target", ""), "app");
  EXPECT_EQ(ephemeral["command"], json({"sleep", "1003"}));
  EXPECT_EQ(shown.value("status", ""), "RUNNING");
  EXPECT_EQ(shown["containers"].size(), 1u) << "never one of the task's containers";
  auto text = berthd_->ctl({"describe", task});
  EXPECT_NE(text.out.find("Ephemeral containers"), std::string::npos) << text.out;
  EXPECT_EQ(processes_running({"sleep", "1003"}), 1u);

  client->stop(SIGKILL);
  await_ephemeral(task, 0);
  EXPECT_EQ(processes_running({"sleep", "1003"}), 0u);
  EXPECT_EQ(debug_leftovers(task), "");
  EXPECT_EQ(describe(task).value("status", ""), "RUNNING");
}

TEST_F(SessionsTest, ItsTargetStoppingEndsADebugSession) {
  // The task's sandbox holds the PID namespace (pidMode task), so the
  // target's end does not end the debug container by itself: berthd does.
  json definition = waiting_awsvpc("debug-target-stops");
  definition["pidMode"] = "task";
  definition["containerDefinitions"].push_back(
      {{"name", "side"},
       {"image", "busybox:latest"},
       {"essential", false},
       {"command", {"sh", "-c", "while [ ! -e /tmp/stop ]; do sleep 0.1; done"}}});
  std::string task = run(definition);
  wait_status(task, "RUNNING");
  auto client =
      Process::start(berthd_->ctl_argv({"debug", "--target", "side", task, "--", "sleep", "1005"}),
                     berthd_->dir() + "/client.log");
  ASSERT_TRUE(client);
  ASSERT_TRUE(await_audited("debug", "started"));
  ASSERT_EQ(berthd_->ctl({"exec", task, "side", "--", "touch", "/tmp/stop"}).exit_code, 0);
  EXPECT_NE(client->wait(), 0) << "killed with its target";
  await_ephemeral(task, 0);
  EXPECT_EQ(processes_running({"sleep", "1005"}), 0u);
  EXPECT_EQ(debug_leftovers(task), "");
  json after = describe(task);
  EXPECT_EQ(after.value("status", ""), "RUNNING") << "the task goes on without its side";
  EXPECT_EQ(container(after, "side").value("status", ""), "STOPPED");
}

TEST_F(SessionsTest, BerthdKilledMidDebugRemovesTheDebugContainerWhenItStarts) {
  std::string task = run(waiting_awsvpc("debug-crash"));
  json running = wait_status(task, "RUNNING");
  auto client = Process::start(berthd_->ctl_argv({"debug", task, "--", "sleep", "1004"}),
                               berthd_->dir() + "/client.log");
  ASSERT_TRUE(client);
  ASSERT_TRUE(await_audited("debug", "started"));
  berthd_->kill(SIGKILL);
  client->wait();
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  EXPECT_EQ(processes_running({"sleep", "1004"}), 0u);
  EXPECT_EQ(debug_leftovers(task), "");
  json task_after = describe(task);
  EXPECT_EQ(task_after.value("status", ""), "RUNNING");
  EXPECT_EQ(container(task_after, "app").value("pid", -1),
            container(running, "app").value("pid", 0))
      << "adopted, not restarted";
}

TEST_F(SessionsTest, DebugBadInputGetsAClearErrorAndLeavesNothing) {
  std::string task = run(waiting_awsvpc("debug-bad"));
  wait_status(task, "RUNNING");
  auto unknown = berthd_->ctl({"debug", "no-such-task", "--", "true"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no-such-task"), std::string::npos) << unknown.err;
  auto no_target = berthd_->ctl({"debug", "--target", "sidecar", task, "--", "true"});
  EXPECT_EQ(no_target.exit_code, 1);
  EXPECT_NE(no_target.err.find("no container 'sidecar'"), std::string::npos) << no_target.err;
  auto no_image = berthd_->ctl({"debug", "--image", "nosuch:1", task, "--", "true"});
  EXPECT_EQ(no_image.exit_code, 1);
  EXPECT_NE(no_image.err.find("'nosuch:1' is not present"), std::string::npos) << no_image.err;
  auto missing = berthd_->ctl({"debug", task, "--", "no-such-binary"});
  EXPECT_EQ(missing.exit_code, 127) << missing.err;
  EXPECT_NE(missing.err.find("no-such-binary"), std::string::npos) << missing.err;
  auto no_command = berthd_->ctl({"debug", task, "--"});
  EXPECT_EQ(no_command.exit_code, 125);
  EXPECT_EQ(debug_leftovers(task), "");
  ASSERT_EQ(berthd_->ctl({"stop", task}).exit_code, 0);
  auto stopped = berthd_->ctl({"debug", task, "--", "true"});
  EXPECT_EQ(stopped.exit_code, 1);
  EXPECT_NE(stopped.err.find("not RUNNING"), std::string::npos) << stopped.err;
  EXPECT_EQ(audited(audit_log(), "debug", "failed"), 5u);
}

class SessionsDenyTest : public SessionsTest {
 protected:
  std::vector<std::string> berthd_flags() const override { return {"--exec-policy", "deny"}; }
};

TEST_F(SessionsDenyTest, AClientsOwnRunIsNoSessionAndRunsUnderDeny) {
  auto piped =
      run_command({"sh", "-c",
                   "echo own | " + std::string(BERTHCTL_PATH) + " --socket " + berthd_->socket() +
                       " run -i --rm --pull --name own-run busybox:latest -- cat"});
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.out, "own\n");
}

TEST_F(SessionsDenyTest, AttachAndDebugAreRefusedNamingThePolicyAndAudited) {
  std::string task = run(interactive_shell("sessions-denied"));
  wait_status(task, "RUNNING");
  auto attach = berthd_->ctl({"attach", task});
  EXPECT_EQ(attach.exit_code, 1);
  EXPECT_NE(attach.err.find("exec_policy is deny"), std::string::npos) << attach.err;
  auto debug = berthd_->ctl({"debug", task, "--", "true"});
  EXPECT_EQ(debug.exit_code, 1);
  EXPECT_NE(debug.err.find("exec_policy is deny"), std::string::npos) << debug.err;
  EXPECT_EQ(audited(audit_log(), "attach", "refused"), 1u);
  EXPECT_EQ(audited(audit_log(), "debug", "refused"), 1u);
}

}  // namespace
}  // namespace berth::testing
