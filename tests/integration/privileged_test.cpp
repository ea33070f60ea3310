// privileged: true as containerd's and Docker's privileged modes give it,
// on a node whose bounding set lacks capabilities (this one has no
// CAP_SYS_RESOURCE): every capability berthd holds, the node's devices, no
// seccomp filter, no masked or read-only paths.
#include <linux/capability.h>
#include <sys/prctl.h>

#include <filesystem>
#include <fstream>

#include "fixtures/task_fixture.h"

namespace berth::testing {
namespace {

using json = nlohmann::json;

// This process's line `field:` of /proc/self/status ("000001fffeffffff").
std::string own_status(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(field + ":")) {
      std::string value = line.substr(field.size() + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  }
  return "";
}

class PrivilegedTest : public TaskTest {
 protected:
  std::vector<std::string> berthd_flags() const override { return {"--allow-privileged"}; }
};

TEST_F(PrivilegedTest, GetsEveryCapabilityBerthdHoldsTheNodesDevicesAndNoMaskedPaths) {
  const std::vector<std::string> node_devices = {"/dev/loop-control", "/dev/fuse", "/dev/net/tun"};
  // Mount points of masked and read-only paths, in order.
  const std::string masked =
      "awk '$5 ~ /^\\/proc\\/(kcore|keys|sys|sysrq-trigger|timer_list)$/ {print $5}' "
      "/proc/self/mountinfo | sort; ";
  std::string script = "grep -E '^(Cap(Eff|Bnd)|Seccomp):' /proc/self/status; " + masked;
  for (const auto& device : node_devices)
    script += "[ -c " + device + " ] && echo " + device + "; ";
  json privileged = busybox("privileged", {"sh", "-c", script + "true"});
  privileged["privileged"] = true;
  json plain = busybox("plain", {"sh", "-c",
                                 "grep -E '^(CapEff|Seccomp):' /proc/self/status; " + masked +
                                     "[ -c /dev/loop-control ] || echo no loop"});
  plain["essential"] = false;
  privileged["essential"] = false;
  json idle = busybox("idle", {"sleep", "100000"});
  std::string id = run({{"family", "privileged"},
                        {"networkMode", "none"},
                        {"containerDefinitions", {privileged, plain, idle}}});
  json task = wait_for(id, [](const json& t) {
    return container(t, "privileged").value("status", "") == "STOPPED" &&
           container(t, "plain").value("status", "") == "STOPPED";
  });
  EXPECT_EQ(container(task, "privileged")["exitCode"], 0) << task.dump(2);
  std::string expected =
      "CapEff:\t" + own_status("CapBnd") + "\nCapBnd:\t" + own_status("CapBnd") + "\nSeccomp:\t0\n";
  for (const auto& device : node_devices) {
    if (std::filesystem::exists(device)) expected += device + "\n";
  }
  EXPECT_EQ(berthd_->ctl({"logs", id, "privileged"}).out, expected);
  // Docker's default set; /proc/kcore, /proc/keys and /proc/timer_list
  // masked, /proc/sys and /proc/sysrq-trigger read-only (those this kernel
  // has); no node devices.
  std::string plain_expected = "CapEff:\t00000000a80425fb\nSeccomp:\t2\n";
  for (const char* path :
       {"/proc/kcore", "/proc/keys", "/proc/sys", "/proc/sysrq-trigger", "/proc/timer_list"}) {
    if (std::filesystem::exists(path)) plain_expected += std::string(path) + "\n";
  }
  EXPECT_EQ(berthd_->ctl({"logs", id, "plain"}).out, plain_expected + "no loop\n");
  ASSERT_EQ(berthd_->ctl({"stop", id}).exit_code, 0);
}

TEST_F(PrivilegedTest, AddingACapabilityBerthdLacksIsRefusedByName) {
  if (::prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE, 0, 0, 0) == 1) {
    GTEST_SKIP() << "this node's bounding set holds CAP_SYS_RESOURCE";
  }
  json main = busybox("main", {"true"});
  main["linuxParameters"] = {{"capabilities", {{"add", {"SYS_RESOURCE"}}}}};
  std::string id =
      run({{"family", "lacking"}, {"networkMode", "none"}, {"containerDefinitions", {main}}});
  json task = wait_status(id, "STOPPED");
  EXPECT_EQ(task["stopCode"], "TaskFailedToStart");
  EXPECT_NE(task.value("stoppedReason", "")
                .find("linuxParameters.capabilities.add: 'SYS_RESOURCE': berthd does not hold "
                      "this capability"),
            std::string::npos)
      << task.dump(2);
  EXPECT_EQ(berthd_->leftovers(), "");
}

}  // namespace
}  // namespace berth::testing
