// Stopping a task is `docker stop` for each container, as the ECS agent
// does it: the stop signal (the image's StopSignal, else SIGTERM) to the
// main process only, SIGKILL to every process once the container's
// stopTimeout has passed. The exit codes are those Docker gives.
#include <chrono>

#include "fixtures/task_fixture.h"

namespace berth::testing {
namespace {

using json = nlohmann::json;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json shell(const std::string& name, const std::string& script, int stop_timeout) {
  return {{"name", name},
          {"image", "busybox:latest"},
          {"command", {"sh", "-c", script}},
          {"stopTimeout", stop_timeout}};
}

class StopTest : public TaskTest {};

TEST_F(StopTest, EachContainerEndsWithTheExitCodeDockerStopGives) {
  // pid 1 of its namespace without a handler: SIGTERM does nothing, SIGKILL
  // comes after the container's own stopTimeout.
  json ignores = shell("ignores", "echo ready; exec sleep 3600", 2);
  json ignores_longer = shell("ignores-longer", "echo ready; exec sleep 3601", 5);
  // Traps SIGTERM and lets its child finish: had the child been signalled
  // too, it would have died by it and the shell would exit 143.
  json finishes = shell(
      "finishes",
      "trap 'wait $c; exit $?' TERM; echo ready; while :; do sleep 2 & c=$!; wait $c; done", 10);
  json own_code = shell("own-code", "trap 'exit 5' TERM; echo ready; sleep 3600 & wait", 10);
  // The image says StopSignal SIGQUIT.
  json stop_signal = shell(
      "stop-signal", "trap 'exit 3' QUIT; trap 'exit 9' TERM; echo ready; sleep 3600 & wait", 10);
  stop_signal["image"] = "test/busybox-stopsignal:latest";
  // An init (tini) is pid 1 and passes SIGTERM on: sleep dies by it.
  json dies = shell("dies", "echo ready; exec sleep 3602", 10);
  dies["linuxParameters"] = {{"initProcessEnabled", true}};

  std::string id = run(
      {{"family", "stops"},
       {"networkMode", "none"},
       {"containerDefinitions", {ignores, ignores_longer, finishes, own_code, stop_signal, dies}}});
  wait_status(id, "RUNNING");
  for (const char* name :
       {"ignores", "ignores-longer", "finishes", "own-code", "stop-signal", "dies"}) {
    wait_log(*berthd_, id, name, "ready");
  }
  const int64_t stop_requested = now_ms();
  ASSERT_EQ(berthd_->ctl({"stop", id}).exit_code, 0);
  json task = wait_status(id, "STOPPED");

  auto exit_code = [&](const std::string& name) {
    return container(task, name).value("exitCode", -1);
  };
  auto stopped_after = [&](const std::string& name) {
    return ms(container(task, name)["stoppedAtMs"]) - stop_requested;
  };
  EXPECT_EQ(exit_code("ignores"), 137);
  EXPECT_EQ(exit_code("ignores-longer"), 137);
  EXPECT_EQ(exit_code("finishes"), 0);
  EXPECT_EQ(exit_code("own-code"), 5);
  EXPECT_EQ(exit_code("stop-signal"), 3);
  EXPECT_EQ(exit_code("dies"), 143);
  // Each was killed after its own stopTimeout, not before.
  EXPECT_GE(stopped_after("ignores"), 2000);
  EXPECT_GE(stopped_after("ignores-longer"), 5000);
  EXPECT_EQ(task.value("stopCode", ""), "UserInitiated");
  ASSERT_EQ(berthd_->ctl({"rm", id}).exit_code, 0);
}

}  // namespace
}  // namespace berth::testing
