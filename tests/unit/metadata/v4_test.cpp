// The task metadata endpoint v4's JSON and Docker's stats JSON, built from
// task views and usage samples made by hand.
#include "agent/metadata/v4.h"

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/metadata/docker_stats.h"

namespace berth::agent::metadata {
namespace {

using nlohmann::json;

// 2026-12-06T23:04:00Z
constexpr int64_t kCreated = 1796598240000;

// A task of two containers, "web" (dockerLabels, a health check, a restart
// policy, port 80, limits) and "sidecar" (nothing set), in `mode`.
TaskView make_view(const std::string& network_mode, bool with_limits = true) {
  json doc = {
      {"family", "shop"},
      {"revision", 7},
      {"networkMode", network_mode},
      {"containerDefinitions",
       {{{"name", "web"},
         {"image", "nginx:1.27"},
         {"cpu", 256},
         {"memory", 512},
         {"dockerLabels", {{"team", "payments"}, {"com.amazonaws.ecs.cluster", "spoofed"}}},
         {"portMappings", {{{"containerPort", 80}, {"protocol", "tcp"}}}},
         {"healthCheck", {{"command", {"CMD-SHELL", "true"}}}},
         {"restartPolicy", {{"enabled", true}}}},
        {{"name", "sidecar"}, {"image", "busybox"}, {"essential", false}}}},
  };
  if (network_mode == "host") doc["containerDefinitions"][0]["portMappings"][0]["hostPort"] = 80;
  if (with_limits) {
    doc["cpu"] = "512";
    doc["memory"] = "1024";
  }
  ParseOutcome outcome = parse_task_definition(doc.dump(), ValidationPolicy{});
  EXPECT_TRUE(outcome.problems.empty()) << format_problems(outcome.problems);
  auto spec = std::make_shared<TaskSpec>();
  spec->definition = *outcome.definition;
  const NetworkMode mode = *parse_network_mode(network_mode);
  TaskView view;
  view.record = new_task("0123456789ab", "shop", doc.dump(), spec->definition, kCreated, mode);
  view.spec = spec;
  return view;
}

// Every container pulled, started and running.
void run(TaskView& view) {
  view.record.known = TaskStatus::kRunning;
  view.record.started_at_ms = kCreated + 6000;
  for (size_t i = 0; i < view.record.containers.size(); ++i) {
    ContainerRecord& c = view.record.containers[i];
    c.image_resource.phase = Phase::kReady;
    c.image_digest = "sha256:" + std::string(64, static_cast<char>('a' + i));
    c.pulled_at_ms = kCreated + 4000 + static_cast<int64_t>(i) * 1000;  // :04, :05
    c.runtime.phase = Phase::kReady;
    c.status = TaskStatus::kRunning;
    c.pid = 100 + static_cast<uint32_t>(i);
    c.started_at_ms = kCreated + 5123;  // 23:04:05.123
  }
}

NodeFacts facts() { return {"prod", "node-1", "eu-west-1a"}; }

TEST(MetadataV4Test, ArnsAndTimes) {
  EXPECT_EQ(task_arn(facts(), "0123456789ab"), "arn:berth:ecs:node-1::task/prod/0123456789ab");
  EXPECT_EQ(task_arn(NodeFacts{}, "x"), "arn:berth:ecs:::task/default/x");
  EXPECT_EQ(container_arn(facts(), "0123456789ab", "web"),
            "arn:berth:ecs:node-1::container/prod/0123456789ab/web");
  EXPECT_EQ(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(rfc3339_ms(kCreated + 5123), "2026-12-06T23:04:05.123Z");
  EXPECT_EQ(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
}

TEST(MetadataV4Test, RunningBridgeTask) {
  TaskView view = make_view("bridge");
  run(view);
  view.record.containers[0].network = NetworkAttachment{
      "/run/berth/netns/x", "eth0", {"172.17.0.2"}, "172.17.0.1", "", {{80, 32768, "tcp"}}};
  view.record.containers[0].health = Health::kHealthy;
  view.record.containers[0].health_output = "ok";
  view.record.containers[1].network =
      NetworkAttachment{"/run/berth/netns/y", "eth0", {"172.17.0.3"}, "172.17.0.1", "", {}};

  const json task = task_json(view, facts());
  EXPECT_EQ(task["Cluster"], "prod");
  EXPECT_EQ(task["TaskARN"], "arn:berth:ecs:node-1::task/prod/0123456789ab");
  EXPECT_EQ(task["Family"], "shop");
  EXPECT_EQ(task["Revision"], "7");
  EXPECT_EQ(task["DesiredStatus"], "RUNNING");
  EXPECT_EQ(task["KnownStatus"], "RUNNING");
  EXPECT_EQ(task["Limits"], json({{"CPU", 0.5}, {"Memory", 1024}}));
  EXPECT_EQ(task["PullStartedAt"], "2026-12-06T23:04:00.000Z");
  EXPECT_EQ(task["PullStoppedAt"], "2026-12-06T23:04:05.000Z");
  EXPECT_EQ(task["AvailabilityZone"], "eu-west-1a");
  EXPECT_EQ(task["LaunchType"], "EC2");
  EXPECT_FALSE(task.contains("ExecutionStoppedAt"));
  ASSERT_EQ(task["Containers"].size(), 2u);
  EXPECT_EQ(task["Containers"][0], container_json(view, 0, facts()));
  EXPECT_EQ(task["Containers"][1], container_json(view, 1, facts()));

  const json web = task["Containers"][0];
  EXPECT_EQ(web["DockerId"], "0123456789ab-web");
  EXPECT_EQ(web["Name"], "web");
  EXPECT_EQ(web["DockerName"], "0123456789ab-web");
  EXPECT_EQ(web["Image"], "nginx:1.27");
  EXPECT_EQ(web["ImageID"], "sha256:" + std::string(64, 'a'));
  EXPECT_EQ(web["ContainerARN"], "arn:berth:ecs:node-1::container/prod/0123456789ab/web");
  EXPECT_EQ(web["Labels"],
            json({
                {"team", "payments"},
                {"com.amazonaws.ecs.cluster", "prod"},
                {"com.amazonaws.ecs.container-name", "web"},
                {"com.amazonaws.ecs.task-arn", "arn:berth:ecs:node-1::task/prod/0123456789ab"},
                {"com.amazonaws.ecs.task-definition-family", "shop"},
                {"com.amazonaws.ecs.task-definition-version", "7"},
            }));
  EXPECT_EQ(web["DesiredStatus"], "RUNNING");
  EXPECT_EQ(web["KnownStatus"], "RUNNING");
  EXPECT_EQ(web["Limits"], json({{"CPU", 256}, {"Memory", 512}}));
  EXPECT_EQ(web["CreatedAt"], "2026-12-06T23:04:05.123Z");
  EXPECT_EQ(web["StartedAt"], "2026-12-06T23:04:05.123Z");
  EXPECT_FALSE(web.contains("FinishedAt"));
  EXPECT_FALSE(web.contains("ExitCode"));
  EXPECT_EQ(web["Type"], "NORMAL");
  EXPECT_EQ(web["Health"], json({{"status", "HEALTHY"}, {"output", "ok"}}));
  EXPECT_EQ(web["RestartCount"], 0);
  EXPECT_EQ(web["Networks"], json::parse(R"([{"NetworkMode": "bridge",
                                              "IPv4Addresses": ["172.17.0.2"]}])"));
  EXPECT_EQ(web["Ports"], json::parse(R"([{"ContainerPort": 80, "Protocol": "tcp",
                                           "HostPort": 32768, "HostIp": "0.0.0.0"}])"));

  const json sidecar = task["Containers"][1];
  EXPECT_EQ(sidecar["Labels"].size(), 5u);
  EXPECT_EQ(sidecar["Limits"], json({{"CPU", 0}}));
  EXPECT_FALSE(sidecar.contains("Health"));
  EXPECT_FALSE(sidecar.contains("RestartCount"));
  EXPECT_FALSE(sidecar.contains("Ports"));
  EXPECT_EQ(sidecar["Networks"][0]["IPv4Addresses"], json({"172.17.0.3"}));
}

TEST(MetadataV4Test, AwsvpcContainersShareTheTaskNetwork) {
  TaskView view = make_view("awsvpc");
  run(view);
  view.record.network = NetworkAttachment{
      "/run/berth/netns/t", "eth0", {"10.0.2.106", "2001:db8::6"}, "10.0.2.1", "eni0", {}};
  const json expected_network = json::parse(R"([{"NetworkMode": "awsvpc",
      "IPv4Addresses": ["10.0.2.106"], "IPv6Addresses": ["2001:db8::6"],
      "AttachmentIndex": 0}])");
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(container_json(view, i, facts())["Networks"], expected_network) << i;
  }
  // Reached at the container's own port.
  EXPECT_EQ(container_json(view, 0, facts())["Ports"],
            json::parse(R"([{"ContainerPort": 80, "Protocol": "tcp", "HostPort": 80}])"));

  // Before the network is up: the mode, no address.
  view.record.network.reset();
  EXPECT_EQ(container_json(view, 0, facts())["Networks"],
            json::parse(R"([{"NetworkMode": "awsvpc", "AttachmentIndex": 0}])"));
}

