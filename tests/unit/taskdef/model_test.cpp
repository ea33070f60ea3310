// Task definition parsing: the typed model, the describe wrapper and
// malformed input, required fields and their types.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "agent/taskdef/taskdef.h"
#include "taskdef/helpers.h"

namespace berth::agent::testing {
namespace {

// --- The model ------------------------------------------------------------

TEST(TaskDefinitionModel, FullDefinitionFillsEveryField) {
  const char* text = R"({
    "family": "shop",
    "networkMode": "bridge",
    "cpu": "1 vCPU",
    "memory": "2 GB",
    "pidMode": "task",
    "ipcMode": "none",
    "tags": [{"key": "team", "value": "web"}],
    "volumes": [
      {"name": "scratch"},
      {"name": "data", "host": {"sourcePath": "/srv/data/"}},
      {"name": "cache", "dockerVolumeConfiguration": {"scope": "task", "driver": "local"}}
    ],
    "containerDefinitions": [
      {
        "name": "db",
        "image": "postgres:16",
        "essential": false,
        "cpu": 256,
        "memory": 512,
        "memoryReservation": 256,
        "healthCheck": {"command": ["CMD-SHELL", "pg_isready"], "interval": 10,
                        "timeout": 3, "retries": 5, "startPeriod": 20},
        "mountPoints": [{"sourceVolume": "data", "containerPath": "/var/lib/postgresql",
                         "readOnly": false}],
        "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
        "stopTimeout": 60
      },
      {
        "name": "web",
        "image": "nginx",
        "entryPoint": ["/docker-entrypoint.sh"],
        "command": ["nginx", "-g", "daemon off;"],
        "environment": [{"name": "MODE", "value": "prod"}, {"name": "EMPTY"}],
        "environmentFiles": [{"type": "s3", "value": "file:///srv/data/web.env"}],
        "workingDirectory": "/srv",
        "user": "101:101",
        "hostname": "web",
        "readonlyRootFilesystem": true,
        "interactive": true,
        "pseudoTerminal": true,
        "portMappings": [{"containerPort": 80, "hostPort": 8080},
                         {"containerPort": 53, "protocol": "udp", "name": "dns"}],
        "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}],
        "links": ["db:database"],
        "startTimeout": 120,
        "linuxParameters": {
          "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
          "initProcessEnabled": true,
          "sharedMemorySize": 64,
          "tmpfs": [{"containerPath": "/tmp", "size": 32, "mountOptions": ["noexec", "mode=1777"]}],
          "devices": [{"hostPath": "/dev/fuse", "permissions": ["read", "write"]}],
          "maxSwap": 0,
          "swappiness": 10
        },
        "dockerLabels": {"com.example.tier": "front"},
        "extraHosts": [{"hostname": "db.local", "ipAddress": "10.0.0.2"}],
        "dnsServers": ["1.1.1.1", "2606:4700:4700::1111"],
        "dnsSearchDomains": ["example.com"],
        "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/scratch"}],
        "volumesFrom": [{"sourceContainer": "db", "readOnly": true}],
        "restartPolicy": {"enabled": true, "ignoredExitCodes": [0, 143],
                          "restartAttemptPeriod": 120},
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/shop"}}
      }
    ]
  })";
  auto outcome = parse_task_definition(text, {false, {"/srv", "/dev/fuse"}});
  ASSERT_TRUE(outcome.problems.empty()) << listing(outcome.problems);
  const TaskDefinition& task = *outcome.definition;
  EXPECT_EQ(task.family, "shop");
  EXPECT_FALSE(task.revision.has_value());
  EXPECT_EQ(task.network_mode, NetworkMode::kBridge);
  EXPECT_EQ(task.cpu, 1024u);
  EXPECT_EQ(task.memory_mib, 2048u);
  EXPECT_EQ(task.pid_mode, PidMode::kTask);
  EXPECT_EQ(task.ipc_mode, IpcMode::kNone);
  EXPECT_EQ(task.tags, (std::map<std::string, std::string>{{"team", "web"}}));
  ASSERT_EQ(task.volumes.size(), 3u);
  EXPECT_EQ(task.volumes[0].name, "scratch");
  EXPECT_FALSE(task.volumes[0].host_source_path.has_value());
  EXPECT_EQ(task.volumes[1].host_source_path, "/srv/data");  // normalised
  EXPECT_FALSE(task.volumes[2].host_source_path.has_value());

  ASSERT_EQ(task.containers.size(), 2u);
  const ContainerDefinition& db = task.containers[0];
  EXPECT_EQ(db.name, "db");
  EXPECT_EQ(db.image, "postgres:16");
  EXPECT_FALSE(db.essential);
  EXPECT_EQ(db.cpu, 256u);
  EXPECT_EQ(db.memory_mib, 512u);
  EXPECT_EQ(db.memory_reservation_mib, 256u);
  ASSERT_TRUE(db.health_check.has_value());
  EXPECT_EQ(db.health_check->command, (std::vector<std::string>{"CMD-SHELL", "pg_isready"}));
  EXPECT_EQ(db.health_check->interval_seconds, 10u);
  EXPECT_EQ(db.health_check->timeout_seconds, 3u);
  EXPECT_EQ(db.health_check->retries, 5u);
  EXPECT_EQ(db.health_check->start_period_seconds, 20u);
  ASSERT_EQ(db.ulimits.size(), 1u);
  EXPECT_EQ(db.ulimits[0].name, "nofile");
  EXPECT_EQ(db.ulimits[0].soft_limit, 1024);
  EXPECT_EQ(db.ulimits[0].hard_limit, 4096);
  EXPECT_EQ(db.stop_timeout_seconds, 60u);
  EXPECT_FALSE(db.start_timeout_seconds.has_value());

  const ContainerDefinition& web = task.containers[1];
  EXPECT_TRUE(web.essential);
  EXPECT_EQ(web.entry_point, (std::vector<std::string>{"/docker-entrypoint.sh"}));
  EXPECT_EQ(web.command, (std::vector<std::string>{"nginx", "-g", "daemon off;"}));
  ASSERT_EQ(web.environment.size(), 2u);
  EXPECT_EQ(web.environment[0].name, "MODE");
  EXPECT_EQ(web.environment[0].value, "prod");
  EXPECT_EQ(web.environment[1].value, "");
  ASSERT_EQ(web.environment_files.size(), 1u);
  EXPECT_EQ(web.environment_files[0].type, "s3");
  EXPECT_EQ(web.environment_files[0].value, "/srv/data/web.env");
  EXPECT_EQ(web.working_directory, "/srv");
  EXPECT_EQ(web.user, "101:101");
  EXPECT_EQ(web.hostname, "web");
  EXPECT_TRUE(web.readonly_root_filesystem);
  EXPECT_FALSE(web.privileged);
  EXPECT_TRUE(web.interactive);
  EXPECT_TRUE(web.pseudo_terminal);
  ASSERT_EQ(web.port_mappings.size(), 2u);
  EXPECT_EQ(web.port_mappings[0].container_port, 80u);
  EXPECT_EQ(web.port_mappings[0].host_port, 8080u);
  EXPECT_EQ(web.port_mappings[0].protocol, "tcp");
  EXPECT_EQ(web.port_mappings[1].container_port, 53u);
  EXPECT_FALSE(web.port_mappings[1].host_port.has_value());
  EXPECT_EQ(web.port_mappings[1].protocol, "udp");
  EXPECT_EQ(web.port_mappings[1].name, "dns");
  ASSERT_EQ(web.depends_on.size(), 1u);
  EXPECT_EQ(web.depends_on[0].container_name, "db");
  EXPECT_EQ(web.depends_on[0].condition, DependencyCondition::kHealthy);
  EXPECT_EQ(web.links, (std::vector<std::string>{"db:database"}));
  EXPECT_EQ(web.start_timeout_seconds, 120u);
  EXPECT_FALSE(web.stop_timeout_seconds.has_value());
  ASSERT_TRUE(web.linux_parameters.has_value());
  const LinuxParameters& lp = *web.linux_parameters;
  EXPECT_EQ(lp.capabilities_add, (std::vector<std::string>{"NET_ADMIN"}));
  EXPECT_EQ(lp.capabilities_drop, (std::vector<std::string>{"ALL"}));
  EXPECT_TRUE(lp.init_process_enabled);
  EXPECT_EQ(lp.shared_memory_size_mib, 64u);
  ASSERT_EQ(lp.tmpfs.size(), 1u);
  EXPECT_EQ(lp.tmpfs[0].container_path, "/tmp");
  EXPECT_EQ(lp.tmpfs[0].size_mib, 32u);
  EXPECT_EQ(lp.tmpfs[0].mount_options, (std::vector<std::string>{"noexec", "mode=1777"}));
  ASSERT_EQ(lp.devices.size(), 1u);
  EXPECT_EQ(lp.devices[0].host_path, "/dev/fuse");
  EXPECT_EQ(lp.devices[0].container_path, "");
  EXPECT_EQ(lp.devices[0].permissions, (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(lp.max_swap_mib, 0);
  EXPECT_EQ(lp.swappiness, 10);
  EXPECT_EQ(web.docker_labels, (std::map<std::string, std::string>{{"com.example.tier", "front"}}));
  ASSERT_EQ(web.extra_hosts.size(), 1u);
  EXPECT_EQ(web.extra_hosts[0].hostname, "db.local");
  EXPECT_EQ(web.extra_hosts[0].ip_address, "10.0.0.2");
  EXPECT_EQ(web.dns_servers, (std::vector<std::string>{"1.1.1.1", "2606:4700:4700::1111"}));
  EXPECT_EQ(web.dns_search_domains, (std::vector<std::string>{"example.com"}));
  ASSERT_EQ(web.mount_points.size(), 1u);
  EXPECT_EQ(web.mount_points[0].source_volume, "scratch");
  EXPECT_EQ(web.mount_points[0].container_path, "/scratch");
  EXPECT_FALSE(web.mount_points[0].read_only);
  ASSERT_EQ(web.volumes_from.size(), 1u);
  EXPECT_EQ(web.volumes_from[0].source_container, "db");
  EXPECT_TRUE(web.volumes_from[0].read_only);
  ASSERT_TRUE(web.restart_policy.has_value());
  EXPECT_TRUE(web.restart_policy->enabled);
  EXPECT_EQ(web.restart_policy->ignored_exit_codes, (std::vector<int32_t>{0, 143}));
  EXPECT_EQ(web.restart_policy->restart_attempt_period_seconds, 120u);
}

TEST(TaskDefinitionModel, DefaultsApplyWhenFieldsAreAbsent) {
  json doc = base();
  container(doc)["portMappings"] = json::parse(R"([{"containerPort": 80}])");
  container(doc)["healthCheck"] = json::parse(R"({"command": ["CMD", "true"]})");
  container(doc)["restartPolicy"] = json::parse(R"({"enabled": true})");
  TaskDefinition task = accepted(doc);
  EXPECT_FALSE(task.network_mode.has_value());
  EXPECT_FALSE(task.cpu.has_value());
  EXPECT_FALSE(task.memory_mib.has_value());
  const ContainerDefinition& c = task.containers.at(0);
  EXPECT_TRUE(c.essential);
  EXPECT_FALSE(c.entry_point.has_value());
  EXPECT_FALSE(c.command.has_value());
  EXPECT_EQ(c.port_mappings.at(0).protocol, "tcp");
  EXPECT_FALSE(c.port_mappings.at(0).host_port.has_value());
  EXPECT_EQ(c.health_check->interval_seconds, 30u);
  EXPECT_EQ(c.health_check->timeout_seconds, 5u);
  EXPECT_EQ(c.health_check->retries, 3u);
  EXPECT_EQ(c.health_check->start_period_seconds, 0u);
  EXPECT_EQ(c.restart_policy->restart_attempt_period_seconds, 300u);
  EXPECT_FALSE(c.linux_parameters.has_value());
}

TEST(TaskDefinitionModel, ExplicitNullsReadAsAbsent) {
  json doc = base();
  doc["cpu"] = nullptr;
  doc["volumes"] = nullptr;
  container(doc)["essential"] = nullptr;
  container(doc)["secrets"] = nullptr;
  container(doc)["portMappings"] = nullptr;
  TaskDefinition task = accepted(doc);
  EXPECT_TRUE(task.containers.at(0).essential);
}

TEST(TaskDefinitionModel, TaskCpuAndMemoryTakeNumbersStringsAndUnits) {
  const std::vector<std::pair<json, uint32_t>> cpus = {
      {256, 256},       {"512", 512},    {"0.25 vCPU", 256}, {".25 vcpu", 256},
      {"1 vCPU", 1024}, {"2vcpu", 2048}, {" 4 VCPU ", 4096}, {196608, 196608}};
  for (const auto& [value, units] : cpus) {
    json doc = base();
    doc["cpu"] = value;
    EXPECT_EQ(accepted(doc).cpu, units) << value.dump();
  }
  const std::vector<std::pair<json, uint64_t>> memories = {
      {512, 512},     {"1024", 1024}, {"512 MiB", 512}, {"512MB", 512},
      {"1 GB", 1024}, {".5 gb", 512}, {"2GiB", 2048},   {"0.25 GB", 256}};
  for (const auto& [value, mib] : memories) {
    json doc = base();
    doc["memory"] = value;
    EXPECT_EQ(accepted(doc).memory_mib, mib) << value.dump();
  }
}

// --- The describe wrapper and malformed input -----------------------------

TEST(TaskDefinitionWrapper, DescribeOutputIsAcceptedAndRevisionKept) {
  json inner = base();
  inner["taskDefinitionArn"] = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7";
  inner["revision"] = 7;
  inner["status"] = "ACTIVE";
  inner["requiresAttributes"] = json::parse(R"([{"name": "ecs.capability.task-eni"}])");
  inner["compatibilities"] = {"EC2", "FARGATE"};
  inner["registeredAt"] = "2024-01-02T03:04:05.000Z";
  inner["registeredBy"] = "arn:aws:iam::123456789012:user/me";
  inner["deregisteredAt"] = "2024-02-02T03:04:05.000Z";
  json doc = {{"taskDefinition", inner},
              {"tags", json::parse(R"([{"key": "team", "value": "web"}])")}};
  TaskDefinition task = accepted(doc);
  EXPECT_EQ(task.family, "web");
  EXPECT_EQ(task.revision, "7");
  EXPECT_EQ(task.tags.at("team"), "web");
}

TEST(TaskDefinitionWrapper, PathsAreRelativeToTheTaskDefinition) {
  json inner = base();
  container(inner).erase("image");
  expect_problem(parse(json{{"taskDefinition", inner}}), "containerDefinitions[0].image",
                 "required");
}

TEST(TaskDefinitionWrapper, OtherKeysBesideTaskDefinitionAreUnknown) {
  expect_problem(parse(json{{"taskDefinition", base()}, {"extra", 1}}), "",
                 "unknown field \"extra\" beside \"taskDefinition\"");
  expect_problem(parse(json{{"taskDefinition", {1, 2}}}), "taskDefinition",
                 "must be an object, not an array");
}

TEST(TaskDefinitionInput, MalformedJsonIsOneProblemWithItsPosition) {
  auto outcome = parse_task_definition("{\n  \"family\": \"web\"\n  \"cpu\": 1\n}", {});
  ASSERT_EQ(outcome.problems.size(), 1u) << listing(outcome.problems);
  EXPECT_EQ(outcome.problems[0].path, "");
  EXPECT_TRUE(outcome.problems[0].reason.starts_with("not valid JSON: parse error at line 3"))
      << outcome.problems[0].reason;
  EXPECT_NE(outcome.problems[0].reason.find("(byte "), std::string::npos);
  EXPECT_FALSE(outcome.definition.has_value());

  outcome = parse_task_definition("", {});
  ASSERT_EQ(outcome.problems.size(), 1u);
  EXPECT_TRUE(
      outcome.problems[0].reason.starts_with("not valid JSON: parse error at line 1, column 1: "))
      << outcome.problems[0].reason;
}

TEST(TaskDefinitionInput, DocumentMustBeAnObject) {
  expect_problem(parse_task_definition("[]", {}), "",
                 "a task definition must be a JSON object, not an array");
}

// --- Required fields and types --------------------------------------------

TEST(TaskDefinitionValidation, RequiredFields) {
  auto outcome = parse(json::object());
  EXPECT_TRUE(has_problem(outcome, "family", "required"));
  EXPECT_TRUE(has_problem(outcome, "containerDefinitions", "required"));
  EXPECT_EQ(outcome.problems.size(), 2u) << listing(outcome.problems);

  json doc = base();
  doc["containerDefinitions"] = json::array();
  expect_problem(parse(doc), "containerDefinitions", "must list at least one container");

  doc = base();
  container(doc) = json::object({{"essential", true}});
  outcome = parse(doc);
  EXPECT_TRUE(has_problem(outcome, "containerDefinitions[0].name", "required"));
  EXPECT_TRUE(has_problem(outcome, "containerDefinitions[0].image", "required"));
  EXPECT_EQ(outcome.problems.size(), 2u) << listing(outcome.problems);
}

TEST(TaskDefinitionValidation, WrongTypesNameTheExpectedType) {
  json doc = base();
  container(doc)["cpu"] = "256";
  expect_problem(parse(doc), "containerDefinitions[0].cpu",
                 "must be a number, not a string (\"256\")");

  doc = base();
  container(doc)["portMappings"] = {{"containerPort", 80}};
  expect_problem(parse(doc), "containerDefinitions[0].portMappings",
                 "must be an array of objects, not an object");

  doc = base();
  container(doc)["essential"] = "yes";
  expect_problem(parse(doc), "containerDefinitions[0].essential",
                 "must be true or false, not a string (\"yes\")");

  doc = base();
  container(doc)["command"] = "echo hi";
  expect_problem(parse(doc), "containerDefinitions[0].command",
                 "must be an array of strings, not a string (\"echo hi\")");

  doc = base();
  container(doc)["entryPoint"] = {"sh", 1};
  expect_problem(parse(doc), "containerDefinitions[0].entryPoint[1]",
                 "must be a string, not a number (1)");

  doc = base();
  container(doc)["memory"] = 1.5;
  expect_problem(parse(doc), "containerDefinitions[0].memory", "must be a whole number, not 1.5");

  doc = base();
  container(doc)["healthCheck"] = {"CMD", "true"};
  expect_problem(parse(doc), "containerDefinitions[0].healthCheck",
                 "must be an object, not an array");

  doc = base();
  container(doc)["dockerLabels"] = {{"com.example.x", 1}};
  expect_problem(parse(doc), "containerDefinitions[0].dockerLabels[\"com.example.x\"]",
                 "must be a string, not a number (1)");

  doc = base();
  doc["containerDefinitions"] = {"app"};
  expect_problem(parse(doc), "containerDefinitions[0]",
                 "must be an object, not a string (\"app\")");
}

TEST(TaskDefinitionValidation, TaskCpuAndMemoryErrors) {
  json doc = base();
  doc["cpu"] = "lots";
  expect_problem(parse(doc), "cpu",
                 "must be CPU units (256 or \"256\") or vCPUs (\"0.25 vCPU\"), not a string "
                 "(\"lots\")");
  doc["cpu"] = "64";
  expect_problem(parse(doc), "cpu", "must be between 128 and 196608 CPU units, not 64");
  doc["cpu"] = "300 vCPU";
  expect_problem(parse(doc), "cpu", "must be between 128 and 196608 CPU units, not 307200");

  doc = base();
  doc["memory"] = "1 TB";
  expect_problem(parse(doc), "memory",
                 "must be MiB (512 or \"512\") or a size (\"512 MiB\", \"1 GB\"), not a string "
                 "(\"1 TB\")");
  doc["memory"] = true;
  expect_problem(parse(doc), "memory",
                 "must be MiB (512 or \"512\") or a size (\"512 MiB\", \"1 GB\"), not true");
  doc["memory"] = "4";
  expect_problem(parse(doc), "memory", "must be at least 6 MiB, not 4");
}

TEST(TaskDefinitionValidation, UnknownFieldsAreNamed) {
  json doc = base();
  doc["colour"] = "blue";
  expect_problem(parse(doc), "colour", "unknown field");

  doc = base();
  container(doc)["healthCheck"] = json::parse(R"({"command": ["CMD", "true"], "Interval": 5})");
  expect_problem(parse(doc), "containerDefinitions[0].healthCheck.Interval",
                 "unknown field (did you mean \"interval\"?)");

  doc = base();
  container(doc)["linuxParameters"] = {{"capabilities", {{"remove", {"NET_RAW"}}}}};
  expect_problem(parse(doc), "containerDefinitions[0].linuxParameters.capabilities.remove",
                 "unknown field");
}

TEST(TaskDefinitionValidation, ManyProblemsAreReportedAtOnce) {
  json doc = json::parse(R"({
    "family": "bad family",
    "networkMode": "nat",
    "containerDefinitions": [
      {"name": "a", "image": "busybox", "cpu": -1, "secrets": [{"name": "X", "valueFrom": "y"}]},
      {"name": "a", "image": "busybox", "dependsOn": [{"containerName": "db", "condition": "START"}]}
    ]
  })");
  auto outcome = parse(doc);
  EXPECT_TRUE(has_problem(outcome, "family",
                          "must be 1-255 letters, digits, hyphens or underscores, not \"bad "
                          "family\""));
  EXPECT_TRUE(
      has_problem(outcome, "networkMode", "must be bridge, awsvpc, host or none, not \"nat\""));
  EXPECT_TRUE(has_problem(outcome, "containerDefinitions[0].cpu",
                          "must be between 0 and 196608 CPU units, not -1"));
  EXPECT_TRUE(has_problem(outcome, "containerDefinitions[0].secrets",
                          "not supported by berth: secrets need AWS Secrets Manager or SSM "
                          "Parameter Store; use environment or environmentFiles"));
  EXPECT_TRUE(has_problem(outcome, "containerDefinitions[1].name",
                          "\"a\" is also the name of containerDefinitions[0]"));
  EXPECT_TRUE(has_problem(outcome, "containerDefinitions[1].dependsOn[0].containerName",
                          "no container named \"db\""));
  EXPECT_EQ(outcome.problems.size(), 6u) << listing(outcome.problems);
  EXPECT_FALSE(outcome.definition.has_value());
}

}  // namespace
}  // namespace berth::agent::testing
