// Crash safety at every step, deterministically: berthd-failpoints stops
// at each named point a task's life reaches (tests/../agent/failpoints) and
// crashes there (SIGKILL to itself) or fails the step, for a task of each
// network mode. After the crash a plain berthd starts on the same state: the
// task must end RUNNING with the containers it had (same pids), or STOPPED
// with a reason; after an injected error the task must fail with a reason
// that names the step. Either way nothing may be left once the task is
// removed. The table of outcomes is printed.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "fixtures/integration_test.h"
#include "nlohmann/json.hpp"

namespace berth::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Mode {
  std::string name;
  json definition;
};

// One busybox container that stops at once on SIGTERM.
json app() {
  return {{"name", "app"},
          {"image", "busybox:latest"},
          {"command", {"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"}},
          {"stopTimeout", 3}};
}

std::vector<Mode> modes() {
  json bridge_app = app();
  bridge_app["portMappings"] = {{{"containerPort", 8080}, {"hostPort", 0}}};
  // A volume that is a mount of its own: a crash must not leave it mounted.
  json volume_app = app();
  volume_app["mountPoints"] = {{{"sourceVolume", "scratch"}, {"containerPath", "/scratch"}}};
  json scratch = {{"name", "scratch"},
                  {"dockerVolumeConfiguration",
                   {{"driver", "local"}, {"driverOpts", {{"type", "tmpfs"}, {"o", "size=1m"}}}}}};
  return {
      {"awsvpc", {{"networkMode", "awsvpc"}, {"containerDefinitions", {app()}}}},
      {"bridge+port", {{"networkMode", "bridge"}, {"containerDefinitions", {bridge_app}}}},
      {"host", {{"networkMode", "host"}, {"containerDefinitions", {app()}}}},
      {"none+tmpfs volume",
       {{"networkMode", "none"}, {"volumes", {scratch}}, {"containerDefinitions", {volume_app}}}},
      {"pidMode task",
       {{"networkMode", "awsvpc"}, {"pidMode", "task"}, {"containerDefinitions", {app()}}}},
  };
}

struct Outcome {
  std::string text;     // what became of the task
  std::string leaks;    // what was left after its removal ("" when nothing)
  std::string problem;  // an expectation that failed ("" when none)
  int64_t took_ms = 0;
};

// One berthd of one mode's thread: its own namespace, bridge, subnet and
// host port range, so that the modes run side by side.
class Round {
 public:
  Round(const Mode& mode, int index, const std::string& registry, std::string failpoints,
        bool trace = false)
      : mode_(mode) {
    std::vector<std::string> flags = {
        "--registry-mirror", "docker.io=http://" + registry, "--host-port-range",
        std::to_string(50000 + index * 100) + "-" + std::to_string(50099 + index * 100)};
    std::map<std::string, std::string> env;
    if (!failpoints.empty()) env["BERTH_FAILPOINTS"] = std::move(failpoints);
    if (trace) {
      trace_ = Environment::get().dir() + "/trace-" + std::to_string(index);
      env["BERTH_FAILPOINT_TRACE"] = trace_;
    }
    berthd_ = std::make_unique<Berthd>(flags, BERTHD_FAILPOINTS_PATH, env);
  }
  ~Round() {
    // Whatever a failed round left running is no other round's concern.
    if (berthd_ && berthd_->ok()) berthd_->kill(SIGTERM);
  }
  bool ok() const { return berthd_->ok(); }
  Berthd& berthd() { return *berthd_; }

  // Runs the task; its id, or "" when berthd refused it (or died).
  std::string run(std::string* error) {
    std::string path = berthd_->dir() + "/task.json";
    json definition = mode_.definition;
    definition["family"] = "crash";
    std::ofstream(path) << definition.dump();
    auto result = berthd_->ctl({"run", "-f", path});
    if (result.exit_code != 0) {
      *error = result.err;
      return "";
    }
    std::string id = result.out.substr(0, result.out.find('\n'));
    ids_.insert(id);
    berthd_->own_rules_of(ids_);
    return id;
  }

  json describe(const std::string& id) {
    auto result = berthd_->ctl({"-o", "json", "describe", id});
    return result.exit_code == 0 ? json::parse(result.out) : json();
  }

