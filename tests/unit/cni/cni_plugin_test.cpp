// CNI plugin invocation without root, through fake plugins: shell scripts
// that record what they were given.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "cni/cni.h"
#include "cni/cni_test_util.h"
#include "cni/config.h"

namespace berth::cni {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace cni_testing;

// --- Invocation through fake plugins -------------------------------------

class CniPluginTest : public TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    plugins_ = dir_ + "/bin";
    log_ = dir_ + "/log";
    fs::create_directories(plugins_);
    fs::create_directories(log_);
    config_.plugin_dirs = {dir_ + "/empty", plugins_};
    config_.cache_dir = dir_ + "/cache";
    config_.timeout = std::chrono::seconds(10);
    attachment_.container_id = "c1";
    attachment_.netns = "/var/run/netns/test";
    attachment_.ifname = "eth0";
    attachment_.args = {{"K8S_POD_NAME", "web"}};
    attachment_.capabilities.port_mappings = {{8080, 80, "tcp", ""}};
  }

  void script(const std::string& name, const std::string& body) {
    std::string path = plugins_ + "/" + name;
    write_file(path, "#!/bin/sh\nlog=" + log_ + "\necho \"$CNI_COMMAND " + name +
                         "\" >> $log/order\n" + body);
    ::chmod(path.c_str(), 0755);
  }
  // Records its environment and stdin per command; on ADD prints a result
  // giving `address` to eth0 in the netns.
  void recorder(const std::string& name, const std::string& address) {
    script(name,
           "env | grep '^CNI_' | sort > $log/" + name + ".$CNI_COMMAND.env\n" + "cat > $log/" +
               name + ".$CNI_COMMAND.stdin\n" +
               "case $CNI_COMMAND in\n"
               "ADD) printf '%s' '{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\","
               "\"sandbox\":\"'$CNI_NETNS'\"}],\"ips\":[{\"address\":\"" +
               address +
               "\",\"interface\":0}]}' ;;\n"
               "VERSION) echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":"
               "[\"0.4.0\",\"1.0.0\"]}' ;;\n"
               "esac\n");
  }
  json stdin_of(const std::string& name, const std::string& command) {
    return json::parse(read_file(log_ + "/" + name + "." + command + ".stdin"));
  }
  std::string order() { return read_file(log_ + "/order"); }
  NetworkList list(const std::vector<std::string>& types, const std::string& version = "1.0.0") {
    json document = {{"cniVersion", version}, {"name", "test"}, {"plugins", json::array()}};
    for (const auto& type : types) {
      document["plugins"].push_back(
          {{"type", type}, {"capabilities", {{"portMappings", type == "rec2"}}}});
    }
    return parse_network_list(document.dump()).value();
  }
  std::string cache_file() { return config_.cache_dir + "/test-c1-eth0"; }

  std::string plugins_;
  std::string log_;
  CniConfig config_;
  Attachment attachment_;
};

