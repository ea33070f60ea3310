// The task engine end to end: ECS task definitions through berthctl and
// berthd, against the private containerd, with images served by the test
// registry as docker.io through a mirror.
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

TEST_F(TaskTest, SidecarStartsWhenTheServerIsHealthyAndStopRemovesEverything) {
  json server = busybox("server", {"httpd", "-f", "-p", "8080", "-h", "/etc"});
  // The task has no network yet (issue 4): the check looks for the process.
  server["healthCheck"] = {
      {"command", {"CMD-SHELL", "pidof httpd"}}, {"interval", 5}, {"timeout", 2}, {"retries", 3}};
  json sidecar = busybox("sidecar", {"sh", "-c", "echo sidecar up; exec sleep 100000"});
  sidecar["dependsOn"] = {{{"containerName", "server"}, {"condition", "HEALTHY"}}};
  std::string id = run({{"family", "web"}, {"containerDefinitions", {server, sidecar}}});
  ASSERT_FALSE(id.empty());

  json task = wait_status(id, "RUNNING");
  EXPECT_EQ(task["health"], "HEALTHY");
  EXPECT_EQ(container(task, "server")["health"], "HEALTHY");
  EXPECT_EQ(container(task, "sidecar")["status"], "RUNNING");
  EXPECT_GT(ms(container(task, "sidecar")["startedAtMs"]),
            ms(container(task, "server")["startedAtMs"]));
  EXPECT_EQ(container(task, "server")["imageDigest"], env().digest("OCI_INDEX_DIGEST"));

  auto ps = berthd_->ctl({"ps"});
  EXPECT_NE(ps.out.find(id), std::string::npos) << ps.out;
  EXPECT_NE(ps.out.find("2/2 running"), std::string::npos) << ps.out;
  auto logs = berthd_->ctl({"logs", id, "sidecar"});
  EXPECT_EQ(logs.out, "sidecar up\n");

  auto stopped = berthd_->ctl({"-o", "json", "stop", id});
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err;
  task = json::parse(stopped.out);
  EXPECT_EQ(task["status"], "STOPPED");
  EXPECT_EQ(task["stopCode"], "UserInitiated");
  EXPECT_TRUE(container(task, "server")["hasExitCode"].get<bool>());
  EXPECT_EQ(berthd_->leftovers(), "");

  // Logs outlive the task until it is removed.
  EXPECT_EQ(berthd_->ctl({"logs", id, "sidecar"}).out, "sidecar up\n");
  ASSERT_EQ(berthd_->ctl({"rm", id}).exit_code, 0);
  EXPECT_NE(berthd_->ctl({"describe", id}).exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(berthd_->root() + "/logs/" + id + "-sidecar.log"));
}

TEST_F(TaskTest, EssentialExitStopsTheOthersAfterTheirStopTimeout) {
  json main = busybox("main", {"sh", "-c", "sleep 1; exit 3"});
  // sleep as pid 1 ignores SIGTERM: SIGKILL after stopTimeout ends it.
  json stubborn = busybox("stubborn", {"sleep", "100000"});
  stubborn["essential"] = false;
  stubborn["stopTimeout"] = 2;
  std::string id = run({{"family", "essential"}, {"containerDefinitions", {main, stubborn}}});
  json task = wait_status(id, "STOPPED");
  EXPECT_EQ(task["stopCode"], "EssentialContainerExited");
  EXPECT_EQ(task["stoppedReason"], "Essential container in task exited");
  EXPECT_EQ(container(task, "main")["exitCode"], 3);
  EXPECT_EQ(container(task, "stubborn")["exitCode"], 137);
  int64_t waited =
      ms(container(task, "stubborn")["stoppedAtMs"]) - ms(container(task, "main")["stoppedAtMs"]);
  EXPECT_GE(waited, 2000) << "SIGKILL came before the stopTimeout";
}

