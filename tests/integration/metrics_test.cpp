// Metrics end to end (root, real containerd, cgroups, CNI): /metrics in
// cAdvisor's names checked by promtool and scraped by a real Prometheus,
// `berthctl stats` (JSON and a redrawing table on a pseudo-terminal), and
// the introspection API under hostile clients.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "fixtures/task_fixture.h"

namespace berth::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct HttpResult {
  int status = 0;
  std::string body;
};

// One GET over loopback with curl: the status and the body.
HttpResult http_get(const std::string& url) {
  auto result = run_command({"curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", url});
  HttpResult out;
  auto nl = result.out.rfind('\n');
  if (nl == std::string::npos) return out;
  out.status = static_cast<int>(std::strtol(result.out.c_str() + nl + 1, nullptr, 10));
  out.body = result.out.substr(0, nl);
  return out;
}

// The value of the one series of `family` whose labels hold every
// `label="value"` of `want`; nullopt when there is none.
std::optional<double> series(const std::string& text, const std::string& family,
                             const std::vector<std::string>& want) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with(family + "{")) continue;
    bool all = true;
    for (const auto& w : want) all = all && line.find(w) != std::string::npos;
    if (all) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return std::nullopt;
}

// A cgroup control file of a task's container, v1 or v2.
std::string cgroup_file(const std::string& ns, const std::string& task, const std::string& cid,
                        const std::string& v1_controller, const std::string& file) {
  std::string v2 = "/sys/fs/cgroup/" + ns + "/" + task + "/" + cid + "/" + file;
  std::string v1 =
      "/sys/fs/cgroup/" + v1_controller + "/" + ns + "/" + task + "/" + cid + "/" + file;
  std::ifstream in(fs::exists(v1) ? v1 : v2);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

uint64_t keyed(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  uint64_t v = 0;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return 0;
}

class MetricsTest : public TaskTest {
 protected:
  std::string address(const std::string& which) {
    auto info = berthd_->ctl({"-o", "json", "node", "info"});
    EXPECT_EQ(info.exit_code, 0) << info.err;
    return json::parse(info.out).value(which, "");
  }
  std::string metrics_url() { return "http://" + address("metricsAddress") + "/metrics"; }

  static json burner() {
    json c = busybox("burn", {"sh", "-c", "trap 'exit 0' TERM; while :; do :; done"});
    c["stopTimeout"] = 1;
    return c;
  }
  static json filler() {
    // 40 MiB in the container's tmpfs /dev/shm: charged to its memory
    // cgroup, never reclaimable file cache.
    json c = busybox("fill", {"sh", "-c",
                              "dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null; "
                              "trap 'exit 0' TERM; sleep 100000 & wait"});
    c["stopTimeout"] = 1;
    c["memory"] = 96;
    return c;
  }
  std::string cid(const json& task, const std::string& name) {
    return container(task, name)["containerdId"].get<std::string>();
  }
  // `berthctl stats --no-stream -o json` until `done` holds for its output.
  json stats_until(const std::function<bool(const json&)>& done) {
    json last;
    for (int attempt = 0; attempt < 20; ++attempt) {
      auto result = berthd_->ctl({"-o", "json", "stats", "--no-stream"});
      EXPECT_EQ(result.exit_code, 0) << result.err;
      if (result.exit_code != 0) break;
      last = json::parse(result.out);
      if (done(last)) return last;
    }
    ADD_FAILURE() << "stats never showed what was awaited:\n" << last.dump(2);
    return last;
  }
  static json entry(const json& stats, const std::string& container) {
    for (const auto& e : stats) {
      if (e["container"] == container) return e;
    }
    return json::object();
  }
};

TEST_F(MetricsTest, ScrapeHasCadvisorNamesPassesPromtoolAndMatchesTheCgroup) {
  std::string id = run({{"family", "metered"},
                        {"networkMode", "awsvpc"},
                        {"cpu", "256"},
                        {"memory", "256"},
                        {"containerDefinitions", {burner(), filler()}}});
  json task = wait_status(id, "RUNNING");
  // The filler has written its 40 MiB once its log... it has none: wait on
  // the working set itself.
  auto page = http_get(metrics_url());
  for (int i = 0; i < 50; ++i) {
    auto ws = series(page.body, "container_memory_working_set_bytes",
                     {"container=\"fill\"", "task=\"" + id + "\""});
    if (ws && *ws >= 40.0 * (1 << 20)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    page = http_get(metrics_url());
  }
  ASSERT_EQ(page.status, 200) << page.body;

  // promtool finds nothing wrong with the page.
  std::string scrape_file = berthd_->dir() + "/scrape.txt";
  {
    std::ofstream out(scrape_file);
    out << page.body;
  }
  auto lint = run_command({"sh", "-c", "promtool check metrics < " + scrape_file});
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;

  // cAdvisor's families, labelled with the task.
  const std::string of_task = "task=\"" + id + "\"";
  const std::string family = "family=\"metered\"";
  for (const char* name :
       {"container_cpu_usage_seconds_total", "container_cpu_cfs_throttled_periods_total",
        "container_memory_working_set_bytes", "container_memory_rss",
        "container_spec_memory_limit_bytes", "container_network_receive_bytes_total",
        "container_oom_events_total", "container_start_time_seconds"}) {
    EXPECT_TRUE(series(page.body, name, {"container=\"burn\"", of_task, family})) << name << "\n"
                                                                                  << page.body;
  }
  // The 40 MiB are in the filler's working set, its limit is its own.
  auto ws =
      series(page.body, "container_memory_working_set_bytes", {"container=\"fill\"", of_task});
  ASSERT_TRUE(ws);
  EXPECT_GE(*ws, 40.0 * (1 << 20));
  auto limit =
      series(page.body, "container_spec_memory_limit_bytes", {"container=\"fill\"", of_task});
  ASSERT_TRUE(limit);
  EXPECT_EQ(*limit, 96.0 * (1 << 20));
  // The task cgroup (container="") holds the task's CPU limit: the burner is
  // throttled there.
  auto throttled =
      series(page.body, "container_cpu_cfs_throttled_periods_total", {"container=\"\"", of_task});
  ASSERT_TRUE(throttled) << page.body;
  EXPECT_GT(*throttled, 0);
  // berth's own families.
  EXPECT_TRUE(series(page.body, "berth_tasks", {"status=\"RUNNING\""}));
  EXPECT_NE(page.body.find("berth_task_start_duration_seconds_count{network_mode=\"awsvpc\"} 1"),
            std::string::npos);
  EXPECT_NE(page.body.find("\nprocess_resident_memory_bytes "), std::string::npos);
  // Where the start's time went: each step of the set-up, each phase of a
  // container's start (two containers: two of each), and the waits.
  for (const char* step :
       {"network", "cgroup", "image", "container", "container.image_resolve", "container.snapshot",
        "container.record", "container.task", "container.start", "queued", "report"}) {
    auto n = series(page.body, "berth_task_start_step_duration_seconds_count",
                    {"step=\"" + std::string(step) + "\""});
    ASSERT_TRUE(n) << step << "\n" << page.body;
    if (std::string_view(step).starts_with("container")) {
      EXPECT_EQ(*n, 2) << step;
    }
    auto sum = series(page.body, "berth_task_start_step_duration_seconds_sum",
                      {"step=\"" + std::string(step) + "\""});
    ASSERT_TRUE(sum) << step;
    EXPECT_GT(*sum, 0) << step;
  }

  // The idle filler's CPU counter is the cgroup's own.
  auto cpu = series(http_get(metrics_url()).body, "container_cpu_usage_seconds_total",
                    {"container=\"fill\"", of_task});
  ASSERT_TRUE(cpu);
  std::string v1_usage =
      cgroup_file(berthd_->ns(), id, cid(task, "fill"), "cpuacct", "cpuacct.usage");
  const double cgroup_seconds =
      v1_usage.empty()
          ? static_cast<double>(keyed(
                cgroup_file(berthd_->ns(), id, cid(task, "fill"), "", "cpu.stat"), "usage_usec")) /
                1e6
          : static_cast<double>(std::stoull(v1_usage)) / 1e9;
  EXPECT_GT(cgroup_seconds, 0);
  EXPECT_NEAR(*cpu, cgroup_seconds, 0.05);

  // A stopped task's series go.
  berthd_->ctl({"stop", id});
  wait_status(id, "STOPPED");
  page = http_get(metrics_url());
  EXPECT_EQ(page.body.find(of_task), std::string::npos) << page.body;
  EXPECT_TRUE(series(page.body, "berth_tasks", {"status=\"STOPPED\""}));
}

TEST_F(MetricsTest, PrometheusScrapesBerthdAndAnswersPromQl) {
  std::string id = run({{"family", "scraped"},
                        {"networkMode", "awsvpc"},
                        {"cpu", "256"},
                        {"memory", "256"},
                        {"containerDefinitions", {filler()}}});
  json task = wait_status(id, "RUNNING");
  // A real Prometheus on a loopback port of its own, scraping every second.
  const int port = free_loopback_port();
  const std::string dir = berthd_->dir() + "/prometheus";
  fs::create_directories(dir + "/data");
  {
    std::ofstream out(dir + "/prometheus.yml");
    out << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
           "scrape_configs:\n  - job_name: berth\n    static_configs:\n      - targets: ['"
        << address("metricsAddress") << "']\n";
  }
  auto prometheus = Process::start({"prometheus", "--config.file=" + dir + "/prometheus.yml",
                                    "--storage.tsdb.path=" + dir + "/data",
                                    "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                                   dir + "/prometheus.log");
  ASSERT_TRUE(prometheus);
  ASSERT_TRUE(wait_for_port(port, std::chrono::seconds(30)));

  auto query = [&](const std::string& promql) {
    auto result = run_command({"curl", "-sS", "--max-time", "10", "-G",
                               "http://127.0.0.1:" + std::to_string(port) + "/api/v1/query",
                               "--data-urlencode", "query=" + promql});
    return result.exit_code == 0 ? json::parse(result.out, nullptr, false) : json();
  };
  const std::string selector = "{task=\"" + id + "\",container=\"fill\"}";
  json cpu;
  json memory;
  // Prometheus scrapes on its own clock: ask until the first scrape landed.
  for (int attempt = 0; attempt < 60; ++attempt) {
    cpu = query("container_cpu_usage_seconds_total" + selector);
    memory = query("container_memory_working_set_bytes" + selector);
    // Until a scrape after the filler wrote its 40 MiB (it idles from then).
    if (cpu.is_object() && !cpu["data"]["result"].empty() && memory.is_object() &&
        !memory["data"]["result"].empty() &&
        std::stod(memory["data"]["result"][0]["value"][1].get<std::string>()) >= 40 << 20) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_FALSE(cpu["data"]["result"].empty()) << cpu.dump(2);
  ASSERT_FALSE(memory["data"]["result"].empty()) << memory.dump(2);
  EXPECT_EQ(cpu["data"]["result"][0]["metric"]["family"], "scraped");
  double working_set = std::stod(memory["data"]["result"][0]["value"][1].get<std::string>());
  // The cgroup's own figures: usage less inactive file.
  const std::string c = cid(task, "fill");
  std::string usage = cgroup_file(berthd_->ns(), id, c, "memory", "memory.usage_in_bytes");
  std::string stat = cgroup_file(berthd_->ns(), id, c, "memory", "memory.stat");
  if (!usage.empty()) {
    double expected = static_cast<double>(std::stoull(usage) - keyed(stat, "total_inactive_file"));
    EXPECT_NEAR(working_set, expected, 1 << 20);
  } else {
    std::string current = cgroup_file(berthd_->ns(), id, c, "memory", "memory.current");
    double expected = static_cast<double>(std::stoull(current) - keyed(stat, "inactive_file"));
    EXPECT_NEAR(working_set, expected, 1 << 20);
  }
  EXPECT_GE(working_set, 40.0 * (1 << 20));
  // The idle container's CPU counter as the cgroup has it (v1 cpuacct.usage
  // in ns, v2 cpu.stat usage_usec).
  double cpu_seconds = std::stod(cpu["data"]["result"][0]["value"][1].get<std::string>());
  std::string v1_usage = cgroup_file(berthd_->ns(), id, c, "cpuacct", "cpuacct.usage");
  double cgroup_seconds =
      v1_usage.empty() ? static_cast<double>(keyed(
                             cgroup_file(berthd_->ns(), id, c, "", "cpu.stat"), "usage_usec")) /
                             1e6
                       : static_cast<double>(std::stoull(v1_usage)) / 1e9;
  EXPECT_GT(cpu_seconds, 0);
  EXPECT_NEAR(cpu_seconds, cgroup_seconds, 0.05);
  berthd_->ctl({"stop", id});
  wait_status(id, "STOPPED");
}

TEST_F(MetricsTest, StatsShowCpuUnderTheTaskLimitAndMemory) {
  std::string id = run({{"family", "limited"},
                        {"networkMode", "awsvpc"},
                        {"cpu", "256"},
                        {"memory", "256"},
                        {"containerDefinitions", {burner(), filler()}}});
  wait_status(id, "RUNNING");
  json stats = stats_until([&](const json& s) {
    return entry(s, "burn").value("cpuPercent", 0.0) > 5 &&
           entry(s, "fill").value("memoryWorkingSetBytes", 0) >= 40 << 20;
  });
  // 256 units of 1024: a quarter of one CPU.
  double cpu = entry(stats, "burn").value("cpuPercent", 0.0);
  EXPECT_GT(cpu, 15);
  EXPECT_LT(cpu, 35);
  EXPECT_GE(entry(stats, "fill").value("memoryWorkingSetBytes", 0), 40 << 20);
  EXPECT_EQ(entry(stats, "fill").value("memoryLimitBytes", 0), 96 << 20);
  EXPECT_EQ(entry(stats, "burn")["task"], id);

  // The table, one sample.
  auto table = berthd_->ctl({"stats", "--no-stream", id});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("CONTAINER"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("burn"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("/ 96MiB"), std::string::npos) << table.out;
  // A task that is not there is an error naming it.
  auto missing = berthd_->ctl({"stats", "--no-stream", "nosuchtask"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("nosuchtask"), std::string::npos) << missing.err;

  // On a terminal the table redraws every second: the test is the terminal.
  std::string script = berthd_->dir() + "/stats_on_a_terminal.py";
  {
    std::ofstream out(script);
    out << R"(import os, pty, sys, time, signal
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b''
deadline = time.time() + 30
while out.count(b'\x1b[2J') < 3 and time.time() < deadline:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
os.kill(pid, signal.SIGINT)
_, status = os.waitpid(pid, 0)
sys.stdout.write('redraws=%d exit=%d\n' % (out.count(b'\x1b[2J'), os.waitstatus_to_exitcode(status)))
sys.stdout.write(out.decode(errors='replace'))
)";
  }
  std::vector<std::string> argv = {"python3", script};
  for (const auto& a : berthd_->ctl_argv({"stats", id})) argv.push_back(a);
  auto live = run_command(argv, {}, std::chrono::seconds(60));
  EXPECT_NE(live.out.find("redraws=3 exit=0"), std::string::npos) << live.out << live.err;
  EXPECT_NE(live.out.find("burn"), std::string::npos) << live.out;
  berthd_->ctl({"stop", id});
  wait_status(id, "STOPPED");
}

TEST_F(MetricsTest, IntrospectionAnswersAndHostileClientsDoNotStopIt) {
  std::string id =
      run({{"family", "seen"}, {"networkMode", "awsvpc"}, {"containerDefinitions", {filler()}}});
  json task = wait_status(id, "RUNNING");
  const std::string base = "http://" + address("introspectionAddress");
  auto metadata = http_get(base + "/v1/metadata");
  ASSERT_EQ(metadata.status, 200) << metadata.body;
  json m = json::parse(metadata.body);
  EXPECT_EQ(m["Cluster"], "default");
  EXPECT_TRUE(m["Version"].get<std::string>().starts_with("berth ")) << m.dump();
  auto tasks = http_get(base + "/v1/tasks");
  ASSERT_EQ(tasks.status, 200);
  json t = json::parse(tasks.body);
  ASSERT_EQ(t["Tasks"].size(), 1u) << t.dump(2);
  EXPECT_EQ(t["Tasks"][0]["Family"], "seen");
  EXPECT_EQ(t["Tasks"][0]["KnownStatus"], "RUNNING");
  EXPECT_EQ(t["Tasks"][0]["Containers"][0]["Name"], "fill");
  auto one = http_get(base + "/v1/tasks?dockerid=" + cid(task, "fill"));
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(json::parse(one.body)["Family"], "seen");
  // Bad input: 404 (or 400) with a JSON error.
  for (const auto& [path, status] : std::vector<std::pair<std::string, int>>{
           {"/v1/nothing", 404}, {"/v1/tasks?dockerid=nosuch", 404}, {"/v1/tasks?x=1", 400}}) {
    auto bad = http_get(base + path);
    EXPECT_EQ(bad.status, status) << path;
    EXPECT_TRUE(json::parse(bad.body, nullptr, false).contains("error")) << path << bad.body;
  }

  // 1,000 silent connections and an oversized request: the others are served.
  const auto hostport = address("introspectionAddress");
  const uint16_t port = static_cast<uint16_t>(std::stoi(hostport.substr(hostport.rfind(':') + 1)));
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &files);
  std::vector<int> silent;
  for (int i = 0; i < 1000; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0) {
      silent.push_back(fd);
    } else if (fd >= 0) {
      ::close(fd);
    }
  }
  EXPECT_GE(silent.size(), 900u);
  auto huge =
      run_command({"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                   "X-Big: " + std::string(100000, 'x'), base + "/v1/metadata"});
  EXPECT_EQ(huge.out, "431") << huge.err;
  auto still = http_get(base + "/v1/metadata");
  EXPECT_EQ(still.status, 200);
  auto scrape = http_get(metrics_url());
  EXPECT_EQ(scrape.status, 200);
  for (int fd : silent) ::close(fd);
  berthd_->ctl({"stop", id});
  wait_status(id, "STOPPED");
}

}  // namespace
}  // namespace berth::testing