TEST_F(CniPluginTest, AddPassesEnvironmentAndChainsResults) {
  recorder("rec1", "10.1.0.2/24");
  recorder("rec2", "10.1.0.3/24");
  Cni cni(config_);
  auto result = cni.add(list({"rec1", "rec2"}), attachment_);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(order(), "ADD rec1\nADD rec2\n");

  std::string env = read_file(log_ + "/rec1.ADD.env");
  EXPECT_NE(env.find("CNI_COMMAND=ADD\n"), std::string::npos) << env;
  EXPECT_NE(env.find("CNI_CONTAINERID=c1\n"), std::string::npos);
  EXPECT_NE(env.find("CNI_NETNS=/var/run/netns/test\n"), std::string::npos);
  EXPECT_NE(env.find("CNI_IFNAME=eth0\n"), std::string::npos);
  EXPECT_NE(env.find("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=web\n"), std::string::npos);
  EXPECT_NE(env.find("CNI_PATH=" + dir_ + "/empty:" + plugins_ + "\n"), std::string::npos);

  json first = stdin_of("rec1", "ADD");
  EXPECT_EQ(first["name"], "test");
  EXPECT_FALSE(first.contains("prevResult"));
  EXPECT_FALSE(first.contains("runtimeConfig"));  // rec1 declares no capability
  json second = stdin_of("rec2", "ADD");
  ASSERT_TRUE(second.contains("prevResult"));
  EXPECT_EQ(second["prevResult"]["ips"][0]["address"], "10.1.0.2/24");
  EXPECT_EQ(second["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);

  // The last plugin's result is the list's.
  EXPECT_EQ(sandbox_addresses(*result, "eth0"), std::vector<std::string>{"10.1.0.3"});
  auto record = parse_cache_record(read_file(cache_file()));
  ASSERT_TRUE(record) << record.error().message();
  ASSERT_TRUE(record->result.has_value());
  EXPECT_EQ((*record->result)["ips"][0]["address"], "10.1.0.3/24");
  EXPECT_EQ(record->args, attachment_.args);
  auto cached = cni.cached_result("test", "c1", "eth0");
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->ips[0].address, "10.1.0.3/24");
}

TEST_F(CniPluginTest, CacheIsWrittenBeforeTheFirstPluginRuns) {
  // The plugin copies the cache file as it finds it while running.
  script("peek", "cat > /dev/null\ncp " + config_.cache_dir + "/test-c1-eth0 $log/seen\n" +
                     "echo '{\"cniVersion\":\"1.0.0\"}'\n");
  Cni cni(config_);
  ASSERT_TRUE(cni.add(list({"peek"}), attachment_));
  auto seen = parse_cache_record(read_file(log_ + "/seen"));
  ASSERT_TRUE(seen) << seen.error().message();
  EXPECT_FALSE(seen->result.has_value());
  EXPECT_EQ(seen->container_id, "c1");
  EXPECT_EQ(json::parse(seen->config)["plugins"][0]["type"], "peek");
}

TEST_F(CniPluginTest, FailedAddRunsDelInReverseAndCarriesTheMessage) {
  recorder("rec1", "10.1.0.2/24");
  recorder("rec2", "10.1.0.3/24");
  script("fail",
         "cat > /dev/null\n"
         "[ $CNI_COMMAND = ADD ] || exit 0\n"
         "echo '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"no addresses left\","
         "\"details\":\"range 10.1.0.0/30 is full\"}'\nexit 1\n");
  Cni cni(config_);
  auto result = cni.add(list({"rec1", "fail", "rec2"}), attachment_);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(result.error().message(),
            "CNI plugin 'fail' (network 'test') ADD failed: no addresses left: range 10.1.0.0/30 "
            "is full");
  // The whole list, rec2 included (it never ran; DEL must be harmless).
  EXPECT_EQ(order(), "ADD rec1\nADD fail\nDEL rec2\nDEL fail\nDEL rec1\n");
  // DEL saw what had been made.
  EXPECT_EQ(stdin_of("rec1", "DEL")["prevResult"]["ips"][0]["address"], "10.1.0.2/24");
  EXPECT_FALSE(fs::exists(cache_file()));
}

TEST_F(CniPluginTest, ErrorWithoutJsonFallsBackToStderrAndStatus) {
  script("crash", "cat > /dev/null\necho 'panic: nil map' >&2\nexit 2\n");
  script("mute", "cat > /dev/null\nexit 3\n");
  script("errjson", "cat > /dev/null\necho '{\"code\":4,\"msg\":\"bad config\"}' >&2\nexit 1\n");
  Cni cni(config_);
  auto crash = cni.add(list({"crash"}), attachment_);
  ASSERT_FALSE(crash);
  EXPECT_EQ(crash.error().code(), ErrorCode::kInternal);
  EXPECT_EQ(crash.error().message(),
            "CNI plugin 'crash' (network 'test') ADD failed: panic: nil map (exit status 2)");
  auto mute = cni.add(list({"mute"}), attachment_);
  ASSERT_FALSE(mute);
  EXPECT_EQ(mute.error().message(), "CNI plugin 'mute' (network 'test') ADD failed: exit status 3");
  // The error JSON on stderr, as the spec words it.
  auto errjson = cni.add(list({"errjson"}), attachment_);
  ASSERT_FALSE(errjson);
  EXPECT_EQ(errjson.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(errjson.error().message(),
            "CNI plugin 'errjson' (network 'test') ADD failed: bad config");
}

TEST_F(CniPluginTest, MissingPluginIsNamedAndLeavesNoCache) {
  recorder("rec1", "10.1.0.2/24");
  Cni cni(config_);
  auto result = cni.add(list({"rec1", "nosuch"}), attachment_);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(result.error().message(),
            "CNI plugin 'nosuch' not found in " + dir_ + "/empty:" + plugins_);
  EXPECT_EQ(order(), "ADD rec1\nDEL rec1\n");
  EXPECT_FALSE(fs::exists(cache_file()));
}

TEST_F(CniPluginTest, NonExecutableFileIsNotAPlugin) {
  write_file(plugins_ + "/plain", "#!/bin/sh\n");
  ::chmod((plugins_ + "/plain").c_str(), 0644);
  Cni cni(config_);
  auto result = cni.add(list({"plain"}), attachment_);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("CNI plugin 'plain' not found"), std::string::npos);
}

TEST_F(CniPluginTest, TimeoutKillsThePluginAndWhatItStarted) {
  script("sleeper", "cat > /dev/null\nsleep 30 &\necho $! > $log/child.pid\nwait\n");
  config_.timeout = std::chrono::milliseconds(300);
  Cni cni(config_);
  auto start = std::chrono::steady_clock::now();
  auto result = cni.add(list({"sleeper"}), attachment_);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(result.error().message(),
            "CNI plugin 'sleeper' (network 'test') ADD failed: timed out after 300ms, killed");
  // ADD and the DEL that undoes it both time out.
  EXPECT_LT(took, std::chrono::seconds(5));
  // The sleep the script started went with it (its process group).
  pid_t child = std::stoi(read_file(log_ + "/child.pid"));
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = ::kill(child, 0) != 0;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone) << "pid " << child << " outlived the timeout";
  EXPECT_FALSE(fs::exists(cache_file()));
}