TEST_F(TaskTest, NonEssentialExitLeavesTheTaskRunning) {
  json helper = busybox("helper", {"sh", "-c", "exit 5"});
  helper["essential"] = false;
  json main = busybox("main", {"sleep", "100000"});
  main["dependsOn"] = {{{"containerName", "helper"}, {"condition", "COMPLETE"}}};
  std::string id = run({{"family", "nonessential"}, {"containerDefinitions", {helper, main}}});
  json task = wait_status(id, "RUNNING");
  EXPECT_EQ(container(task, "helper")["status"], "STOPPED");
  EXPECT_EQ(container(task, "helper")["exitCode"], 5);
  EXPECT_EQ(container(task, "main")["status"], "RUNNING");
}

TEST_F(TaskTest, SuccessConditionFailsTheTaskOnANonZeroExit) {
  json init = busybox("init", {"sh", "-c", "exit 4"});
  init["essential"] = false;
  json main = busybox("main", {"sleep", "100000"});
  main["dependsOn"] = {{{"containerName", "init"}, {"condition", "SUCCESS"}}};
  std::string id = run({{"family", "success"}, {"containerDefinitions", {init, main}}});
  json task = wait_status(id, "STOPPED");
  EXPECT_EQ(task["stopCode"], "TaskFailedToStart");
  EXPECT_NE(task["stoppedReason"].get<std::string>().find("exited with 4"), std::string::npos)
      << task.dump(2);
  EXPECT_EQ(ms(container(task, "main")["startedAtMs"]), 0) << "main must never have started";
}

TEST_F(TaskTest, SuccessConditionStartsTheDependentAfterExitZero) {
  json init = busybox("init", {"sh", "-c", "echo prepared"});
  init["essential"] = false;
  json main = busybox("main", {"sleep", "100000"});
  main["dependsOn"] = {{{"containerName", "init"}, {"condition", "SUCCESS"}}};
  std::string id = run({{"family", "success-ok"}, {"containerDefinitions", {init, main}}});
  json task = wait_status(id, "RUNNING");
  EXPECT_EQ(container(task, "init")["exitCode"], 0);
  EXPECT_GE(ms(container(task, "main")["startedAtMs"]), ms(container(task, "init")["stoppedAtMs"]));
}

TEST_F(TaskTest, StartTimeoutExpires) {
  json slow = busybox("slow", {"sleep", "100000"});
  slow["essential"] = false;
  json main = busybox("main", {"sleep", "100000"});
  main["dependsOn"] = {{{"containerName", "slow"}, {"condition", "COMPLETE"}}};
  main["startTimeout"] = 2;
  std::string id = run({{"family", "timeout"}, {"containerDefinitions", {slow, main}}});
  json task = wait_status(id, "STOPPED");
  EXPECT_EQ(task["stopCode"], "TaskFailedToStart");
  EXPECT_NE(task["stoppedReason"].get<std::string>().find("startTimeout"), std::string::npos);
}

TEST_F(TaskTest, UnhealthyContainerIsReportedWithItsOutput) {
  json main = busybox("main", {"sleep", "100000"});
  main["healthCheck"] = {{"command", {"CMD-SHELL", "echo broken; exit 1"}},
                         {"interval", 5},
                         {"timeout", 2},
                         {"retries", 1}};
  std::string id = run({{"family", "unhealthy"}, {"containerDefinitions", {main}}});
  json task = wait_for(id, [](const json& t) { return t.value("health", "") == "UNHEALTHY"; });
  EXPECT_EQ(container(task, "main")["healthOutput"], "broken\n");
  EXPECT_EQ(task["status"], "RUNNING") << "berth reports; it does not kill unhealthy tasks";
}