TEST(MetadataV4Test, HostModeHasNoAddresses) {
  TaskView view = make_view("host");
  run(view);
  // A container's own attachment, were there one, is not the host's.
  view.record.containers[0].network = NetworkAttachment{"x", "eth0", {"172.17.0.9"}, "", "", {}};
  const json web = container_json(view, 0, facts());
  EXPECT_EQ(web["Networks"], json::parse(R"([{"NetworkMode": "host"}])"));
  EXPECT_EQ(web["Ports"],
            json::parse(R"([{"ContainerPort": 80, "Protocol": "tcp", "HostPort": 80}])"));
}

TEST(MetadataV4Test, StoppedTask) {
  TaskView view = make_view("bridge");
  run(view);
  view.record.desired = TaskStatus::kStopped;
  view.record.known = TaskStatus::kStopped;
  view.record.stopped_at_ms = kCreated + 60000;
  ContainerRecord& web = view.record.containers[0];
  web.status = TaskStatus::kStopped;
  web.exit_code = 137;
  web.stopped_at_ms = kCreated + 59250;
  web.restart_count = 2;
  web.pid = 0;

  const json task = task_json(view, facts());
  EXPECT_EQ(task["DesiredStatus"], "STOPPED");
  EXPECT_EQ(task["KnownStatus"], "STOPPED");
  EXPECT_EQ(task["ExecutionStoppedAt"], "2026-12-06T23:05:00.000Z");
  const json c = task["Containers"][0];
  EXPECT_EQ(c["DesiredStatus"], "STOPPED");
  EXPECT_EQ(c["KnownStatus"], "STOPPED");
  EXPECT_EQ(c["FinishedAt"], "2026-12-06T23:04:59.250Z");
  EXPECT_EQ(c["ExitCode"], 137);
  EXPECT_EQ(c["RestartCount"], 2);
  EXPECT_EQ(c["StartedAt"], "2026-12-06T23:04:05.123Z");
  // No network once it is gone: the mode alone.
  EXPECT_EQ(c["Networks"], json::parse(R"([{"NetworkMode": "bridge"}])"));

  // An exit code of 0 is shown as well; a container still running has no
  // FinishedAt even with a stop time from an earlier run.
  web.exit_code = 0;
  EXPECT_EQ(container_json(view, 0, facts())["ExitCode"], 0);
  web.status = TaskStatus::kRunning;
  web.exit_code.reset();
  EXPECT_FALSE(container_json(view, 0, facts()).contains("FinishedAt"));
  EXPECT_FALSE(container_json(view, 0, facts()).contains("ExitCode"));
}

