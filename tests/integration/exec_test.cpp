// Running commands inside a running container (runtime::ExecService), the
// way health checks do: exit codes, captured output, the container's own
// user/env/cwd, timeouts, errors, and that nothing is left behind (FIFO
// directories, exec processes in the shim, file descriptors of berthd).
//
// The target container is started through berthd and kept running for the
// test; the ExecService talks to the same private containerd namespace.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "fixtures/integration_test.h"
#include "runtime/containerd.h"
#include "runtime/containerd_stubs.h"
#include "runtime/exec_process.h"

namespace berth::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using runtime::ExecRequest;
using runtime::ExecResult;

const std::string kTarget = "exec-target";
const std::string kImagePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

size_t open_fds() {
  std::error_code ec;
  auto entries = fs::directory_iterator("/proc/self/fd", ec);
  return static_cast<size_t>(std::distance(fs::begin(entries), fs::end(entries)));
}

class ExecTest : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    berthd_ = std::make_unique<Berthd>(std::vector<std::string>{"--insecure-registry", registry()});
    ASSERT_TRUE(berthd_->ok()) << berthd_->log_text();
    auto pulled = berthd_->ctl({"image", "pull", image()});
    ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
    // A user, a working directory and a variable of its own, so that execs
    // can be seen to inherit the container's process settings.
    auto spawned = LineReader::spawn(berthd_->ctl_argv(
        {"run", "--rm", "--name", kTarget, "--stop-timeout", "1", "-u", "nobody", "-w", "/tmp",
         "-e", "GREETING=hi", image(), "--", "sh", "-c", "echo started; exec sleep 987100"}));
    ASSERT_TRUE(spawned);
    target_.emplace(std::move(*spawned));
    ASSERT_EQ(target_->next_line(30s), "started") << berthd_->log_text();
    // The run is a one-container task: its container's containerd id.
    auto described = berthd_->ctl({"-o", "json", "describe", kTarget});
    ASSERT_EQ(described.exit_code, 0) << described.err;
    target_id_ = nlohmann::json::parse(described.out)["containers"][0]["containerdId"];
    auto connected = runtime::Containerd::connect(env().containerd_socket(), berthd_->ns(), 10s);
    ASSERT_TRUE(connected) << connected.error().message();
    containerd_ = std::move(*connected);
    fifo_dir_ = (fs::path(berthd_->root()).parent_path() / "exec-fifos").string();
    exec_ = std::make_unique<runtime::ExecService>(*containerd_, fifo_dir_);
  }

  void TearDown() override {
    exec_.reset();
    if (target_) {
      // berthd stops the container (sleep ignores SIGTERM: SIGKILL after 1s)
      // and removes it because of --rm.
      ::kill(target_->pid(), SIGINT);
      target_->wait();
      EXPECT_TRUE(wait_for_file_content(berthd_->log(),
                                        "container '" + kTarget + "' STOPPED (exit code 137", 30s))
          << berthd_->log_text();
      EXPECT_TRUE(wait_for_file_content(berthd_->log(), "REMOVED", 30s)) << berthd_->log_text();
      target_.reset();
    }
    if (berthd_) {
      EXPECT_EQ(berthd_->leftovers(), "") << berthd_->log_text();
    }
    berthd_.reset();
  }

  Result<ExecResult> exec(std::vector<std::string> args,
                          std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    ExecRequest request;
    request.args = std::move(args);
    request.timeout = timeout;
    return exec_->run(target_id_, request);
  }

  // The pids of the target's task, as the shim reports them.
  std::vector<uint32_t> task_pids() {
    runtime::cd_tasks::ListPidsRequest request;
    request.set_container_id(target_id_);
    runtime::cd_tasks::ListPidsResponse response;
    auto ctx = containerd_->context(10s);
    auto status = containerd_->stubs().tasks->ListPids(ctx.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<uint32_t> pids;
    for (const auto& process : response.processes()) pids.push_back(process.pid());
    return pids;
  }

  // Entries under the FIFO directory (there should be none between execs).
  std::vector<std::string> fifo_dir_entries() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(fifo_dir_, ec)) {
      names.push_back(entry.path().filename());
    }
    return names;
  }

  std::unique_ptr<Berthd> berthd_;
  std::optional<LineReader> target_;
  std::string target_id_;  // its containerd id
  std::unique_ptr<runtime::Containerd> containerd_;
  std::string fifo_dir_;
  std::unique_ptr<runtime::ExecService> exec_;
};