TEST_F(TaskTest, BadDefinitionsAreRefusedAndCreateNothing) {
  struct Case {
    std::string text;
    std::string error;
  };
  std::vector<Case> cases = {
      {"{\"family\": ", "JSON"},
      {R"({"family":"x","containerDefinitions":[{"name":"a","image":"busybox",
          "dependsOn":[{"containerName":"db","condition":"START"}]}]})",
       "containerDefinitions[0].dependsOn[0].containerName"},
      {R"({"family":"x","containerDefinitions":[
          {"name":"a","image":"busybox","dependsOn":[{"containerName":"b","condition":"START"}]},
          {"name":"b","image":"busybox","dependsOn":[{"containerName":"a","condition":"START"}]}]})",
       "cycle"},
      {R"({"family":"x","containerDefinitions":[{"name":"a","image":"busybox","privileged":true}]})",
       "containerDefinitions[0].privileged"},
  };
  for (const auto& c : cases) {
    std::string path = berthd_->root() + "/../bad.json";
    {
      std::ofstream out(path);
      out << c.text;
    }
    auto result = berthd_->ctl({"run", "-f", path});
    EXPECT_NE(result.exit_code, 0) << c.text;
    EXPECT_NE(result.err.find(c.error), std::string::npos) << result.err;
  }
  auto ps = berthd_->ctl({"-o", "json", "ps", "-a"});
  EXPECT_EQ(json::parse(ps.out).value("tasks", json::array()).size(), 0u) << ps.out;
  EXPECT_EQ(berthd_->leftovers(), "");
}