TEST(MetadataV4Test, LeavesOutWhatIsNotKnown) {
  TaskView view = make_view("bridge", /*with_limits=*/false);
  const json task = task_json(view, NodeFacts{});
  EXPECT_EQ(task["Cluster"], "default");
  EXPECT_EQ(task["KnownStatus"], "PENDING");
  EXPECT_FALSE(task.contains("Limits"));
  EXPECT_FALSE(task.contains("PullStartedAt"));
  EXPECT_FALSE(task.contains("PullStoppedAt"));
  EXPECT_FALSE(task.contains("AvailabilityZone"));
  const json c = task["Containers"][0];
  EXPECT_EQ(c["KnownStatus"], "PENDING");
  EXPECT_FALSE(c.contains("ImageID"));
  EXPECT_FALSE(c.contains("CreatedAt"));
  EXPECT_FALSE(c.contains("StartedAt"));
  EXPECT_FALSE(c.contains("ExitCode"));
  EXPECT_FALSE(c.contains("Ports"));  // bridge: none published yet
  EXPECT_EQ(c["Health"], json({{"status", "UNKNOWN"}}));

  // The first pull began: PullStartedAt, but no PullStoppedAt until every
  // container has its image.
  view.record.containers[0].image_resource.phase = Phase::kCreating;
  EXPECT_EQ(task_json(view, NodeFacts{})["PullStartedAt"], "2026-12-06T23:04:00.000Z");
  view.record.containers[0].pulled_at_ms = kCreated + 3000;
  EXPECT_FALSE(task_json(view, NodeFacts{}).contains("PullStoppedAt"));
  view.record.containers[1].pulled_at_ms = kCreated + 2000;
  EXPECT_EQ(task_json(view, NodeFacts{})["PullStoppedAt"], "2026-12-06T23:04:03.000Z");
}