TEST_F(ExecTest, ReportsTheExitCodeAndCapturesStdoutAndStderr) {
  auto ok = exec({"true"});
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->exit_code, 0);
  EXPECT_EQ(ok->output, "");
  EXPECT_FALSE(ok->timed_out);
  EXPECT_FALSE(ok->truncated);

  auto both = exec({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(both) << both.error().message();
  EXPECT_EQ(both->exit_code, 3);
  // Two pipes: the order between them is whatever was read first.
  EXPECT_TRUE(both->output == "out\nerr\n" || both->output == "err\nout\n") << both->output;

  auto err_only = exec({"sh", "-c", "echo broken >&2; exit 1"});
  ASSERT_TRUE(err_only) << err_only.error().message();
  EXPECT_EQ(err_only->exit_code, 1);
  EXPECT_EQ(err_only->output, "broken\n");

  // Output written just before exiting is not lost.
  auto last = exec({"sh", "-c", "i=0; while [ $i -lt 500 ]; do echo line$i; i=$((i+1)); done"});
  ASSERT_TRUE(last) << last.error().message();
  EXPECT_EQ(last->exit_code, 0);
  EXPECT_TRUE(last->output.ends_with("line499\n")) << last->output.size();
}

TEST_F(ExecTest, RunsWithTheContainersUserEnvAndCwdUnlessOverridden) {
  auto inherited = exec({"sh", "-c", "id -u; echo $GREETING $PATH; pwd"});
  ASSERT_TRUE(inherited) << inherited.error().message();
  EXPECT_EQ(inherited->exit_code, 0);
  EXPECT_EQ(inherited->output, "65534\nhi " + kImagePath + "\n/tmp\n");

  ExecRequest request;
  request.args = {"/bin/sh", "-c", "echo ${ONLY}-${GREETING}; pwd"};
  request.env = std::vector<std::string>{"PATH=/bin", "ONLY=me"};
  request.cwd = "/etc";
  request.timeout = 20s;
  auto overridden = exec_->run(target_id_, request);
  ASSERT_TRUE(overridden) << overridden.error().message();
  EXPECT_EQ(overridden->exit_code, 0);
  EXPECT_EQ(overridden->output, "me-\n/etc\n");
}

TEST_F(ExecTest, TimeoutKillsTheProcessAndKeepsItsOutput) {
  auto started = std::chrono::steady_clock::now();
  auto slow = exec({"sh", "-c", "echo before; exec sleep 987101"}, 500ms);
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(slow) << slow.error().message();
  EXPECT_TRUE(slow->timed_out);
  EXPECT_EQ(slow->exit_code, 128 + SIGKILL);
  EXPECT_EQ(slow->output, "before\n");
  EXPECT_GE(took, 500ms);
  EXPECT_LT(took, 5s);
  EXPECT_EQ(processes_running({"sleep", "987101"}), 0u);
  EXPECT_EQ(task_pids().size(), 1u);

  auto plain = exec({"sleep", "30"}, 500ms);
  ASSERT_TRUE(plain) << plain.error().message();
  EXPECT_TRUE(plain->timed_out);
  EXPECT_EQ(plain->exit_code, 128 + SIGKILL);
  EXPECT_EQ(task_pids().size(), 1u);
  EXPECT_TRUE(fifo_dir_entries().empty());
}

// Known gap, disabled until ExecService kills the whole process group on a
// timeout: only the exec's own process is killed, so a CMD-SHELL check such
// as "curl ...; test $? = 0" leaves its child running in the container after
// every timeout (and the result comes ~2 s late: the orphan holds the FIFOs
// and the shim's DeleteProcess waits for them). runc makes the exec process
// a session leader, so kill(-pid, SIGKILL) with the pid from Start would
// reach its children.
TEST_F(ExecTest, TimeoutAlsoKillsTheChildrenOfTheCommand) {
  auto started = std::chrono::steady_clock::now();
  auto result = exec({"sh", "-c", "sleep 987102; echo never"}, 500ms);
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_TRUE(result->timed_out);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(processes_running({"sleep", "987102"}), 0u);
  EXPECT_EQ(task_pids().size(), 1u);
}

TEST_F(ExecTest, OutputBeyondTheLimitIsCutWhileTheProcessRunsToTheEnd) {
  // Far more than a pipe holds: the process only finishes if it is drained.
  ExecRequest request;
  request.args = {"sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a"};
  request.timeout = 20s;
  request.max_output_bytes = 4096;
  auto big = exec_->run(target_id_, request);
  ASSERT_TRUE(big) << big.error().message();
  EXPECT_EQ(big->exit_code, 0);
  EXPECT_FALSE(big->timed_out);
  EXPECT_TRUE(big->truncated);
  EXPECT_EQ(big->output, std::string(4096, 'a'));

  request.args = {"sh", "-c", "printf 12345"};
  request.max_output_bytes = 5;
  auto exact = exec_->run(target_id_, request);
  ASSERT_TRUE(exact) << exact.error().message();
  EXPECT_EQ(exact->output, "12345");
  EXPECT_FALSE(exact->truncated);
}

TEST_F(ExecTest, AMissingExecutableIsAnErrorNamingIt) {
  auto absolute = exec({"/no/such/check", "--quick"});
  ASSERT_FALSE(absolute);
  EXPECT_NE(absolute.error().message().find("/no/such/check"), std::string::npos)
      << absolute.error().message();

  auto searched = exec({"no-such-check"});
  ASSERT_FALSE(searched);
  EXPECT_NE(searched.error().message().find("no-such-check"), std::string::npos)
      << searched.error().message();
  EXPECT_NE(searched.error().message().find("not found"), std::string::npos)
      << searched.error().message();

  // The failed execs were deleted from the shim; their FIFOs are gone.
  EXPECT_EQ(task_pids().size(), 1u);
  EXPECT_TRUE(fifo_dir_entries().empty());
  auto after = exec({"true"});
  ASSERT_TRUE(after) << after.error().message();
  EXPECT_EQ(after->exit_code, 0);
}

TEST_F(ExecTest, BadRequestsAreRefused) {
  auto empty = exec({});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), ErrorCode::kInvalidArgument);

  ExecRequest request;
  request.args = {"true"};
  auto unknown = exec_->run("no-such-container", request);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), ErrorCode::kNotFound) << unknown.error().message();
  EXPECT_NE(unknown.error().message().find("no-such-container"), std::string::npos)
      << unknown.error().message();
}