TEST_F(TaskTest, RunDetachedImageIsAOneContainerTask) {
  auto result = berthd_->ctl({"run", "-d", "--name", "greeter", "-e", "GREETING=hello", "-w",
                              "/tmp", "--stop-timeout", "1", "busybox:latest", "--", "sh", "-c",
                              "echo $GREETING from $(pwd); exec sleep 100000"});
  ASSERT_EQ(result.exit_code, 0) << result.err << berthd_->log_text();
  std::string id = result.out.substr(0, result.out.find('\n'));
  json task = wait_status(id, "RUNNING");
  EXPECT_EQ(task["family"], "greeter");
  EXPECT_EQ(task["name"], "greeter");
  ASSERT_EQ(task["containers"].size(), 1u);
  EXPECT_TRUE(container(task, "greeter")["essential"].get<bool>());
  // The output is in the task's log as soon as it was written; await it.
  wait_for(id, [&](const json&) {
    return berthd_->ctl({"logs", id}).out.find("hello from /tmp") != std::string::npos;
  });
  auto stop = berthd_->ctl({"-o", "json", "stop", id});
  ASSERT_EQ(stop.exit_code, 0) << stop.err;
  json stopped = describe(id);
  EXPECT_EQ(stopped["status"], "STOPPED");
  EXPECT_EQ(stopped["stopCode"], "UserInitiated");

  // The image's name makes the family when there is no --name.
  auto unnamed = berthd_->ctl({"run", "-d", "busybox:latest", "--", "true"});
  ASSERT_EQ(unnamed.exit_code, 0) << unnamed.err;
  json done = wait_status(unnamed.out.substr(0, unnamed.out.find('\n')), "STOPPED");
  EXPECT_EQ(done["family"], "busybox");
  EXPECT_EQ(container(done, "busybox")["exitCode"], 0);

  // Bad flags are refused before anything is created.
  auto bad = berthd_->ctl({"run", "-d", "-e", "NOEQUALS", "busybox:latest"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--env 'NOEQUALS'"), std::string::npos) << bad.err;
  auto both = berthd_->ctl({"run", "-d", "--rm", "busybox:latest"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.err.find("--rm and -d"), std::string::npos) << both.err;
}

TEST_F(TaskTest, StaticTasksFollowTheirManifestDirectoryAcrossRestarts) {
  char dir_template[] = "/tmp/berth-manifests-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  std::string dir = dir_template;
  std::shared_ptr<void> remove_dir(nullptr, [&](void*) { std::filesystem::remove_all(dir); });
  auto write = [&](const std::string& file, const json& definition) {
    // Written beside and renamed, as a careful tool would; the check reads
    // whole files either way.
    std::ofstream(dir + "/." + file + ".tmp") << definition.dump(2);
    std::filesystem::rename(dir + "/." + file + ".tmp", dir + "/" + file);
  };
  auto web = [](const std::string& version) {
    return json{{"family", "web"},
                {"containerDefinitions",
                 {busybox("main", {"sh", "-c", "echo " + version + "; exec sleep 100000"})}}};
  };
  write("web.json", web("v1"));
  std::ofstream(dir + "/bad.json") << R"({"family": "bad"})";
  std::ofstream(dir + "/notes.txt") << "not a manifest";
  std::ofstream(dir + "/.hidden.json") << web("hidden").dump();
  berthd_.reset();
  start_berthd({"--manifest-dir", dir, "--manifest-check-interval", "1"});

  auto running = [](const std::vector<json>& tasks) {
    return !tasks.empty() && tasks.back()["status"] == "RUNNING";
  };
  json tasks = wait_tasks([&](const json& t) { return running(named(t, "web")); });
  std::string first = named(tasks, "web").back()["id"];
  json task = describe(first);
  EXPECT_EQ(task["manifest"], dir + "/web.json");
  int64_t pid = container(task, "main")["pid"].get<int64_t>();
  EXPECT_EQ(tasks.size(), 1u) << "only web.json is a manifest: " << tasks.dump(2);
  EXPECT_NE(berthd_->log_text().find("static task '" + dir + "/bad.json' refused"),
            std::string::npos)
      << berthd_->log_text();

  // A restarted berthd knows the task it runs for web.json: no second one.
  berthd_->kill(SIGKILL);
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  // A file added later is picked up by the next check.
  write("once.json", json{{"family", "once"},
                          {"containerDefinitions", {busybox("main", {"sh", "-c", "exit 3"})}}});
  tasks = wait_tasks([&](const json& t) { return named(t, "once").size() == 1; });
  ASSERT_EQ(named(tasks, "web").size(), 1u) << tasks.dump(2);
  EXPECT_EQ(named(tasks, "web")[0]["id"], first);
  EXPECT_EQ(container(describe(first), "main")["pid"].get<int64_t>(), pid);

  // A task that stops while its file is unchanged is started again, after
  // the first back-off (10 s).
  tasks = wait_tasks([&](const json& t) { return named(t, "once").size() == 2; },
                     std::chrono::seconds(40));
  json once = named(tasks, "once")[0];
  EXPECT_EQ(once["status"], "STOPPED");
  EXPECT_EQ(once["stopCode"], "EssentialContainerExited");
  std::filesystem::remove(dir + "/once.json");

  // A changed file replaces its task: the old one stopped first.
  write("web.json", web("v2"));
  tasks = wait_tasks([&](const json& t) {
    auto w = named(t, "web");
    return w.size() == 2 && running(w);
  });
  json old = describe(first);
  EXPECT_EQ(old["status"], "STOPPED");
  EXPECT_EQ(old["stopCode"], "ServiceSchedulerInitiated");
  EXPECT_NE(old["stoppedReason"].get<std::string>().find("changed"), std::string::npos);
  std::string second = named(tasks, "web").back()["id"];
  wait_for(second, [&](const json&) {
    return berthd_->ctl({"logs", second, "main"}).out == "v2\n";
  });

  // A removed file stops its task.
  std::filesystem::remove(dir + "/web.json");
  json removed = wait_status(second, "STOPPED");
  EXPECT_EQ(removed["stopCode"], "ServiceSchedulerInitiated");
  EXPECT_NE(removed["stoppedReason"].get<std::string>().find("removed"), std::string::npos);
  tasks = wait_tasks([&](const json& t) {
    for (const auto& x : t) {
      if (x["status"] != "STOPPED") return false;
    }
    return true;
  });
  EXPECT_EQ(named(tasks, "web").size(), 2u);
  EXPECT_LE(named(tasks, "once").size(), 3u);
}

TEST_F(TaskTest, ImageGcRemovesImagesNoTaskUsesAndKeepsTheRest) {
  berthd_.reset();
  start_berthd({"--image-gc-interval", "1", "--image-gc-min-age", "0"});
  auto images = [&] {
    std::set<std::string> names;
    auto ls = berthd_->ctl({"-o", "json", "image", "ls"});
    EXPECT_EQ(ls.exit_code, 0) << ls.err;
    for (const auto& image : json::parse(ls.out)) names.insert(image["name"].get<std::string>());
    return names;
  };
  // GC runs every second and has no event of its own: poll its result.
  auto await_images = [&](const std::set<std::string>& expected) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (images() != expected && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    EXPECT_EQ(images(), expected) << berthd_->log_text();
  };
  const std::string tag = "docker.io/library/busybox:latest";
  std::string id =
      run({{"family", "gc"}, {"containerDefinitions", {busybox("main", {"sleep", "100000"})}}});
  wait_status(id, "RUNNING");
  std::string digest = container(describe(id), "main")["imageDigest"];
  // The same content under a second name that no task names.
  const std::string by_digest = "docker.io/library/busybox@" + digest;
  auto pull = berthd_->ctl({"image", "pull", by_digest});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  await_images({tag});
  // The running task's image stays, through many GC runs.
  auto log_runs = [&] {
    std::string log = berthd_->log_text();
    size_t n = 0;
    for (size_t at = 0; (at = log.find("image GC: ", at)) != std::string::npos; ++at) ++n;
    return n;
  };
  auto await_three_runs = [&] {
    size_t runs = log_runs();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (log_runs() < runs + 3 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ASSERT_GE(log_runs(), runs + 3) << "image GC does not run:\n" << berthd_->log_text();
  };
  await_three_runs();
  EXPECT_EQ(images(), std::set<std::string>{tag});
  // A stopped task keeps its image until the task is removed.
  ASSERT_EQ(berthd_->ctl({"stop", id}).exit_code, 0);
  await_three_runs();
  EXPECT_EQ(images(), std::set<std::string>{tag});
  ASSERT_EQ(berthd_->ctl({"rm", id}).exit_code, 0);
  await_images({});
}

TEST_F(TaskTest, BerthdCrashAdoptsRunningContainersWithoutRestartingThem) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(run({{"family", "crash" + std::to_string(i)},
                       {"containerDefinitions", {busybox("main", {"sleep", "100000"})}}}));
  }
  std::map<std::string, int64_t> pids;
  for (const auto& id : ids) {
    json task = wait_status(id, "RUNNING");
    pids[id] = container(task, "main")["pid"].get<int64_t>();
    ASSERT_GT(pids[id], 0);
  }
  berthd_->kill(SIGKILL);
  // A container exits while berthd is down.
  ASSERT_EQ(::kill(static_cast<pid_t>(pids[ids[0]]), SIGKILL), 0);
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();

  json first = wait_status(ids[0], "STOPPED");
  EXPECT_EQ(container(first, "main")["exitCode"], 137);
  EXPECT_EQ(first["stopCode"], "EssentialContainerExited");
  for (size_t i = 1; i < ids.size(); ++i) {
    json task = describe(ids[i]);
    EXPECT_EQ(task["status"], "RUNNING");
    EXPECT_EQ(container(task, "main")["pid"].get<int64_t>(), pids[ids[i]])
        << "the container was restarted";
    EXPECT_EQ(::kill(static_cast<pid_t>(pids[ids[i]]), 0), 0) << "the container is gone";
  }
}

TEST_F(TaskTest, KillNineDuringStartUpAndTeardownIsFinishedOnRestart) {
  auto definition = [](int i) {
    return json{{"family", "crash10-" + std::to_string(i)},
                {"containerDefinitions",
                 {busybox("first", {"sleep", "100000"}), [] {
                    json second = busybox("second", {"sleep", "100000"});
                    second["dependsOn"] = {{{"containerName", "first"}, {"condition", "START"}}};
                    return second;
                  }()}}};
  };
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(run(definition(i)));
  // Start-up is under way for most of them: pulls, creates, starts.
  berthd_->kill(SIGKILL);
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  std::map<std::string, int64_t> pids;
  for (const auto& id : ids) {
    json task = wait_status(id, "RUNNING");
    for (const char* name : {"first", "second"}) {
      pids[id + name] = container(task, name)["pid"].get<int64_t>();
      EXPECT_GT(pids[id + name], 0) << id << " " << name;
    }
  }
  // Teardown under way for half of them.
  for (size_t i = 0; i < 5; ++i)
    ASSERT_EQ(berthd_->ctl({"stop", "--no-wait", ids[i]}).exit_code, 0);
  berthd_->kill(SIGKILL);
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i < 5) {
      json task = wait_status(ids[i], "STOPPED");
      EXPECT_EQ(task["stopCode"], "UserInitiated");
      EXPECT_EQ(container(task, "first")["exitCode"], 137);
    } else {
      json task = describe(ids[i]);
      EXPECT_EQ(task["status"], "RUNNING");
      for (const char* name : {"first", "second"}) {
        EXPECT_EQ(container(task, name)["pid"].get<int64_t>(), pids[ids[i] + name])
            << "a running container was restarted by a berthd restart";
        EXPECT_EQ(container(task, name)["restartCount"], 0);
      }
    }
  }
  // The log says what the restart had to finish.
  EXPECT_NE(berthd_->log_text().find("adopted container"), std::string::npos);
}

