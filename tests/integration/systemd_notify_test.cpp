// berthd as a Type=notify service: what a service manager hears on the
// NOTIFY_SOCKET it gives berthd (a real datagram socket this test binds):
// READY=1 only once the tasks are adopted and the API answers, a status
// line, keep-alives at the WATCHDOG_USEC pace, STOPPING=1 at SIGTERM. Its
// unit file passes systemd-analyze verify.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/fd.h"
#include "fixtures/task_fixture.h"

namespace berth::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class SystemdNotifyTest : public TaskTest {
 protected:
  // Binds the manager's socket at `path`.
  bool bind_manager(const std::string& path) {
    ::unlink(path.c_str());
    manager_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    return ::bind(manager_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  // Datagrams until one holds `needle` (that one), or nullopt at the deadline.
  std::optional<std::string> await_message(const std::string& needle,
                                           std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{manager_.get(), POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(manager_.get(), buf, sizeof buf, 0);
      if (n <= 0) continue;
      std::string message(buf, static_cast<size_t>(n));
      heard_.push_back(message);
      if (message.find(needle) != std::string::npos) return message;
    }
    return std::nullopt;
  }
  // Reads whatever datagrams are queued.
  void drain() {
    char buf[4096];
    while (::recv(manager_.get(), buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
  }
  UniqueFd manager_;
  std::vector<std::string> heard_;
};

TEST_F(SystemdNotifyTest, ReadyAfterAdoptionThenStatusKeepAlivesAndStopping) {
  std::string task =
      run({{"family", "notify"},
           {"networkMode", "none"},
           {"containerDefinitions",
            {{{"name", "app"},
              {"image", "busybox:latest"},
              {"command", {"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"}}}}}});
  json running = wait_status(task, "RUNNING");
  // A crash: the berthd that systemd starts next adopts the task.
  berthd_->kill(SIGKILL);
  std::string path = berthd_->dir() + "/manager.sock";
  ASSERT_TRUE(bind_manager(path));
  auto service = Process::start(berthd_->argv(), berthd_->dir() + "/service.log", false,
                                std::chrono::seconds(30),
                                {{"NOTIFY_SOCKET", path}, {"WATCHDOG_USEC", "400000"}});
  ASSERT_TRUE(service);
  auto ready = await_message("READY=1", std::chrono::seconds(60));
  ASSERT_TRUE(ready) << read_file(berthd_->dir() + "/service.log");
  // At READY=1 the API answers and the task is already adopted.
  json adopted = describe(task);
  EXPECT_EQ(adopted.value("status", ""), "RUNNING");
  EXPECT_EQ(container(adopted, "app").value("pid", -1), container(running, "app").value("pid", 0));
  EXPECT_NE(ready->find("STATUS=1 task(s) running; containerd reachable"), std::string::npos)
      << *ready;
  // Keep-alives at a quarter of the 400 ms interval.
  auto first = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(await_message("WATCHDOG=1", std::chrono::seconds(5))) << i;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - first, std::chrono::seconds(3));
  // SIGTERM: STOPPING=1, a clean exit, and the task runs on. The socket is
  // read until berthd is gone, so that no send of its waits on a full queue.
  ::kill(service->pid(), SIGTERM);
  EXPECT_TRUE(await_message("STOPPING=1", std::chrono::seconds(30)));
  std::optional<int> exit_code;
  while (!(exit_code = service->wait_for(std::chrono::milliseconds(100)))) {
    drain();
  }
  EXPECT_EQ(*exit_code, 0);
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  EXPECT_EQ(container(describe(task), "app").value("pid", -1),
            container(running, "app").value("pid", 0));
}

// A berthd whose engine stops answering withholds WATCHDOG=1 (so systemd
// restarts it) and says why in its status; once the engine answers again,
// the keep-alives come back. The stall: a failpoint holds the engine's
// owner loop for 9 s inside a task removal.
TEST_F(SystemdNotifyTest, AHungEngineWithholdsTheKeepAliveUntilItAnswersAgain) {
  berthd_->kill(SIGKILL);
  std::string path = berthd_->dir() + "/manager.sock";
  ASSERT_TRUE(bind_manager(path));
  std::vector<std::string> argv = berthd_->argv();
  argv[0] = BERTHD_FAILPOINTS_PATH;
  auto service =
      Process::start(argv, berthd_->dir() + "/service.log", false, std::chrono::seconds(30),
                     {{"NOTIFY_SOCKET", path},
                      {"WATCHDOG_USEC", "2000000"},
                      {"BERTH_FAILPOINTS", "engine.remove_task=delay:9000"}});
  ASSERT_TRUE(service);
  ASSERT_TRUE(await_message("READY=1", std::chrono::seconds(60)))
      << read_file(berthd_->dir() + "/service.log");
  ASSERT_TRUE(await_message("WATCHDOG=1", std::chrono::seconds(5)));

  auto stalled_at = std::chrono::steady_clock::now();
  auto removal = LineReader::spawn(berthd_->ctl_argv({"rm", "no-such-task"}));
  ASSERT_TRUE(removal);
  auto unwell = await_message("the task engine does not answer", std::chrono::seconds(15));
  ASSERT_TRUE(unwell) << read_file(berthd_->dir() + "/service.log");
  EXPECT_NE(unwell->find("STATUS="), std::string::npos) << *unwell;
  EXPECT_EQ(unwell->find("WATCHDOG=1"), std::string::npos) << *unwell;
  // The next keep-alive comes only once the stall is over.
  ASSERT_TRUE(await_message("WATCHDOG=1", std::chrono::seconds(15)));
  EXPECT_GE(std::chrono::steady_clock::now() - stalled_at, std::chrono::milliseconds(8500))
      << "a keep-alive went while the engine did not answer";
  EXPECT_NE(removal->wait(), 0);  // the removal itself finds no such task
  ASSERT_TRUE(await_message("running; containerd reachable", std::chrono::seconds(5)));

  ::kill(service->pid(), SIGTERM);
  std::optional<int> exit_code;
  while (!(exit_code = service->wait_for(std::chrono::milliseconds(100)))) {
    drain();
  }
  EXPECT_EQ(*exit_code, 0);
}

TEST(SystemdUnitTest, TheUnitFilePassesSystemdAnalyzeVerify) {
  // The unit as packaged, but for ExecStart's binary: this build's, since
  // verify checks that it exists and is executable.
  std::string source = std::string(BERTH_SOURCE_DIR) + "/systemd/berthd.service";
  std::string unit;
  {
    std::ifstream in(source);
    std::stringstream text;
    text << in.rdbuf();
    unit = text.str();
  }
  ASSERT_NE(unit.find("ExecStart=/usr/bin/berthd "), std::string::npos);
  unit = std::regex_replace(unit, std::regex("ExecStart=/usr/bin/berthd"),
                            std::string("ExecStart=") + BERTHD_PATH);
  fs::path dir = fs::temp_directory_path() / ("berth-unit-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream out(dir / "berthd.service");
    out << unit;
  }
  auto verify = run_command({"systemd-analyze", "verify", "--man=no", (dir / "berthd.service")});
  fs::remove_all(dir);
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  // What the issue and a kubelet-like agent need from it.
  for (const char* line :
       {"Type=notify", "NotifyAccess=main", "KillMode=process", "Delegate=yes", "Restart=always",
        "WatchdogSec=", "Wants=network-online.target containerd.service",
        "LimitNOFILE=", "TasksMax="}) {
    EXPECT_NE(unit.find(line), std::string::npos) << line;
  }
}

TEST(PackageTest, TheDebHoldsTheProgramsTheUnitAndTheConfigAndNamesItsDependencies) {
  fs::path out = fs::temp_directory_path() / ("berth-deb-" + std::to_string(::getpid()));
  fs::create_directories(out);
  std::string build = fs::path(BERTHD_PATH).parent_path();
  auto made = run_command({std::string(BERTH_SOURCE_DIR) + "/scripts/package.sh", build, out});
  ASSERT_EQ(made.exit_code, 0) << made.out << made.err;
  std::string deb = made.out.substr(0, made.out.find('\n'));
  auto info = run_command({"dpkg-deb", "--field", deb, "Package", "Depends"});
  auto files = run_command({"dpkg-deb", "--contents", deb});
  auto conffiles = run_command({"dpkg-deb", "--info", deb, "conffiles"});
  fs::remove_all(out);
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("Package: berth"), std::string::npos) << info.out;
  for (const char* dependency :
       {"containerd", "runc", "containernetworking-plugins", "libc6", "libsystemd0"}) {
    EXPECT_NE(info.out.find(dependency), std::string::npos) << dependency << "\n" << info.out;
  }
  for (const char* path :
       {"./usr/bin/berthd", "./usr/bin/berthctl", "./usr/bin/berth-logger", "./usr/bin/berth-runc",
        "./usr/bin/berth-pause", "./lib/systemd/system/berthd.service",
        "./usr/lib/tmpfiles.d/berth.conf", "./etc/berth/berthd.toml",
        "./usr/lib/systemd/logind.conf.d/berth.conf"}) {
    EXPECT_NE(files.out.find(path), std::string::npos) << path << "\n" << files.out;
  }
  EXPECT_NE(conffiles.out.find("/etc/berth/berthd.toml"), std::string::npos) << conffiles.out;
}

}  // namespace
}  // namespace berth::testing