TEST_F(CniPluginTest, PluginThatIgnoresStdinDoesNotHurt) {
  // A config larger than a pipe buffer, and a plugin that never reads it:
  // the write must end in EPIPE, not SIGPIPE or a hang.
  script("deaf", "echo '{\"cniVersion\":\"1.0.0\"}'\n");
  json document = {{"cniVersion", "1.0.0"},
                   {"name", "test"},
                   {"plugins", {{{"type", "deaf"}, {"padding", std::string(1 << 20, 'x')}}}}};
  Cni cni(config_);
  auto result = cni.add(parse_network_list(document.dump()).value(), attachment_);
  ASSERT_TRUE(result) << result.error().message();
}

TEST_F(CniPluginTest, RetriesWhileThePluginFileIsBusy) {
  recorder("rec1", "10.1.0.2/24");
  // An open writer makes execve fail with ETXTBSY, as during an upgrade.
  int writer = ::open((plugins_ + "/rec1").c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(writer, 0);
  std::thread release([writer] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    ::close(writer);
  });
  Cni cni(config_);
  auto versions = cni.versions("rec1");
  release.join();
  ASSERT_TRUE(versions) << versions.error().message();
  EXPECT_EQ(*versions, (std::vector<std::string>{"0.4.0", "1.0.0"}));
}

TEST_F(CniPluginTest, DelRunsInReverseWithCachedConfigAndRemovesTheEntry) {
  recorder("rec1", "10.1.0.2/24");
  recorder("rec2", "10.1.0.3/24");
  Cni cni(config_);
  ASSERT_TRUE(cni.add(list({"rec1", "rec2"}), attachment_));
  ASSERT_TRUE(fs::exists(cache_file()));

  // No netns given (as after the namespace is gone): CNI_NETNS is empty.
  auto deleted = cni.del("test", "c1", "eth0");
  ASSERT_TRUE(deleted) << deleted.error().message();
  EXPECT_EQ(order(), "ADD rec1\nADD rec2\nDEL rec2\nDEL rec1\n");
  std::string env = read_file(log_ + "/rec2.DEL.env");
  EXPECT_NE(env.find("CNI_NETNS=\n"), std::string::npos) << env;
  EXPECT_NE(env.find("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=web\n"), std::string::npos);
  json del = stdin_of("rec2", "DEL");
  EXPECT_EQ(del["prevResult"]["ips"][0]["address"], "10.1.0.3/24");
  EXPECT_EQ(del["runtimeConfig"]["portMappings"][0]["containerPort"], 80);
  EXPECT_EQ(stdin_of("rec1", "DEL")["prevResult"]["ips"][0]["address"], "10.1.0.3/24");
  EXPECT_FALSE(fs::exists(cache_file()));

  // Again: no cache entry, nothing runs, fine.
  ASSERT_TRUE(cni.del("test", "c1", "eth0"));
  EXPECT_EQ(order(), "ADD rec1\nADD rec2\nDEL rec2\nDEL rec1\n");
}

TEST_F(CniPluginTest, DelPassesAnExistingNetns) {
  recorder("rec1", "10.1.0.2/24");
  Cni cni(config_);
  ASSERT_TRUE(cni.add(list({"rec1"}), attachment_));
  ASSERT_TRUE(cni.del("test", "c1", "eth0", dir_));  // any existing path
  EXPECT_NE(read_file(log_ + "/rec1.DEL.env").find("CNI_NETNS=" + dir_ + "\n"), std::string::npos);
}