// ECS restarts a container only after it ran for restartAttemptPeriod
// (at least 60 s), so this test takes a minute.
TEST_F(TaskTest, RestartPolicyRestartsAndRespectsIgnoredExitCodes) {
  json main = busybox("main", {"sleep", "100000"});
  json flaky = busybox("flaky", {"sh", "-c", "echo run; sleep 61; exit 1"});
  flaky["essential"] = false;
  flaky["restartPolicy"] = {{"enabled", true}, {"restartAttemptPeriod", 60}};
  json ignored = busybox("ignored", {"sh", "-c", "sleep 61; exit 42"});
  ignored["essential"] = false;
  ignored["restartPolicy"] = {
      {"enabled", true}, {"ignoredExitCodes", {42}}, {"restartAttemptPeriod", 60}};
  json quick = busybox("quick", {"sh", "-c", "exit 1"});
  quick["essential"] = false;
  quick["restartPolicy"] = {{"enabled", true}, {"restartAttemptPeriod", 60}};
  std::string id =
      run({{"family", "restarts"}, {"containerDefinitions", {main, flaky, ignored, quick}}});
  json task = wait_for(
      id,
      [](const json& t) {
        return container(t, "flaky")["restartCount"] == 1 &&
               container(t, "flaky")["status"] == "RUNNING" &&
               container(t, "ignored")["status"] == "STOPPED";
      },
      std::chrono::seconds(120));
  EXPECT_EQ(container(task, "ignored")["exitCode"], 42);
  EXPECT_EQ(container(task, "ignored")["restartCount"], 0);
  // Exited before the attempt period: not restarted.
  EXPECT_EQ(container(task, "quick")["status"], "STOPPED");
  EXPECT_EQ(container(task, "quick")["restartCount"], 0);
  EXPECT_EQ(task["status"], "RUNNING");
  EXPECT_EQ(berthd_->ctl({"logs", id, "flaky"}).out, "run\nrun\n");
}