TEST(MetadataV4Test, WholeVcpusPrintAsIntegers) {
  TaskView view = make_view("bridge");
  auto spec = std::make_shared<TaskSpec>(*view.spec);
  spec->definition.cpu = 2048;
  view.spec = spec;
  const json task = task_json(view, facts());
  EXPECT_EQ(task["Limits"]["CPU"].dump(), "2");
  spec->definition.cpu = 256;
  EXPECT_EQ(task_json(view, facts())["Limits"]["CPU"].dump(), "0.25");
}

TEST(MetadataV4Test, QuarantinedTaskHasNoDefinition) {
  TaskView view = make_view("bridge");
  view.spec.reset();
  const json task = task_json(view, facts());
  EXPECT_EQ(task["Family"], "shop");
  EXPECT_EQ(task["Revision"], "");
  EXPECT_FALSE(task.contains("Limits"));
  const json c = task["Containers"][0];
  EXPECT_EQ(c["Limits"], json({{"CPU", 0}}));
  EXPECT_EQ(c["Labels"].size(), 5u);
  EXPECT_EQ(c["Networks"], json::parse(R"([{"NetworkMode": "bridge"}])"));
}

// ---- Docker stats ----

cgroups::TaskStats counters(uint64_t scale) {
  cgroups::TaskStats s;
  s.cpu_usage_ns = 3000 * scale;
  s.cpu_user_ns = 2000 * scale;
  s.cpu_system_ns = 1000 * scale;
  s.cpu_periods = 10 * scale;
  s.cpu_throttled_periods = 2 * scale;
  s.cpu_throttled_ns = 500 * scale;
  s.memory_usage_bytes = 100 << 20;
  s.memory_working_set_bytes = 80 << 20;
  s.memory_rss_bytes = 60 << 20;
  s.memory_cache_bytes = 40 << 20;
  s.memory_max_usage_bytes = 120 << 20;
  s.memory_failcnt = 3;
  s.pids_current = 7;
  return s;
}

netns::InterfaceCounters interface(std::string name, uint64_t base) {
  return {std::move(name), base + 1, base + 2, base + 3, base + 4,
          base + 5,        base + 6, base + 7, base + 8};
}

struct Sampled {
  UsageSample sample;
  TaskUsage task;
};

Sampled sampled(const std::string& mode) {
  Sampled out;
  out.sample.at_ms = kCreated + 65123;
  out.sample.system_cpu_ns = 9'000'000'000;
  out.sample.previous_system_cpu_ns = 8'000'000'000;
  out.sample.online_cpus = 4;
  out.task.view = make_view(mode);
  run(out.task.view);
  out.task.sampled = true;
  for (const auto& record : out.task.view.record.containers) {
    ContainerUsage c;
    c.name = record.name;
    c.containerd_id = record.containerd_id;
    c.sampled = true;
    c.cgroup = counters(2);
    out.task.containers.push_back(c);
  }
  return out;
}