TEST_F(CniPluginTest, DelContinuesPastAFailureAndKeepsTheEntry) {
  recorder("rec1", "10.1.0.2/24");
  script("faildel",
         "cat > /dev/null\n"
         "[ $CNI_COMMAND = DEL ] || { echo '{\"cniVersion\":\"1.0.0\"}'; exit 0; }\n"
         "echo '{\"code\":999,\"msg\":\"iptables is locked\"}'\nexit 1\n");
  Cni cni(config_);
  ASSERT_TRUE(cni.add(list({"rec1", "faildel"}), attachment_));
  auto deleted = cni.del("test", "c1", "eth0");
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().message(),
            "CNI plugin 'faildel' (network 'test') DEL failed: iptables is locked");
  EXPECT_EQ(order(), "ADD rec1\nADD faildel\nDEL faildel\nDEL rec1\n");
  EXPECT_TRUE(fs::exists(cache_file()));
  ASSERT_EQ(cni.cached().size(), 1u);
}

TEST_F(CniPluginTest, DelWithExplicitListWhenThereIsNoCache) {
  recorder("rec1", "10.1.0.2/24");
  recorder("rec2", "10.1.0.3/24");
  Cni cni(config_);
  ASSERT_TRUE(cni.del(list({"rec1", "rec2"}), attachment_));
  EXPECT_EQ(order(), "DEL rec2\nDEL rec1\n");
  json del = stdin_of("rec2", "DEL");
  EXPECT_FALSE(del.contains("prevResult"));
  EXPECT_EQ(del["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
  // The netns does not exist, so it is not passed.
  EXPECT_NE(read_file(log_ + "/rec2.DEL.env").find("CNI_NETNS=\n"), std::string::npos);
}

TEST_F(CniPluginTest, CheckUsesCachedResultAndOnlyFrom040) {
  recorder("rec1", "10.1.0.2/24");
  recorder("rec2", "10.1.0.3/24");
  Cni cni(config_);
  NetworkList network = list({"rec1", "rec2"});
  auto missing = cni.check(network, attachment_);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);

  ASSERT_TRUE(cni.add(network, attachment_));
  auto checked = cni.check(network, attachment_);
  ASSERT_TRUE(checked) << checked.error().message();
  EXPECT_EQ(order(), "ADD rec1\nADD rec2\nCHECK rec1\nCHECK rec2\n");
  EXPECT_EQ(stdin_of("rec1", "CHECK")["prevResult"]["ips"][0]["address"], "10.1.0.3/24");

  network.disable_check = true;
  ASSERT_TRUE(cni.check(network, attachment_));
  NetworkList old = list({"rec1", "rec2"}, "0.3.1");
  ASSERT_TRUE(cni.check(old, attachment_));
  EXPECT_EQ(order(), "ADD rec1\nADD rec2\nCHECK rec1\nCHECK rec2\n");
}

TEST_F(CniPluginTest, CachedListsEntriesByTheirJson) {
  recorder("rec1", "10.1.0.2/24");
  Cni cni(config_);
  NetworkList network = list({"rec1"});
  network.name = "my-net";
  attachment_.container_id = "abc-def";
  ASSERT_TRUE(cni.add(network, attachment_));
  attachment_.ifname = "eth1";
  ASSERT_TRUE(cni.add(network, attachment_));
  write_file(config_.cache_dir + "/garbage", "not json");
  write_file(config_.cache_dir + "/my-net-x-eth0.tmp", "{}");
  auto entries = cni.cached();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].network, "my-net");
  EXPECT_EQ(entries[0].container_id, "abc-def");
  EXPECT_EQ(entries[0].ifname, "eth0");
  EXPECT_EQ(entries[0].path, config_.cache_dir + "/my-net-abc-def-eth0");
  EXPECT_EQ(entries[1].ifname, "eth1");
  EXPECT_FALSE(cni.cached_result("my-net", "nope", "eth0").has_value());
}

TEST_F(CniPluginTest, RejectsNamesThatWouldEscapeTheCacheDir) {
  Cni cni(config_);
  attachment_.container_id = "../x";
  auto result = cni.add(list({"rec1"}), attachment_);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(CniPluginTest, RejectsAListWithoutPlugins) {
  Cni cni(config_);
  NetworkList empty;
  empty.name = "test";
  empty.cni_version = "1.0.0";
  auto result = cni.add(empty, attachment_);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(cache_file()));
}

}  // namespace
}  // namespace berth::cni