TEST_F(TaskTest, ContainerSettingsReachTheContainer) {
  json a = busybox("a", {"sh", "-c",
                         "echo shared > /data/x; grep CapEff /proc/self/status; ulimit -n; "
                         "df -k /dev/shm | tail -1 | awk '{print \"shm \" $2}'; "
                         "grep db.local /etc/hosts; grep nameserver /etc/resolv.conf; "
                         "grep ' /scratch ' /proc/mounts | cut -d' ' -f3; "
                         "tr '\\0' ' ' < /proc/1/cmdline; echo"});
  a["essential"] = false;
  a["mountPoints"] = {{{"sourceVolume", "data"}, {"containerPath", "/data"}}};
  a["linuxParameters"] = {{"capabilities", {{"drop", {"ALL"}}, {"add", {"NET_ADMIN"}}}},
                          {"sharedMemorySize", 16},
                          {"tmpfs", {{{"containerPath", "/scratch"}, {"size", 8}}}},
                          {"initProcessEnabled", true}};
  a["ulimits"] = {{{"name", "nofile"}, {"softLimit", 512}, {"hardLimit", 512}}};
  a["extraHosts"] = {{{"hostname", "db.local"}, {"ipAddress", "10.1.2.3"}}};
  a["dnsServers"] = {"10.0.0.2"};
  json b = busybox("b", {"sh", "-c",
                         "cat /data/x; touch /data/y 2>/dev/null || echo read-only; "
                         "exec sleep 100000"});
  b["volumesFrom"] = {{{"sourceContainer", "a"}, {"readOnly", true}}};
  b["dependsOn"] = {{{"containerName", "a"}, {"condition", "SUCCESS"}}};
  std::string id = run({{"family", "settings"},
                        {"volumes", {{{"name", "data"}}}},
                        {"containerDefinitions", {a, b}}});
  json task = wait_for(
      id, [](const json& t) { return container(t, "b").value("status", "") == "RUNNING"; });
  EXPECT_EQ(container(task, "a")["exitCode"], 0);
  EXPECT_EQ(berthd_->ctl({"logs", id, "a"}).out,
            "CapEff:\t0000000000001000\n512\nshm 16384\n10.1.2.3\tdb.local\nnameserver 10.0.0.2\n"
            "tmpfs\n/sbin/docker-init -- sh -c " +
                a["command"][2].get<std::string>() + " \n");
  auto logs_b = berthd_->ctl({"logs", id, "b"});
  EXPECT_EQ(logs_b.out, "shared\nread-only\n");
  ASSERT_EQ(berthd_->ctl({"stop", id}).exit_code, 0);
  EXPECT_TRUE(std::filesystem::exists(berthd_->root() + "/volumes/" + id + "/data/x"));
  ASSERT_EQ(berthd_->ctl({"rm", id}).exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(berthd_->root() + "/volumes/" + id));
}

