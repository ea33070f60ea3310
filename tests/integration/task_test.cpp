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
  EXPECT_TRUE(container(task, "server").contains("exitCode")) << task.dump(2);
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

// ECS: the dependency's startTimeout bounds how long its dependents wait
// for COMPLETE, SUCCESS or HEALTHY once it started; START is not bounded.
TEST_F(TaskTest, ADependencysStartTimeoutGivesUpItsDependents) {
  // Runs, never completes nor turns healthy, and ignores SIGTERM.
  json slow = busybox("slow", {"sleep", "100000"});
  slow["essential"] = false;
  slow["startTimeout"] = 2;
  slow["healthCheck"] = {{"command", {"CMD-SHELL", "false"}}, {"interval", 5}, {"retries", 10}};
  auto waiting = [](const std::string& name, const std::string& condition, bool essential) {
    json c = busybox(name, {"sleep", "100000"});
    c["essential"] = essential;
    c["dependsOn"] = {{{"containerName", "slow"}, {"condition", condition}}};
    return c;
  };
  std::string id =
      run({{"family", "timeout"},
           {"networkMode", "none"},
           {"containerDefinitions",
            {slow, waiting("started", "START", false), waiting("completed", "COMPLETE", false),
             waiting("healthy", "HEALTHY", false), waiting("main", "SUCCESS", true)}}});
  json task = wait_status(id, "STOPPED");
  EXPECT_EQ(task["stopCode"], "TaskFailedToStart");
  EXPECT_EQ(task["stoppedReason"],
            "Dependency of container \"main\" not met: container \"slow\" did not reach SUCCESS "
            "within its startTimeout of 2s");
  // slow was stopped as any container is: SIGKILL after its stopTimeout.
  EXPECT_EQ(container(task, "slow")["exitCode"], 137);
  // START was met when slow started.
  EXPECT_NE(ms(container(task, "started")["startedAtMs"]), 0);
  for (const char* never : {"completed", "healthy", "main"}) {
    EXPECT_EQ(ms(container(task, never)["startedAtMs"]), 0) << never << " must never have started";
    EXPECT_EQ(container(task, never)["status"], "STOPPED") << never;
  }
}

// A non-essential dependent gives up alone: the task goes on.
TEST_F(TaskTest, ANonEssentialDependentThatGivesUpLeavesTheTaskRunning) {
  json slow = busybox("slow", {"sleep", "100000"});
  slow["essential"] = false;
  slow["startTimeout"] = 1;
  json waits = busybox("waits", {"true"});
  waits["essential"] = false;
  waits["dependsOn"] = {{{"containerName", "slow"}, {"condition", "COMPLETE"}}};
  std::string id =
      run({{"family", "gives-up"},
           {"networkMode", "none"},
           {"containerDefinitions", {slow, waits, busybox("main", {"sleep", "100000"})}}});
  json task = wait_for(
      id, [](const json& t) { return container(t, "waits").value("status", "") == "STOPPED"; });
  EXPECT_EQ(task["status"], "RUNNING");
  EXPECT_EQ(container(task, "waits")["reason"],
            "Dependency of container \"waits\" not met: container \"slow\" did not reach "
            "COMPLETE within its startTimeout of 1s");
  EXPECT_EQ(ms(container(task, "waits")["startedAtMs"]), 0);
  ASSERT_EQ(berthd_->ctl({"stop", id}).exit_code, 0);
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
      // Malformed references are refused up front, not at their pull.
      {R"({"family":"x","containerDefinitions":[{"name":"a","image":"busybox:latest"},
          {"name":"b","image":"Busybox:latest"}]})",
       "containerDefinitions[1].image"},
      {R"({"family":"x","containerDefinitions":[{"name":"a","image":"busybox@sha256:abc"}]})",
       "containerDefinitions[0].image"},
      // This host runs no journald.
      {R"({"family":"x","containerDefinitions":[{"name":"a","image":"busybox",
          "logConfiguration":{"logDriver":"journald"}}]})",
       "containerDefinitions[0].logConfiguration.logDriver: journald: this node has no journal"},
  };
  // ECS's limits: 10 containers, 64 KiB.
  json many = {{"family", "many"}, {"containerDefinitions", json::array()}};
  for (int i = 0; i < 11; ++i) {
    many["containerDefinitions"].push_back(busybox("c" + std::to_string(i), {"true"}));
  }
  cases.push_back({many.dump(), "lists 11 containers; ECS takes at most 10"});
  json huge = {{"family", "huge"}, {"containerDefinitions", {busybox("a", {"true"})}}};
  huge["containerDefinitions"][0]["environment"] = {
      {{"name", "BIG"}, {"value", std::string(15 << 20, 'x')}}};
  cases.push_back({huge.dump(), "ECS takes at most 65536 (64 KiB)"});
  for (const auto& c : cases) {
    std::string path = berthd_->root() + "/../bad.json";
    {
      std::ofstream out(path);
      out << c.text;
    }
    auto result = berthd_->ctl({"run", "-f", path});
    EXPECT_EQ(result.exit_code, 125) << c.text.substr(0, 200);
    EXPECT_NE(result.err.find(c.error), std::string::npos) << result.err.substr(0, 2000);
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
  EXPECT_EQ(bad.exit_code, 125);
  EXPECT_NE(bad.err.find("--env 'NOEQUALS'"), std::string::npos) << bad.err;
  auto both = berthd_->ctl({"run", "-d", "--rm", "busybox:latest"});
  EXPECT_EQ(both.exit_code, 125);
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
                         "grep ' /scratch ' /proc/mounts | cut -d' ' -f3,4; "
                         "grep ' /run/exec ' /proc/mounts | cut -d' ' -f4; "
                         "tr '\\0' ' ' < /proc/1/cmdline; echo"});
  a["essential"] = false;
  a["mountPoints"] = {{{"sourceVolume", "data"}, {"containerPath", "/data"}}};
  a["linuxParameters"] = {
      {"capabilities", {{"drop", {"ALL"}}, {"add", {"NET_ADMIN"}}}},
      {"sharedMemorySize", 16},
      {"tmpfs",
       {{{"containerPath", "/scratch"}, {"size", 8}},
        {{"containerPath", "/run/exec"}, {"size", 1}, {"mountOptions", {"exec", "mode=1777"}}}}},
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
            "tmpfs rw,nosuid,nodev,noexec,relatime,size=8192k\n"
            "rw,nosuid,nodev,relatime,size=1024k\n/sbin/docker-init -- sh -c " +
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

}  // namespace
}  // namespace berth::testing
