// Docker's defaults for a container that is not privileged, as ECS
// containers run with them: the default seccomp profile (and what lifts
// it), no_new_privs only when asked, Docker's capability set with
// capabilities.add/drop applied to every set, and the Debian-based test
// image's tools (capsh, setarch, sysctl, ps) to see it as a user would.
#include <sys/utsname.h>

#include <sstream>

#include "fixtures/task_fixture.h"

namespace berth::testing {
namespace {

using json = nlohmann::json;

class SecurityTest : public TaskTest {
 protected:
  // Runs `containers` (each exits) beside an idle essential one, waits for
  // all of them to stop and returns the task.
  json run_all(const std::string& family, std::vector<json> containers) {
    std::vector<std::string> names;
    for (auto& c : containers) {
      c["essential"] = false;
      names.push_back(c["name"]);
    }
    containers.push_back(busybox("idle", {"sleep", "100000"}));
    std::string id =
        run({{"family", family}, {"networkMode", "none"}, {"containerDefinitions", containers}});
    json task = wait_for(id, [&](const json& t) {
      return std::all_of(names.begin(), names.end(), [&](const std::string& name) {
        return container(t, name).value("status", "") == "STOPPED";
      });
    });
    task_id_ = id;
    return task;
  }

  std::string logs(const std::string& name) { return berthd_->ctl({"logs", task_id_, name}).out; }

  static json debian(const std::string& name, const std::string& script) {
    return {{"name", name},
            {"image", "debian:latest"},
            {"command", {"bash", "-c", script}},
            {"stopTimeout", 2}};
  }

  std::string task_id_;
};

TEST_F(SecurityTest, ADefaultContainerHasTheSeccompFilterAndNoNoNewPrivs) {
  const std::string script =
      "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; "
      "unshare -U -r true 2>/dev/null && echo unshared || echo refused";
  json plain = busybox("plain", {"sh", "-c", script});
  json unconfined = busybox("unconfined", {"sh", "-c", script});
  unconfined["dockerSecurityOptions"] = {"seccomp=unconfined", "no-new-privileges"};
  // Docker's profile lets CAP_SYS_ADMIN make namespaces.
  json admin = busybox("admin", {"sh", "-c", script});
  admin["linuxParameters"] = {{"capabilities", {{"add", {"SYS_ADMIN"}}}}};
  json task = run_all("seccomp", {plain, unconfined, admin});
  for (const char* name : {"plain", "unconfined", "admin"}) {
    EXPECT_EQ(container(task, name)["exitCode"], 0) << name << task.dump(2);
  }
  // Today's kernels let anyone make a user namespace; the filter does not.
  EXPECT_EQ(logs("plain"), "NoNewPrivs:\t0\nSeccomp:\t2\nrefused\n");
  EXPECT_EQ(logs("unconfined"), "NoNewPrivs:\t1\nSeccomp:\t0\nunshared\n");
  EXPECT_EQ(logs("admin"), "NoNewPrivs:\t0\nSeccomp:\t2\nunshared\n");
  ASSERT_EQ(berthd_->ctl({"stop", task_id_}).exit_code, 0);
}

TEST_F(SecurityTest, AnUnknownSecurityOptionIsRefusedByNameAndLeavesNothing) {
  json main = busybox("main", {"true"});
  main["dockerSecurityOptions"] = {"apparmor=docker-default"};
  auto result = try_run({{"family", "refused"}, {"containerDefinitions", {main}}});
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_NE(result.err.find("containerDefinitions[0].dockerSecurityOptions[0]: "
                            "\"apparmor=docker-default\": berth does not apply AppArmor profiles"),
            std::string::npos)
      << result.err;
  EXPECT_EQ(berthd_->ctl({"ps", "-a", "-q"}).out, "");
  EXPECT_EQ(berthd_->leftovers(), "");
}

TEST_F(SecurityTest, WhatDockersToolsSeeInADebianContainer) {
  std::string why;
  ASSERT_TRUE(env().ensure_debian_image(&why)) << why;
  struct utsname host {};
  ASSERT_EQ(::uname(&host), 0);
  const std::string machine = host.machine;

  // capabilities.add/drop reach every set, the bounding set too.
  json caps = debian("caps", "capsh --print | grep -E '^(Current|Bounding set)'");
  caps["linuxParameters"] = {
      {"capabilities", {{"add", {"SYS_TIME"}}, {"drop", {"NET_RAW", "CHOWN"}}}}};
  // The profile allows personality() only for a few values: setarch -R
  // (ADDR_NO_RANDOMIZE) is refused, as under Docker, unless unconfined.
  const std::string setarch =
      "setarch " + machine + " -R true 2>/dev/null && echo allowed || echo refused";
  json personality = debian("personality", setarch);
  json unconfined = debian("unconfined", setarch);
  unconfined["dockerSecurityOptions"] = {"seccomp:unconfined"};
  // Namespaced kernel parameters, read back with procps' sysctl.
  json sysctl = debian("sysctl", "sysctl -n net.core.somaxconn kernel.shmmax fs.mqueue.msg_max");
  sysctl["systemControls"] = {{{"namespace", "net.core.somaxconn"}, {"value", "1234"}},
                              {{"namespace", "kernel.shmmax"}, {"value", "65536"}},
                              {{"namespace", "fs.mqueue.msg_max"}, {"value", "32"}}};
  // Docker's init is pid 1, named docker-init; the command is its child.
  json init = debian("init", "ps -o comm= -p 1; pidof -s bash >/dev/null && echo bash-running");
  init["linuxParameters"] = {{"initProcessEnabled", true}};

  // The kernel keyring is not namespaced: Docker's profile denies it, and
  // so does berth's (containers-common's allows keyctl). perl-base makes
  // the raw call: keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING).
  const std::string keyctl_number = machine == "x86_64" ? "250" : "219";  // else arm64
  json keyring = debian("keyring", "perl -e '$r = syscall(" + keyctl_number +
                                       ", 0, -1); print $r < 0 ? \"refused: $!\\n\" : "
                                       "\"allowed\\n\"'");

  json task = run_all("debian", {caps, personality, unconfined, sysctl, init, keyring});
  for (const char* name : {"caps", "personality", "unconfined", "sysctl", "init", "keyring"}) {
    EXPECT_EQ(container(task, name)["exitCode"], 0) << name << task.dump(2);
  }

  std::istringstream lines(logs("caps"));
  std::string current;
  std::string bounding;
  std::getline(lines, current);
  std::getline(lines, bounding);
  EXPECT_TRUE(current.starts_with("Current: ")) << current;
  EXPECT_TRUE(bounding.starts_with("Bounding set =")) << bounding;
  for (const std::string& line : {current, bounding}) {
    EXPECT_NE(line.find("cap_sys_time"), std::string::npos) << line;
    EXPECT_NE(line.find("cap_kill"), std::string::npos) << line;
    EXPECT_EQ(line.find("cap_net_raw"), std::string::npos) << line;
    EXPECT_EQ(line.find("cap_chown"), std::string::npos) << line;
    EXPECT_EQ(line.find("cap_sys_admin"), std::string::npos) << line;
  }
  EXPECT_EQ(logs("personality"), "refused\n");
  EXPECT_EQ(logs("unconfined"), "allowed\n");
  EXPECT_EQ(logs("sysctl"), "1234\n65536\n32\n");
  EXPECT_EQ(logs("init"), "docker-init\nbash-running\n");
  EXPECT_EQ(logs("keyring"), "refused: Operation not permitted\n");
  ASSERT_EQ(berthd_->ctl({"stop", task_id_}).exit_code, 0);
}

}  // namespace
}  // namespace berth::testing