TEST_F(ExecTest, AContainerWithoutARunningTaskIsAFailedPrecondition) {
  // A container that has no task (made here with ctr: berth deletes a
  // container with its task).
  auto created = env().ctr(berthd_->ns(), {"containers", "create", image(), "finished"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  ExecRequest request;
  request.args = {"true"};
  auto stopped = exec_->run("finished", request);
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code(), ErrorCode::kFailedPrecondition) << stopped.error().message();
  EXPECT_NE(stopped.error().message().find("'finished'"), std::string::npos)
      << stopped.error().message();
  EXPECT_TRUE(fifo_dir_entries().empty());
  env().ctr(berthd_->ns(), {"containers", "rm", "finished"});
}

TEST_F(ExecTest, FiftySequentialExecsLeaveNothingBehind) {
  // Warm up the connection so that its descriptors are not counted as leaks.
  ASSERT_TRUE(exec({"true"}));
  const size_t fds_before = open_fds();
  std::vector<std::chrono::microseconds> times;
  for (int i = 0; i < 50; ++i) {
    auto started = std::chrono::steady_clock::now();
    auto result = exec({"sh", "-c", "echo $0", "run" + std::to_string(i)});
    times.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started));
    ASSERT_TRUE(result) << "exec " << i << ": " << result.error().message();
    ASSERT_EQ(result->exit_code, 0);
    ASSERT_EQ(result->output, "run" + std::to_string(i) + "\n");
  }
  std::sort(times.begin(), times.end());
  std::cout << "exec round trip over 50 runs: min " << times.front().count() / 1000.0
            << " ms, median " << times[times.size() / 2].count() / 1000.0 << " ms, max "
            << times.back().count() / 1000.0 << " ms\n";

  EXPECT_TRUE(fifo_dir_entries().empty());
  struct stat st {};
  ASSERT_EQ(::stat(fifo_dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(open_fds(), fds_before);
  // Only the container's own process remains, for the shim and for ctr.
  EXPECT_EQ(task_pids().size(), 1u);
  EXPECT_EQ(env().count(berthd_->ns(), {"tasks", "ps", target_id_}), 1u);
}

TEST_F(ExecTest, ConcurrentExecsKeepTheirOutputsApart) {
  std::vector<std::string> failures(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < failures.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        std::string tag = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto result = exec({"sh", "-c", "echo $0; exit 7", tag});
        if (!result) {
          failures[t] += result.error().message() + "\n";
        } else if (result->output != tag + "\n" || result->exit_code != 7) {
          failures[t] +=
              tag + ": got '" + result->output + "' " + std::to_string(result->exit_code) + "\n";
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& failure : failures) EXPECT_EQ(failure, "");
  EXPECT_TRUE(fifo_dir_entries().empty());
  EXPECT_EQ(task_pids().size(), 1u);
}

TEST_F(ExecTest, CleanupRemovesFifoDirectoriesACrashLeftBehind) {
  ASSERT_TRUE(exec({"true"}));  // creates the FIFO directory
  const std::string stale = fifo_dir_ + "/exec-stale1";
  ASSERT_TRUE(fs::create_directory(stale));
  ASSERT_EQ(::mkfifo((stale + "/stdout").c_str(), 0600), 0);
  const std::string other = fifo_dir_ + "/not-ours";
  std::ofstream(other) << "keep";
  EXPECT_EQ(exec_->reap_leftovers(), 1);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(other));
  fs::remove(other);
}

}  // namespace
}  // namespace berth::testing