TEST_F(TaskTest, AUlimitAboveBerthdsOwnLimitFailsTheStartAndLeavesNothing) {
  json main = busybox("main", {"true"});
  main["ulimits"] = {{{"name", "nofile"}, {"softLimit", 1024}, {"hardLimit", int64_t{1} << 40}}};
  std::string id = run({{"family", "ulimit"}, {"containerDefinitions", {main}}});
  json task = wait_status(id, "STOPPED");
  EXPECT_EQ(task["stopCode"], "TaskFailedToStart");
  EXPECT_NE(task["stoppedReason"].get<std::string>().find("above this node's own limit"),
            std::string::npos)
      << task.dump(2);
  EXPECT_EQ(berthd_->leftovers(), "");
}

TEST_F(TaskTest, ContainersNoTaskOwnsAreRemovedAtStart) {
  std::string id =
      run({{"family", "orphan"}, {"containerDefinitions", {busybox("main", {"sleep", "100000"})}}});
  wait_status(id, "RUNNING");
  berthd_->kill(SIGKILL);
  // The checkpoint is lost: the container is nobody's now.
  std::filesystem::remove(berthd_->root() + "/tasks/" + id + ".json");
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  EXPECT_EQ(berthd_->leftovers(), "");
  EXPECT_NE(berthd_->log_text().find("no task owns it"), std::string::npos);
}

// --- pidMode / ipcMode: the task's sandbox