  // Waits until `done(describe(id))` or berthd exits; false when it exited.
  bool await(const std::string& id, const std::function<bool(const json&)>& done,
             std::chrono::seconds timeout = std::chrono::seconds(60)) {
    auto events = LineReader::spawn(berthd_->ctl_argv({"-o", "json", "events", id}));
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (berthd_->wait_exit(std::chrono::milliseconds(0))) return false;
      json task = describe(id);
      if (!task.is_null() && done(task)) return true;
      // An event, berthd's end (the stream ends), or at the latest a second.
      if (!events || !events->next_line(std::chrono::seconds(1))) {
        if (berthd_->wait_exit(std::chrono::milliseconds(500))) return false;
        auto fresh = LineReader::spawn(berthd_->ctl_argv({"-o", "json", "events", id}));
        events.reset();
        if (fresh) events.emplace(std::move(*fresh));
      }
    }
    return !berthd_->wait_exit(std::chrono::milliseconds(0)).has_value();
  }

  // containerd's running tasks of this berthd: containerd id -> pid.
  std::map<std::string, std::string> running_pids() {
    std::map<std::string, std::string> pids;
    auto result = Environment::get().ctr(berthd_->ns(), {"tasks", "ls"});
    std::istringstream lines(result.out);
    std::string line;
    std::getline(lines, line);  // header
    while (std::getline(lines, line)) {
      std::istringstream fields(line);
      std::string id, pid, status;
      fields >> id >> pid >> status;
      if (status == "RUNNING") pids[id] = pid;
    }
    return pids;
  }

  // Stops and removes every task, then says what is left on the host.
  std::string remove_all_and_check() {
    auto ps = berthd_->ctl({"-o", "json", "ps", "-a"});
    if (ps.exit_code != 0) return "berthd does not answer: " + ps.err;
    for (const auto& task : json::parse(ps.out).value("tasks", json::array())) {
      std::string id = task["id"];
      ids_.insert(id);
      if (task["status"] != "QUARANTINED") berthd_->ctl({"stop", id});
      auto rm = berthd_->ctl({"rm", id});
      // An error injected into the removal itself (engine.remove_task)
      // fails that request only, once: a user asks again.
      if (rm.exit_code != 0 && rm.err.find("injected an error") != std::string::npos) {
        rm = berthd_->ctl({"rm", id});
      }
      if (rm.exit_code != 0) return "rm " + id + ": " + rm.err;
    }
    berthd_->own_rules_of(ids_);
    std::string leaks = berthd_->leftovers();
    // Files berthd keeps per task: none once the tasks are removed.
    for (const std::string& dir :
         {berthd_->root() + "/tasks", berthd_->root() + "/tasks/quarantine",
          berthd_->root() + "/volumes", berthd_->root() + "/logs"}) {
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.path().filename() == "quarantine") continue;
        leaks += "file: " + entry.path().string() + "\n";
      }
    }
    return leaks;
  }

  std::vector<std::string> trace() const {
    std::vector<std::string> points;
    std::ifstream in(trace_);
    for (std::string line; std::getline(in, line);) points.push_back(line);
    return points;
  }

 private:
  const Mode& mode_;
  std::unique_ptr<Berthd> berthd_;
  std::set<std::string> ids_;
  std::string trace_;
};

std::string status_of(const json& task) {
  std::string status = task.value("status", "?");
  if (status == "STOPPED") {
    status += " (" + task.value("stopCode", "") + ": " + task.value("stoppedReason", "") + ")";
  }
  return status;
}

// The points a task of `mode` reaches in its whole life (run, stop, rm),
// each once, in order, and how often each was reached.
std::vector<std::pair<std::string, int>> points_of(const Mode& mode, int index,
                                                   const std::string& registry,
                                                   std::string* problem) {
  Round round(mode, index, registry, "", /*trace=*/true);
  if (!round.ok()) {
    *problem = "berthd-failpoints did not start";
    return {};
  }
  std::string error;
  std::string id = round.run(&error);
  if (id.empty() ||
      !round.await(id, [](const json& t) { return t.value("status", "") == "RUNNING"; })) {
    *problem = "the task did not run: " + error + round.berthd().log_text();
    return {};
  }
  round.berthd().ctl({"stop", id});
  round.berthd().ctl({"rm", id});
  std::vector<std::pair<std::string, int>> points;
  std::map<std::string, int> counts;
  for (const auto& point : round.trace()) {
    if (counts[point]++ == 0) points.emplace_back(point, 0);
  }
  for (auto& [point, count] : points) count = counts[point];
  return points;
}

