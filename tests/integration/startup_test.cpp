// berthd's start-up and shutdown: clear errors when containerd is not there,
// a 0600 API socket, configuration file then flags.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <filesystem>
#include <fstream>

#include "fixtures/integration_test.h"

namespace berth::testing {
namespace {

class StartupTest : public IntegrationTest {
 protected:
  // Runs berthd to completion (it is expected to fail) and returns its output.
  CommandResult berthd(const std::vector<std::string>& flags) {
    std::string dir = env().dir() + "/startup";
    std::vector<std::string> argv = {BERTHD_PATH,         "--root",        dir + "/root",
                                     "--state",           dir + "/state",  "--socket",
                                     dir + "/berth.sock", "--logger-path", BERTH_LOGGER_PATH};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return run_command(argv);
  }
};

// The shim hands berth-logger its log URI's query; a field name the journal
// would refuse is an error before anything is logged.
TEST_F(StartupTest, TheLoggerRefusesABadJournalFieldName) {
  std::string log = env().dir() + "/startup/logger.log";
  auto result = run_command({BERTH_LOGGER_PATH, "path", log, "journal.container-name", "x"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("'journal.container-name': a journal field name is A-Z, 0-9 and _"),
            std::string::npos)
      << result.err;
  EXPECT_FALSE(std::filesystem::exists(log));
}

TEST_F(StartupTest, MissingContainerdSocketIsNamed) {
  auto result = berthd({"--containerd-address", "/nonexistent/containerd.sock"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(
      result.out.find("containerd socket '/nonexistent/containerd.sock' is missing (is containerd "
                      "installed and running?)"),
      std::string::npos)
      << result.out << result.err;
}

TEST_F(StartupTest, ASocketNobodyAnswersIsNamed) {
  // A unix socket that exists but that no containerd serves.
  std::string path = env().dir() + "/silent.sock";
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  close(fd);  // bound, never listening: connections are refused
  auto result = berthd({"--containerd-address", path});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.out.find("does not accept connections (is it running?)"), std::string::npos)
      << result.out << result.err;
}

TEST_F(StartupTest, BadFlagsAreRefusedBeforeAnythingStarts) {
  auto result = berthd({"--registry-mirror", "docker.io"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.out.find("registry mirror 'docker.io' is not REGISTRY=ENDPOINT"),
            std::string::npos)
      << result.out;
  result = berthd({"--log-level", "loud"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.out.find("log-level: 'loud'"), std::string::npos) << result.out;
}

// An unknown cgroup driver, and the systemd driver on a host whose init is
// not systemd (this one's), stop berthd at once with one line and nothing
// made: not even its root directory.
TEST_F(StartupTest, ACgroupDriverThatCannotBeIsRefusedAndNothingIsMade) {
  std::string root = env().dir() + "/startup/root";
  std::filesystem::remove_all(root);
  auto unknown = berthd({"--cgroup-driver", "cgroupsfs"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.out.find("cgroup-driver: 'cgroupsfs' is not one of systemd, cgroupfs"),
            std::string::npos)
      << unknown.out;
  ASSERT_FALSE(std::filesystem::exists("/run/systemd/system"))
      << "this test needs a non-systemd host";
  auto systemd = berthd({"--cgroup-driver", "systemd"});
  EXPECT_EQ(systemd.exit_code, 2);
  EXPECT_NE(systemd.out.find("cgroup-driver: systemd asked for, but systemd is not this host's "
                             "init system"),
            std::string::npos)
      << systemd.out;
  EXPECT_FALSE(std::filesystem::exists(root)) << "berthd made its root before refusing";
}

TEST_F(StartupTest, SocketIsPrivateAndConfigFileYieldsToFlags) {
  std::string config = env().dir() + "/berthd.toml";
  std::ofstream(config) << "namespace = \"from-file\"\nlog_level = \"warn\"\n";
  Berthd daemon({"--config", config});  // Berthd passes --namespace itself
  ASSERT_TRUE(daemon.ok()) << daemon.log_text();
  struct stat st {};
  ASSERT_EQ(stat(daemon.socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto version = daemon.ctl({"-o", "json", "version"});
  ASSERT_EQ(version.exit_code, 0) << version.err;
  EXPECT_NE(version.out.find("\"namespace\": \"" + daemon.ns() + "\""), std::string::npos)
      << version.out;
  EXPECT_NE(version.out.find("\"containerd\": \"1."), std::string::npos) << version.out;
  // The flag --log-level debug (from the fixture) won over the file's warn.
  EXPECT_NE(daemon.log_text().find("[debug]"), std::string::npos);
}

TEST_F(StartupTest, BerthctlWithoutBerthdSaysSo) {
  auto result = run_command({BERTHCTL_PATH, "--socket", env().dir() + "/none.sock", "image", "ls"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("is berthd running?"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace berth::testing