// Waits until a container's log holds `needle`; returns the log.
std::string wait_log(Berthd& berthd, const std::string& task, const std::string& container,
                     const std::string& needle) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::string out;
  while (std::chrono::steady_clock::now() < deadline) {
    out = berthd.ctl({"logs", task, container}).out;
    if (out.find(needle) != std::string::npos) return out;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ADD_FAILURE() << container << "'s log never held '" << needle << "':\n" << out;
  return out;
}

// containerd's pid of the task `containerd_id` in berthd's namespace; 0 if none.
int64_t containerd_pid(Berthd& berthd, const std::string& containerd_id) {
  auto tasks = Environment::get().ctr(berthd.ns(), {"tasks", "ls"});
  std::istringstream lines(tasks.out);
  std::string id;
  int64_t pid = 0;
  std::string status;
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    if (fields >> id >> pid >> status && id == containerd_id) return pid;
  }
  return 0;
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

TEST_F(TaskTest, BerthdCrashAdoptsTheSandboxAndItsContainers) {
  json a = busybox("a", {"sleep", "100000"});
  json b = busybox("b", {"sleep", "100001"});
  std::string id = run({{"family", "sandboxcrash"},
                        {"pidMode", "task"},
                        {"ipcMode", "task"},
                        {"containerDefinitions", {a, b}}});
  json task = wait_status(id, "RUNNING");
  int64_t pid_a = container(task, "a")["pid"].get<int64_t>();
  int64_t pid_b = container(task, "b")["pid"].get<int64_t>();
  int64_t sandbox = containerd_pid(*berthd_, id + ".sandbox");
  ASSERT_GT(sandbox, 0);

  berthd_->kill(SIGKILL);
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  task = wait_status(id, "RUNNING");
  EXPECT_EQ(container(task, "a")["pid"].get<int64_t>(), pid_a);
  EXPECT_EQ(container(task, "b")["pid"].get<int64_t>(), pid_b);
  EXPECT_EQ(containerd_pid(*berthd_, id + ".sandbox"), sandbox) << "the sandbox was restarted";
  for (int64_t pid : {pid_a, pid_b, sandbox}) {
    EXPECT_EQ(::kill(static_cast<pid_t>(pid), 0), 0) << "pid " << pid << " is gone";
  }
  EXPECT_NE(berthd_->log_text().find("adopted its sandbox"), std::string::npos);

  ASSERT_EQ(berthd_->ctl({"stop", id}).exit_code, 0);
  EXPECT_EQ(berthd_->leftovers(), "");
}

TEST_F(TaskTest, KillNineDuringSandboxedStartUpIsFinishedOnRestart) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(run({{"family", "sandboxed" + std::to_string(i)},
                       {"pidMode", "task"},
                       {"ipcMode", "task"},
                       {"containerDefinitions", {busybox("main", {"sleep", "100000"})}}}));
  }
  // Kill berthd once the first sandbox exists: the others are being made.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (env().ctr(berthd_->ns(), {"containers", "ls", "-q"}).out.find(".sandbox") ==
             std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  berthd_->kill(SIGKILL);
  ASSERT_TRUE(berthd_->restart()) << berthd_->log_text();
  for (const auto& id : ids) wait_status(id, "RUNNING");
  // One sandbox per task, however far its creation had come.
  auto listed = env().ctr(berthd_->ns(), {"containers", "ls", "-q"});
  for (const auto& id : ids) {
    EXPECT_GT(containerd_pid(*berthd_, id + ".sandbox"), 0) << id << "\n" << listed.out;
  }
  EXPECT_EQ(env().count(berthd_->ns(), {"containers", "ls", "-q"}), 2 * ids.size()) << listed.out;
  for (const auto& id : ids) ASSERT_EQ(berthd_->ctl({"stop", id}).exit_code, 0);
  EXPECT_EQ(berthd_->leftovers(), "");
  std::string sandboxes = berthd_->root() + "/../state/sandboxes";
  EXPECT_TRUE(!std::filesystem::exists(sandboxes) || std::filesystem::is_empty(sandboxes));
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