Outcome crash_at(const Mode& mode, int index, const std::string& registry,
                 const std::string& point) {
  Outcome outcome;
  Round round(mode, index, registry, point + "=crash");
  if (!round.ok()) return {"berthd did not start", "", "berthd did not start"};
  std::string error;
  std::string id = round.run(&error);
  std::map<std::string, std::string> pids_before;
  bool crashed = false;
  if (!id.empty()) {
    crashed = !round.await(id, [](const json& t) {
      return t.value("status", "") == "RUNNING" || t.value("status", "") == "STOPPED";
    });
    if (!crashed) {
      round.berthd().ctl({"stop", id});
      crashed = !round.await(id, [](const json& t) { return t.value("status", "") == "STOPPED"; });
    }
    if (!crashed) {
      round.berthd().ctl({"rm", id});
      crashed = round.berthd().wait_exit(std::chrono::seconds(10)).has_value();
    }
  } else {
    crashed = round.berthd().wait_exit(std::chrono::seconds(10)).has_value();
  }
  if (!crashed) return {"not reached", round.remove_all_and_check(), ""};
  pids_before = round.running_pids();
  if (!round.berthd().restart(BERTHD_PATH, {})) {
    return {"crashed; berthd did not restart", "", round.berthd().log_text()};
  }
  // Each task settles: RUNNING and meant to run, or STOPPED. (A stop that
  // the crash interrupted reads RUNNING, desired STOPPED, until it ends.)
  auto ps = round.berthd().ctl({"-o", "json", "ps", "-a"});
  json tasks = ps.exit_code == 0 ? json::parse(ps.out).value("tasks", json::array()) : json();
  if (tasks.empty()) outcome.text = "crashed; no task left (never durable, or removed)";
  for (const auto& listed : tasks) {
    std::string task_id = listed["id"];
    round.await(task_id, [](const json& t) {
      return (t.value("status", "") == "RUNNING" && t.value("desiredStatus", "") == "RUNNING") ||
             t.value("status", "") == "STOPPED";
    });
    json task = round.describe(task_id);
    std::string status = task.value("status", "");
    outcome.text = "crashed; " + status_of(task);
    if (status == "RUNNING") {
      for (const auto& c : task["containers"]) {
        auto before = pids_before.find(c["containerdId"]);
        if (before == pids_before.end()) continue;
        if (std::to_string(c["pid"].get<int>()) != before->second) {
          outcome.problem += "container " + c["name"].get<std::string>() + " has pid " +
                             std::to_string(c["pid"].get<int>()) + ", had " + before->second + "; ";
        } else {
          outcome.text = "crashed; RUNNING, adopted (same pid)";
        }
      }
    } else if (status == "STOPPED") {
      if (task.value("stoppedReason", "").empty()) outcome.problem += "STOPPED without a reason; ";
    } else {
      outcome.problem += "ended " + status + "; ";
    }
  }
  outcome.leaks = round.remove_all_and_check();
  if (!outcome.problem.empty()) outcome.problem += round.berthd().log_text();
  return outcome;
}

Outcome error_at(const Mode& mode, int index, const std::string& registry, const std::string& point,
                 bool in_setup) {
  Outcome outcome;
  Round round(mode, index, registry, point + "=error");
  if (!round.ok()) return {"berthd did not start", "", "berthd did not start"};
  std::string error;
  std::string id = round.run(&error);
  const std::string named = "failpoint '" + point.substr(0, point.find('@')) + "'";
  if (id.empty()) {
    outcome.text = "refused";
    if (error.find(named) == std::string::npos)
      outcome.problem = "refused without naming it: " + error;
  } else {
    bool alive = round.await(id, [](const json& t) {
      return t.value("status", "") == "RUNNING" || t.value("status", "") == "STOPPED";
    });
    json task = round.describe(id);
    if (alive && task.value("status", "") == "RUNNING") {
      round.berthd().ctl({"stop", id});
      round.await(id, [](const json& t) { return t.value("status", "") == "STOPPED"; });
      task = round.describe(id);
    }
    outcome.text = status_of(task);
    std::string reason = task.value("stoppedReason", "");
    bool names_it = reason.find(named) != std::string::npos;
    if (names_it) outcome.text = "STOPPED, the reason names the step";
    if (in_setup && !names_it && task.value("stopCode", "") != "UserInitiated") {
      outcome.problem = "the reason does not name the step: " + reason;
    }
    if (!in_setup) outcome.text = "retried; " + status_of(task);
    // A checkpoint write that failed is retried until it is durable: the
    // task goes on.
    if (point.starts_with("checkpoint.write") && !names_it) {
      outcome.text = "write retried; " + status_of(task);
      outcome.problem.clear();
    }
  }
  outcome.leaks = round.remove_all_and_check();
  if (!outcome.problem.empty()) outcome.problem += "\n" + round.berthd().log_text();
  return outcome;
}

class CrashTest : public IntegrationTest {};