TEST(MetadataV4Test, StatsWithoutPreviousSample) {
  Sampled s = sampled("host");
  const ContainerUsage& c = s.task.containers[0];
  const json stats = container_stats_json(s.sample, s.task, c, uint64_t{8} << 30);
  EXPECT_EQ(stats["id"], "0123456789ab-web");
  EXPECT_EQ(stats["name"], "/0123456789ab-web");
  EXPECT_EQ(stats["read"], "2026-12-06T23:05:05.123Z");
  EXPECT_EQ(stats["preread"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(stats["pids_stats"], json({{"current", 7}}));
  EXPECT_EQ(stats["cpu_stats"], json::parse(R"({
      "cpu_usage": {"total_usage": 6000, "usage_in_kernelmode": 2000, "usage_in_usermode": 4000},
      "system_cpu_usage": 9000000000, "online_cpus": 4,
      "throttling_data": {"periods": 20, "throttled_periods": 4, "throttled_time": 1000}})"));
  EXPECT_EQ(stats["precpu_stats"], json::parse(R"({
      "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
      "system_cpu_usage": 0, "online_cpus": 0,
      "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}})"));
  const json& memory = stats["memory_stats"];
  EXPECT_EQ(memory["usage"], 100 << 20);
  EXPECT_EQ(memory["max_usage"], 120 << 20);
  EXPECT_EQ(memory["failcnt"], 3);
  EXPECT_EQ(memory["limit"], uint64_t{8} << 30);  // no limit: the host's memory
  EXPECT_EQ(memory["stats"]["rss"], 60 << 20);
  EXPECT_EQ(memory["stats"]["total_rss"], 60 << 20);
  EXPECT_EQ(memory["stats"]["cache"], 40 << 20);
  EXPECT_EQ(memory["stats"]["total_cache"], 40 << 20);
  EXPECT_EQ(memory["stats"]["inactive_file"], 20 << 20);
  EXPECT_EQ(memory["stats"]["total_inactive_file"], 20 << 20);
  EXPECT_EQ(stats["blkio_stats"]["io_service_bytes_recursive"], nullptr);
  EXPECT_EQ(stats["num_procs"], 0);
  EXPECT_FALSE(stats.contains("networks"));  // host mode
}

TEST(MetadataV4Test, StatsWithPreviousSample) {
  Sampled s = sampled("bridge");
  ContainerUsage& c = s.task.containers[0];
  c.previous = counters(1);
  c.previous_at_ms = kCreated + 64123;
  c.cgroup.memory_limit_bytes = uint64_t{512} << 20;
  c.cgroup.pids_limit = 100;
  c.networks = {interface("lo", 1000), interface("eth0", 0)};
  const json stats = container_stats_json(s.sample, s.task, c, uint64_t{8} << 30);
  EXPECT_EQ(stats["preread"], "2026-12-06T23:05:04.123Z");
  EXPECT_EQ(stats["precpu_stats"], json::parse(R"({
      "cpu_usage": {"total_usage": 3000, "usage_in_kernelmode": 1000, "usage_in_usermode": 2000},
      "system_cpu_usage": 8000000000, "online_cpus": 4,
      "throttling_data": {"periods": 10, "throttled_periods": 2, "throttled_time": 500}})"));
  EXPECT_EQ(stats["cpu_stats"]["cpu_usage"]["total_usage"], 6000);
  EXPECT_EQ(stats["memory_stats"]["limit"], 512 << 20);
  EXPECT_EQ(stats["pids_stats"], json({{"current", 7}, {"limit", 100}}));
  EXPECT_EQ(stats["networks"], json::parse(R"({"eth0": {
      "rx_bytes": 1, "rx_packets": 2, "rx_errors": 3, "rx_dropped": 4,
      "tx_bytes": 5, "tx_packets": 6, "tx_errors": 7, "tx_dropped": 8}})"));

  // A limit above the host's memory shows as the host's memory.
  c.cgroup.memory_limit_bytes = uint64_t{16} << 30;
  EXPECT_EQ(container_stats_json(s.sample, s.task, c, uint64_t{8} << 30)["memory_stats"]["limit"],
            uint64_t{8} << 30);
  // The host's memory unknown: the limit as it is, else 0.
  EXPECT_EQ(container_stats_json(s.sample, s.task, c, 0)["memory_stats"]["limit"],
            uint64_t{16} << 30);
  c.cgroup.memory_limit_bytes.reset();
  EXPECT_EQ(container_stats_json(s.sample, s.task, c, 0)["memory_stats"]["limit"], 0);
}

TEST(MetadataV4Test, AwsvpcStatsFallBackToTheTaskNamespace) {
  Sampled s = sampled("awsvpc");
  s.task.networks = {interface("eth0", 100)};
  const json stats = container_stats_json(s.sample, s.task, s.task.containers[1], 1 << 30);
  EXPECT_EQ(stats["networks"]["eth0"]["rx_bytes"], 101);
  s.task.containers[1].networks = {interface("eth0", 200)};
  EXPECT_EQ(container_stats_json(s.sample, s.task, s.task.containers[1],
                                 1 << 30)["networks"]["eth0"]["rx_bytes"],
            201);
}

TEST(MetadataV4Test, TaskStatsMapNonRunningToNull) {
  Sampled s = sampled("bridge");
  // sidecar stopped: the sampler no longer has it.
  s.task.view.record.containers[1].status = TaskStatus::kStopped;
  s.task.containers.pop_back();
  json stats = task_stats_json(s.sample, s.task, 1 << 30);
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats["0123456789ab-web"],
            container_stats_json(s.sample, s.task, s.task.containers[0], 1 << 30));
  EXPECT_TRUE(stats["0123456789ab-sidecar"].is_null());

  // Running but without counters in this sample (between starts): null.
  s.task.containers[0].sampled = false;
  stats = task_stats_json(s.sample, s.task, 1 << 30);
  EXPECT_TRUE(stats["0123456789ab-web"].is_null());
  EXPECT_EQ(stats.dump().find("\"0123456789ab-web\":null") != std::string::npos, true);
}

}  // namespace
}  // namespace berth::agent::metadata