TEST_F(CrashTest, EveryFailpointCrashedOrFailedLeavesTheTaskWholeAndNothingBehind) {
  auto all = modes();
  // BERTH_CRASH_MODES="none,host" narrows the run (while working on one).
  if (const char* only = std::getenv("BERTH_CRASH_MODES")) {
    std::string wanted = std::string(",") + only + ",";
    std::erase_if(
        all, [&](const Mode& m) { return wanted.find("," + m.name + ",") == std::string::npos; });
  }
  // Per mode, on a thread of its own: the points its task reaches, then a
  // crash at each, then an error at each.
  struct Row {
    std::string point;
    std::string action;
    std::map<std::string, Outcome> by_mode;
  };
  std::mutex mu;
  std::map<std::pair<std::string, std::string>, Row> rows;  // (action, point)
  std::vector<std::string> order;
  std::vector<std::string> problems;
  std::vector<std::thread> threads;
  for (size_t m = 0; m < all.size(); ++m) {
    threads.emplace_back([&, m] {
      const Mode& mode = all[m];
      int index = static_cast<int>(m);
      std::string problem;
      auto points = points_of(mode, index, registry(), &problem);
      if (points.empty()) {
        std::lock_guard lock(mu);
        problems.push_back(mode.name + ": " + problem);
        return;
      }
      // The task reaches RUNNING before its first signal: set-up points are
      // those before it.
      bool in_setup = true;
      std::vector<std::pair<std::string, bool>> armed;
      for (const auto& [point, count] : points) {
        if (point.starts_with("container.signal")) in_setup = false;
        armed.emplace_back(point, in_setup);
        // Each checkpoint write is a moment of its own: the first few.
        if (point.starts_with("checkpoint.write")) {
          for (int n = 2; n <= std::min(count, 4); ++n) {
            armed.emplace_back(point + "@" + std::to_string(n), in_setup);
          }
        }
      }
      for (const auto& [point, setup] : armed) {
        for (const std::string action : {"crash", "error"}) {
          // A later checkpoint write that fails is retried until it is
          // durable (tests/unit/state/store_test.cpp, FullDiskTest): its
          // crash is the moment of interest.
          if (action == "error" && point.find('@') != std::string::npos) continue;
          auto began = std::chrono::steady_clock::now();
          Outcome outcome = action == "crash" ? crash_at(mode, index, registry(), point)
                                              : error_at(mode, index, registry(), point, setup);
          outcome.took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - began)
                                .count();
          std::lock_guard lock(mu);
          auto key = std::pair{action, point};
          if (!rows.contains(key)) order.push_back(action + "|" + point);
          rows[key].point = point;
          rows[key].action = action;
          rows[key].by_mode[mode.name] = outcome;
          if (!outcome.problem.empty()) {
            problems.push_back(mode.name + ", " + action + " at " + point + ": " + outcome.problem);
          }
          if (!outcome.leaks.empty()) {
            problems.push_back(mode.name + ", " + action + " at " + point + " leaked:\n" +
                               outcome.leaks);
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::ostringstream table;
  table << "failpoint | action | mode | outcome | leaks | ms\n";
  size_t leaks = 0;
  size_t cells = 0;
  for (const auto& [key, row] : rows) {
    for (const auto& [mode, outcome] : row.by_mode) {
      size_t found =
          outcome.leaks.empty()
              ? 0
              : static_cast<size_t>(std::count(outcome.leaks.begin(), outcome.leaks.end(), '\n'));
      leaks += found;
      ++cells;
      table << row.point << " | " << row.action << " | " << mode << " | " << outcome.text << " | "
            << found << " | " << outcome.took_ms << "\n";
    }
  }
  table << cells << " rounds, " << leaks << " leaks\n";
  std::cout << table.str();
  if (const char* out = std::getenv("BERTH_CRASH_TABLE")) std::ofstream(out) << table.str();
  EXPECT_GT(cells, all.size() * 20) << "every mode reaches its points";
  for (const auto& problem : problems) ADD_FAILURE() << problem;
  EXPECT_EQ(leaks, 0u);
}

// A task that failed while its image was still being pulled is STOPPED at
// once (the pull undoes nothing), but its removal waits for the pull: once
// `rm` returns, nothing the task started still runs (its pull's lease goes
// with the pull).
TEST_F(CrashTest, RemovingATaskWaitsForThePullItStarted) {
  Mode mode = modes()[1];  // bridge: its namespace is made while the image is pulled
  ASSERT_EQ(mode.name, "bridge+port");
  Round round(mode, 9, registry(), "image.pull.before=delay:3000;netns.create.before=error",
              /*trace=*/true);
  ASSERT_TRUE(round.ok());
  std::string error;
  std::string id = round.run(&error);
  ASSERT_FALSE(id.empty()) << error;
  ASSERT_TRUE(round.await(id, [](const json& t) { return t.value("status", "") == "STOPPED"; }));
  auto points = round.trace();
  ASSERT_EQ(std::count(points.begin(), points.end(), "image.pull.after"), 0)
      << "the pull was meant to be under way when the task stopped";
  auto rm = round.berthd().ctl({"rm", id});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  points = round.trace();
  EXPECT_EQ(std::count(points.begin(), points.end(), "image.pull.after"), 1)
      << "rm returned while the task's pull still ran";
  EXPECT_EQ(round.remove_all_and_check(), "");
}

}  // namespace
}  // namespace berth::testing
