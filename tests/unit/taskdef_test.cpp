// Task definition parsing and validation: the typed model, the describe
// wrapper, every validation rule with its exact path and reason, start order,
// and the field table against docs/task-definitions.md.
#include "agent/taskdef/taskdef.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace berth::agent {
namespace {

using nlohmann::json;

json base() {
  return json::parse(R"({
    "family": "web",
    "containerDefinitions": [{"name": "app", "image": "busybox"}]
  })");
}

ParseOutcome parse(const json& doc, const ValidationPolicy& policy = {}) {
  return parse_task_definition(doc.dump(), policy);
}

std::string listing(const std::vector<Problem>& problems) {
  return problems.empty() ? "(no problems)" : format_problems(problems);
}

// The outcome has exactly this one problem.
void expect_problem(const ParseOutcome& outcome, const std::string& path,
                    const std::string& reason) {
  ASSERT_EQ(outcome.problems.size(), 1u) << listing(outcome.problems);
  EXPECT_EQ(outcome.problems[0].path, path);
  EXPECT_EQ(outcome.problems[0].reason, reason);
  EXPECT_FALSE(outcome.definition.has_value());
}

bool has_problem(const ParseOutcome& outcome, const std::string& path, const std::string& reason) {
  return std::ranges::any_of(
      outcome.problems, [&](const Problem& p) { return p.path == path && p.reason == reason; });
}

TaskDefinition accepted(const json& doc, const ValidationPolicy& policy = {}) {
  auto outcome = parse(doc, policy);
  EXPECT_TRUE(outcome.problems.empty()) << listing(outcome.problems);
  return outcome.definition.value_or(TaskDefinition{});
}

json& container(json& doc, size_t i = 0) { return doc["containerDefinitions"][i]; }

json with_containers(std::initializer_list<json> containers) {
  json doc = base();
  doc["containerDefinitions"] = json::array();
  for (const auto& c : containers) doc["containerDefinitions"].push_back(c);
  return doc;
}

json named(const std::string& name) { return {{"name", name}, {"image", "busybox"}}; }

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

// --- Containers -----------------------------------------------------------

TEST(TaskDefinitionValidation, ContainerNames) {
  json doc = with_containers({named("web"), named("web")});
  expect_problem(parse(doc), "containerDefinitions[1].name",
                 "\"web\" is also the name of containerDefinitions[0]");

  doc = with_containers({named("web app")});
  expect_problem(parse(doc), "containerDefinitions[0].name",
                 "must be 1-255 letters, digits, hyphens or underscores, not \"web app\"");

  doc = with_containers({named(std::string(255, 'a'))});
  EXPECT_TRUE(parse(doc).problems.empty());
  doc = with_containers({named(std::string(256, 'a'))});
  ASSERT_EQ(parse(doc).problems.size(), 1u);
  EXPECT_EQ(parse(doc).problems[0].path, "containerDefinitions[0].name");

  doc = base();
  container(doc)["image"] = "";
  expect_problem(parse(doc), "containerDefinitions[0].image", "must not be empty");
}

TEST(TaskDefinitionValidation, AtLeastOneContainerIsEssential) {
  json a = named("a");
  a["essential"] = false;
  json b = named("b");
  b["essential"] = false;
  expect_problem(parse(with_containers({a, b})), "containerDefinitions",
                 "at least one container must be essential");
}

TEST(TaskDefinitionValidation, DependsOnRules) {
  json db = named("db");
  json web = named("web");
  web["dependsOn"] = json::parse(R"([{"containerName": "cache", "condition": "START"}])");
  expect_problem(parse(with_containers({db, web})),
                 "containerDefinitions[1].dependsOn[0].containerName",
                 "no container named \"cache\"");

  web["dependsOn"] = json::parse(R"([{"containerName": "web", "condition": "START"}])");
  expect_problem(parse(with_containers({db, web})),
                 "containerDefinitions[1].dependsOn[0].containerName",
                 "a container cannot depend on itself");

  web["dependsOn"] = json::parse(R"([{"containerName": "db", "condition": "READY"}])");
  expect_problem(parse(with_containers({db, web})),
                 "containerDefinitions[1].dependsOn[0].condition",
                 "must be START, COMPLETE, SUCCESS or HEALTHY, not \"READY\"");

  web["dependsOn"] = json::parse(R"([{"containerName": "db"}])");
  expect_problem(parse(with_containers({db, web})),
                 "containerDefinitions[1].dependsOn[0].condition", "required");

  web["dependsOn"] = json::parse(R"([{"containerName": "db", "condition": "HEALTHY"}])");
  expect_problem(parse(with_containers({db, web})),
                 "containerDefinitions[1].dependsOn[0].condition",
                 "HEALTHY needs a healthCheck on container \"db\"");
  json checked_db = db;
  checked_db["healthCheck"] = json::parse(R"({"command": ["CMD", "pg_isready"]})");
  EXPECT_TRUE(parse(with_containers({checked_db, web})).problems.empty());

  web["dependsOn"] = json::parse(R"([{"containerName": "db", "condition": "SUCCESS"}])");
  expect_problem(parse(with_containers({db, web})),
                 "containerDefinitions[1].dependsOn[0].condition",
                 "SUCCESS needs container \"db\" to be non-essential: an essential container "
                 "that exits stops the task");
  json init_db = db;
  init_db["essential"] = false;
  auto task = accepted(with_containers({init_db, web}));
  EXPECT_EQ(task.containers[1].depends_on.at(0).condition, DependencyCondition::kSuccess);
}

TEST(TaskDefinitionValidation, DependencyCyclesAreReportedWithTheirPath) {
  json a = named("a");
  json b = named("b");
  json c = named("c");
  a["dependsOn"] = json::parse(R"([{"containerName": "b", "condition": "START"}])");
  b["dependsOn"] = json::parse(R"([{"containerName": "c", "condition": "START"}])");
  c["dependsOn"] = json::parse(R"([{"containerName": "a", "condition": "START"}])");
  expect_problem(parse(with_containers({a, b, c})),
                 "containerDefinitions[2].dependsOn[0].containerName",
                 "dependency cycle: a -> b -> c -> a");

  // A two-container cycle beside a container that is not in it.
  json d = named("d");
  d["dependsOn"] = json::parse(R"([{"containerName": "a", "condition": "START"}])");
  b["dependsOn"] = json::parse(R"([{"containerName": "a", "condition": "START"}])");
  expect_problem(parse(with_containers({d, a, b})),
                 "containerDefinitions[2].dependsOn[0].containerName",
                 "dependency cycle: a -> b -> a");
}

TEST(TaskDefinitionValidation, LongDependencyChains) {
  // Each container depends on the next; the last closes the loop.
  constexpr size_t kCount = 3000;
  json doc = base();
  doc["containerDefinitions"] = json::array();
  for (size_t i = 0; i < kCount; ++i) {
    json c = named("c" + std::to_string(i));
    c["dependsOn"] = {{{"containerName", "c" + std::to_string(i + 1)}, {"condition", "START"}}};
    doc["containerDefinitions"].push_back(c);
  }
  doc["containerDefinitions"][kCount - 1]["dependsOn"][0]["containerName"] = "c0";
  auto outcome = parse(doc);
  ASSERT_EQ(outcome.problems.size(), 1u);
  EXPECT_EQ(outcome.problems[0].path, "containerDefinitions[2999].dependsOn[0].containerName");
  EXPECT_TRUE(outcome.problems[0].reason.starts_with("dependency cycle: c0 -> c1 -> c2 -> "));
  EXPECT_TRUE(outcome.problems[0].reason.ends_with(" -> c2999 -> c0"));

  doc["containerDefinitions"][kCount - 1].erase("dependsOn");
  TaskDefinition task = accepted(doc);
  std::vector<size_t> order = start_order(task);
  ASSERT_EQ(order.size(), kCount);
  EXPECT_EQ(order.front(), kCount - 1);
  EXPECT_EQ(order.back(), 0u);
}

TEST(TaskDefinitionValidation, MemoryAndCpuLimits) {
  json doc = base();
  container(doc)["memory"] = 4;
  expect_problem(parse(doc), "containerDefinitions[0].memory", "must be at least 6 MiB, not 4");

  doc = base();
  container(doc)["memory"] = 128;
  container(doc)["memoryReservation"] = 256;
  expect_problem(parse(doc), "containerDefinitions[0].memoryReservation",
                 "must not exceed memory (128 MiB), not 256");

  doc = base();
  doc["memory"] = "512";
  container(doc)["memory"] = 1024;
  expect_problem(parse(doc), "containerDefinitions[0].memory",
                 "1024 MiB is more than the task's 512 MiB");

  doc = with_containers({named("a"), named("b")});
  doc["cpu"] = "256";
  container(doc, 0)["cpu"] = 200;
  container(doc, 1)["cpu"] = 100;
  expect_problem(parse(doc), "containerDefinitions",
                 "the containers' cpu adds up to 300 units, more than the task's 256");
}

TEST(TaskDefinitionValidation, HealthCheckRules) {
  auto check = [](const json& health_check) {
    json doc = base();
    container(doc)["healthCheck"] = health_check;
    return parse(doc);
  };
  expect_problem(check(json::parse(R"({"command": ["curl", "-f", "localhost"]})")),
                 "containerDefinitions[0].healthCheck.command[0]",
                 "must start with CMD or CMD-SHELL, not \"curl\"");
  expect_problem(check(json::parse(R"({"command": ["CMD-SHELL"]})")),
                 "containerDefinitions[0].healthCheck.command", "names no command after CMD-SHELL");
  expect_problem(check(json::parse(R"({"command": []})")),
                 "containerDefinitions[0].healthCheck.command", "must start with CMD or CMD-SHELL");
  expect_problem(check(json::parse(R"({"interval": 30})")),
                 "containerDefinitions[0].healthCheck.command", "required");
  auto outcome = check(json::parse(
      R"({"command": ["CMD", "true"], "interval": 4, "timeout": 61, "retries": 0,
          "startPeriod": 301})"));
  EXPECT_TRUE(has_problem(outcome, "containerDefinitions[0].healthCheck.interval",
                          "must be between 5 and 300 seconds, not 4"));
  EXPECT_TRUE(has_problem(outcome, "containerDefinitions[0].healthCheck.timeout",
                          "must be between 2 and 60 seconds, not 61"));
  EXPECT_TRUE(has_problem(outcome, "containerDefinitions[0].healthCheck.retries",
                          "must be between 1 and 10, not 0"));
  EXPECT_TRUE(has_problem(outcome, "containerDefinitions[0].healthCheck.startPeriod",
                          "must be between 0 and 300 seconds, not 301"));
  EXPECT_EQ(outcome.problems.size(), 4u) << listing(outcome.problems);
}

TEST(TaskDefinitionValidation, TimeoutsAndRestartPolicy) {
  json doc = base();
  container(doc)["stopTimeout"] = 121;
  expect_problem(parse(doc), "containerDefinitions[0].stopTimeout",
                 "must be between 0 and 120 seconds, not 121");
  doc = base();
  container(doc)["startTimeout"] = -1;
  expect_problem(parse(doc), "containerDefinitions[0].startTimeout",
                 "must be between 0 and 2147483647 seconds, not -1");

  doc = base();
  container(doc)["restartPolicy"] = json::parse(R"({"enabled": true, "restartAttemptPeriod": 59})");
  expect_problem(parse(doc), "containerDefinitions[0].restartPolicy.restartAttemptPeriod",
                 "must be between 60 and 1800 seconds, not 59");
  doc = base();
  container(doc)["restartPolicy"] = {{"enabled", true},
                                     {"ignoredExitCodes", std::vector<int>(51, 1)}};
  expect_problem(parse(doc), "containerDefinitions[0].restartPolicy.ignoredExitCodes",
                 "must list at most 50 exit codes, not 51");
  doc = base();
  container(doc)["restartPolicy"] = json::parse(R"({"ignoredExitCodes": [0]})");
  expect_problem(parse(doc), "containerDefinitions[0].restartPolicy.enabled", "required");
}

TEST(TaskDefinitionValidation, PortMappings) {
  auto with_ports = [](const std::string& mode, const json& ports) {
    json doc = base();
    if (!mode.empty()) doc["networkMode"] = mode;
    container(doc)["portMappings"] = ports;
    return parse(doc);
  };
  expect_problem(with_ports("", json::parse(R"([{"containerPort": 0}])")),
                 "containerDefinitions[0].portMappings[0].containerPort",
                 "must be between 1 and 65535, not 0");
  expect_problem(with_ports("", json::parse(R"([{"containerPort": 80, "hostPort": 70000}])")),
                 "containerDefinitions[0].portMappings[0].hostPort",
                 "must be between 0 and 65535, not 70000");
  expect_problem(with_ports("", json::parse(R"([{"containerPort": 80, "protocol": "sctp"}])")),
                 "containerDefinitions[0].portMappings[0].protocol",
                 "must be tcp or udp, not \"sctp\"");
  expect_problem(with_ports("", json::parse(R"([{"hostPort": 80}])")),
                 "containerDefinitions[0].portMappings[0].containerPort", "required");
  expect_problem(with_ports("awsvpc", json::parse(R"([{"containerPort": 8080, "hostPort": 80}])")),
                 "containerDefinitions[0].portMappings[0].hostPort",
                 "must equal containerPort (8080) in awsvpc network mode, not 80");
  expect_problem(with_ports("host", json::parse(R"([{"containerPort": 8080, "hostPort": 80}])")),
                 "containerDefinitions[0].portMappings[0].hostPort",
                 "must equal containerPort (8080) in host network mode, not 80");
  expect_problem(with_ports("bridge", json::parse(R"([{"containerPort": 80, "hostPort": 8080},
                                                      {"containerPort": 81, "hostPort": 8080}])")),
                 "containerDefinitions[0].portMappings[1].hostPort",
                 "port 8080/tcp is already mapped by containerDefinitions[0].portMappings[0]");
  expect_problem(with_ports("none", json::parse(R"([{"containerPort": 80}])")),
                 "containerDefinitions[0].portMappings",
                 "a task in none network mode has no network to map ports from");
  // Same port on tcp and udp, and several node-chosen host ports, are fine.
  EXPECT_TRUE(with_ports("bridge", json::parse(R"([{"containerPort": 53, "hostPort": 53},
                                                   {"containerPort": 53, "hostPort": 53, "protocol": "udp"},
                                                   {"containerPort": 80, "hostPort": 0},
                                                   {"containerPort": 81}])"))
                  .problems.empty());
  EXPECT_TRUE(with_ports("awsvpc", json::parse(R"([{"containerPort": 80, "hostPort": 80}])"))
                  .problems.empty());

  // In awsvpc mode the containers share one network namespace.
  json doc = with_containers({named("a"), named("b")});
  doc["networkMode"] = "awsvpc";
  container(doc, 0)["portMappings"] = json::parse(R"([{"containerPort": 80}])");
  container(doc, 1)["portMappings"] = json::parse(R"([{"containerPort": 80}])");
  expect_problem(parse(doc), "containerDefinitions[1].portMappings[0].containerPort",
                 "port 80/tcp is already mapped by containerDefinitions[0].portMappings[0]");
}

TEST(TaskDefinitionValidation, UlimitsAndCapabilities) {
  json doc = base();
  container(doc)["ulimits"] = json::parse(R"([{"name": "files", "softLimit": 1, "hardLimit": 2}])");
  auto outcome = parse(doc);
  ASSERT_EQ(outcome.problems.size(), 1u) << listing(outcome.problems);
  EXPECT_EQ(outcome.problems[0].path, "containerDefinitions[0].ulimits[0].name");
  EXPECT_TRUE(outcome.problems[0].reason.starts_with("\"files\" is not a ulimit ECS knows"));

  container(doc)["ulimits"] =
      json::parse(R"([{"name": "nofile", "softLimit": 8192, "hardLimit": 1024}])");
  expect_problem(parse(doc), "containerDefinitions[0].ulimits[0].softLimit",
                 "must not exceed hardLimit (1024), not 8192");

  auto caps = [](const json& capabilities, const ValidationPolicy& policy = {}) {
    json doc = base();
    container(doc)["linuxParameters"] = {{"capabilities", capabilities}};
    return parse(doc, policy);
  };
  expect_problem(caps({{"add", {"FLY"}}}),
                 "containerDefinitions[0].linuxParameters.capabilities.add[0]",
                 "\"FLY\" is not a Linux capability");
  expect_problem(caps({{"add", {"CAP_NET_ADMIN"}}}),
                 "containerDefinitions[0].linuxParameters.capabilities.add[0]",
                 "must be written without the CAP_ prefix: \"NET_ADMIN\"");
  expect_problem(caps({{"add", {"ALL"}}}),
                 "containerDefinitions[0].linuxParameters.capabilities.add[0]",
                 "adding ALL capabilities amounts to a privileged container, which this node "
                 "does not allow (allow_privileged)");
  EXPECT_TRUE(caps({{"add", {"ALL"}}}, {true, {}}).problems.empty());
  EXPECT_TRUE(
      caps({{"drop", {"ALL"}}, {"add", {"SYS_PTRACE", "NET_BIND_SERVICE"}}}).problems.empty());
}

TEST(TaskDefinitionValidation, LinuxParameterDetails) {
  json doc = base();
  container(doc)["linuxParameters"] = json::parse(R"({
    "tmpfs": [{"containerPath": "tmp", "size": 0, "mountOptions": ["bogus"]}],
    "devices": [{"hostPath": "/dev/fuse", "containerPath": "fuse", "permissions": ["all"]}],
    "swappiness": 101
  })");
  auto outcome = parse(doc, {false, {"/dev"}});
  const std::string lp = "containerDefinitions[0].linuxParameters";
  EXPECT_TRUE(has_problem(outcome, lp + ".tmpfs[0].containerPath",
                          "must be an absolute path, not \"tmp\""));
  EXPECT_TRUE(has_problem(outcome, lp + ".tmpfs[0].size", "must be at least 1 MiB, not 0"));
  EXPECT_TRUE(has_problem(outcome, lp + ".tmpfs[0].mountOptions[0]",
                          "\"bogus\" is not a tmpfs mount option ECS accepts"));
  EXPECT_TRUE(has_problem(outcome, lp + ".devices[0].containerPath",
                          "must be an absolute path, not \"fuse\""));
  EXPECT_TRUE(has_problem(outcome, lp + ".devices[0].permissions[0]",
                          "must be read, write or mknod, not \"all\""));
  EXPECT_TRUE(has_problem(outcome, lp + ".swappiness", "must be between 0 and 100, not 101"));
  EXPECT_EQ(outcome.problems.size(), 6u) << listing(outcome.problems);

  // Devices are paths on the node, under the same policy as host volumes.
  doc = base();
  container(doc)["linuxParameters"] = json::parse(R"({"devices": [{"hostPath": "/dev/sda"}]})");
  expect_problem(parse(doc, {false, {"/dev/fuse"}}), lp + ".devices[0].hostPath",
                 "\"/dev/sda\" is not at or below a host path this node allows (allowed: "
                 "/dev/fuse)");
}

TEST(TaskDefinitionValidation, NetworkModeAndLinks) {
  json doc = base();
  doc["networkMode"] = "nat";
  expect_problem(parse(doc), "networkMode", "must be bridge, awsvpc, host or none, not \"nat\"");

  doc = with_containers({named("db"), named("web")});
  container(doc, 1)["links"] = {"db:database"};
  EXPECT_TRUE(parse(doc).problems.empty());
  doc["networkMode"] = "bridge";
  EXPECT_TRUE(parse(doc).problems.empty());
  doc["networkMode"] = "awsvpc";
  expect_problem(parse(doc), "containerDefinitions[1].links",
                 "not supported in awsvpc network mode: links need bridge mode");
  doc["networkMode"] = "bridge";
  container(doc, 1)["links"] = {"db", "cache:c"};
  expect_problem(parse(doc), "containerDefinitions[1].links[1]", "no container named \"cache\"");

  // A networkMode that names no mode is not bridge either: links are refused
  // under the name it gives, beside the problem with the name itself.
  doc = with_containers({named("db"), named("web")});
  container(doc, 1)["links"] = {"db"};
  doc["networkMode"] = "nat";
  auto unknown = parse(doc);
  EXPECT_EQ(unknown.problems.size(), 2u) << listing(unknown.problems);
  EXPECT_TRUE(has_problem(unknown, "containerDefinitions[1].links",
                          "not supported in nat network mode: links need bridge mode"))
      << listing(unknown.problems);

  // A definition without networkMode takes the node's default.
  doc = with_containers({named("db"), named("web")});
  container(doc, 1)["links"] = {"db"};
  ValidationPolicy awsvpc_node;
  awsvpc_node.default_network_mode = NetworkMode::kAwsvpc;
  expect_problem(parse(doc, awsvpc_node), "containerDefinitions[1].links",
                 "not supported in awsvpc network mode: links need bridge mode");
  auto parsed = parse(doc);
  ASSERT_TRUE(parsed.definition);
  EXPECT_EQ(effective_network_mode(*parsed.definition, awsvpc_node), NetworkMode::kAwsvpc);
  EXPECT_EQ(effective_network_mode(*parsed.definition, {}), NetworkMode::kBridge);

  // In awsvpc mode the hostname comes from the task's address.
  doc = base();
  doc["networkMode"] = "awsvpc";
  container(doc)["hostname"] = "web";
  expect_problem(parse(doc), "containerDefinitions[0].hostname",
                 "not supported in awsvpc network mode: the task's hostname comes from its "
                 "address");
}

TEST(TaskDefinitionValidation, PidAndIpcModes) {
  json doc = base();
  doc["pidMode"] = "container";
  expect_problem(parse(doc), "pidMode", "must be task or host, not \"container\"");
  doc = base();
  doc["ipcMode"] = "shareable";
  expect_problem(parse(doc), "ipcMode", "must be task, host or none, not \"shareable\"");
}

TEST(TaskDefinitionValidation, PrivilegedFollowsTheNodePolicy) {
  json doc = base();
  container(doc)["privileged"] = true;
  expect_problem(parse(doc), "containerDefinitions[0].privileged",
                 "this node does not allow privileged containers (allow_privileged)");
  EXPECT_TRUE(accepted(doc, {true, {}}).containers[0].privileged);
}

// --- Volumes and mounts ---------------------------------------------------

TEST(TaskDefinitionVolumes, MountPointsAndVolumesFromNameRealThings) {
  json doc = with_containers({named("a"), named("b")});
  doc["volumes"] = json::parse(R"([{"name": "data"}])");
  container(doc, 0)["mountPoints"] =
      json::parse(R"([{"sourceVolume": "data", "containerPath": "/data"},
                      {"sourceVolume": "logs", "containerPath": "/logs"}])");
  container(doc, 1)["volumesFrom"] = json::parse(R"([{"sourceContainer": "a"},
                                                     {"sourceContainer": "c"},
                                                     {"sourceContainer": "b"}])");
  auto outcome = parse(doc);
  EXPECT_TRUE(has_problem(outcome, "containerDefinitions[0].mountPoints[1].sourceVolume",
                          "no volume named \"logs\""));
  EXPECT_TRUE(has_problem(outcome, "containerDefinitions[1].volumesFrom[1].sourceContainer",
                          "no container named \"c\""));
  EXPECT_TRUE(has_problem(outcome, "containerDefinitions[1].volumesFrom[2].sourceContainer",
                          "a container cannot take volumes from itself"));
  EXPECT_EQ(outcome.problems.size(), 3u) << listing(outcome.problems);

  doc = base();
  doc["volumes"] = json::parse(R"([{"name": "data"}])");
  container(doc)["mountPoints"] =
      json::parse(R"([{"sourceVolume": "data", "containerPath": "data"}])");
  expect_problem(parse(doc), "containerDefinitions[0].mountPoints[0].containerPath",
                 "must be an absolute path, not \"data\"");

  doc = base();
  doc["volumes"] = json::parse(R"([{"name": "data"}, {"name": "data"}])");
  expect_problem(parse(doc), "volumes[1].name", "\"data\" is also the name of volumes[0]");
}

TEST(TaskDefinitionVolumes, HostPathsMustBeAllowedAndNormal) {
  auto volume = [](const std::string& source, const ValidationPolicy& policy) {
    json doc = base();
    doc["volumes"] = {{{"name", "v"}, {"host", {{"sourcePath", source}}}}};
    return parse(doc, policy);
  };
  const ValidationPolicy policy{false, {"/srv/", "/var/lib/berth-data"}};
  EXPECT_EQ(accepted(json::parse(R"({"family": "f",
      "volumes": [{"name": "v", "host": {"sourcePath": "/srv//a/./b/"}}],
      "containerDefinitions": [{"name": "c", "image": "i"}]})"),
                     policy)
                .volumes[0]
                .host_source_path,
            "/srv/a/b");
  EXPECT_TRUE(volume("/srv", policy).problems.empty());
  EXPECT_TRUE(volume("/var/lib/berth-data/x", policy).problems.empty());
  expect_problem(volume("/srv/../etc", policy), "volumes[0].host.sourcePath",
                 "\"/srv/../etc\" must not contain \"..\"");
  expect_problem(volume("srv/a", policy), "volumes[0].host.sourcePath",
                 "must be an absolute path, not \"srv/a\"");
  expect_problem(volume("/srvx", policy), "volumes[0].host.sourcePath",
                 "\"/srvx\" is not at or below a host path this node allows (allowed: /srv, "
                 "/var/lib/berth-data)");
  expect_problem(volume("/etc", {}), "volumes[0].host.sourcePath",
                 "\"/etc\" is not at or below a host path this node allows (it allows none)");
  expect_problem(volume("/var/run/docker.sock", {false, {"/"}}), "volumes[0].host.sourcePath",
                 "not supported by berth: there is no Docker daemon on a berth node, so "
                 "\"/var/run/docker.sock\" does not exist");
}

TEST(TaskDefinitionVolumes, VolumesWithoutHostPathAreTaskScoped) {
  json doc = base();
  doc["volumes"] = json::parse(R"([
    {"name": "a"},
    {"name": "b", "host": {}},
    {"name": "c", "dockerVolumeConfiguration": {"scope": "task", "driver": "local",
                                                 "labels": {"x": "y"}, "autoprovision": false}}
  ])");
  TaskDefinition task = accepted(doc);
  ASSERT_EQ(task.volumes.size(), 3u);
  for (const auto& v : task.volumes) EXPECT_FALSE(v.host_source_path.has_value()) << v.name;

  doc["volumes"] =
      json::parse(R"([{"name": "a", "dockerVolumeConfiguration": {"driver": "rexray/ebs"}}])");
  expect_problem(parse(doc), "volumes[0].dockerVolumeConfiguration.driver",
                 "not supported by berth: volume driver \"rexray/ebs\" (berth has no Docker "
                 "volume plugins; only local)");
  doc["volumes"] =
      json::parse(R"([{"name": "a", "dockerVolumeConfiguration": {"scope": "shared"}}])");
  expect_problem(parse(doc), "volumes[0].dockerVolumeConfiguration.scope",
                 "not supported by berth: shared volumes outlive the task, and berth only has "
                 "task-scoped volumes");
}

TEST(TaskDefinitionVolumes, EnvironmentFilesAreLocalFiles) {
  auto env_file = [](const json& file, const ValidationPolicy& policy) {
    json doc = base();
    container(doc)["environmentFiles"] = {file};
    return parse(doc, policy);
  };
  const ValidationPolicy policy{false, {"/etc/berth/env"}};
  expect_problem(
      env_file({{"type", "s3"}, {"value", "arn:aws:s3:::bucket/app.env"}}, policy),
      "containerDefinitions[0].environmentFiles[0].value",
      "not supported by berth: \"arn:aws:s3:::bucket/app.env\" is in Amazon S3, which berth "
      "does not read; give an absolute path on the node (/path or file:///path)");
  expect_problem(env_file({{"type", "s3"}, {"value", "app.env"}}, policy),
                 "containerDefinitions[0].environmentFiles[0].value",
                 "must be an absolute path on the node (/path or file:///path), not \"app.env\"");
  expect_problem(env_file({{"type", "file"}, {"value", "/etc/shadow"}}, policy),
                 "containerDefinitions[0].environmentFiles[0].value",
                 "\"/etc/shadow\" is not at or below a host path this node allows (allowed: "
                 "/etc/berth/env)");
  expect_problem(env_file({{"type", "http"}, {"value", "/etc/berth/env/a"}}, policy),
                 "containerDefinitions[0].environmentFiles[0].type",
                 "must be s3 or file, not \"http\"");

  json doc = base();
  container(doc)["environmentFiles"] =
      json::parse(R"([{"type": "file", "value": "/etc/berth/env/a.env"},
                      {"type": "s3", "value": "file:///etc/berth/env/b.env"}])");
  auto files = accepted(doc, policy).containers[0].environment_files;
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].type, "file");
  EXPECT_EQ(files[0].value, "/etc/berth/env/a.env");
  EXPECT_EQ(files[1].value, "/etc/berth/env/b.env");
}

// --- Refused and mapped fields --------------------------------------------

TEST(TaskDefinitionFields, RefusedFieldsAreNamedWithTheirReason) {
  json doc = base();
  doc["proxyConfiguration"] = {{"type", "APPMESH"}, {"containerName", "envoy"}};
  expect_problem(parse(doc), "proxyConfiguration",
                 "not supported by berth: App Mesh proxy configuration needs the ECS agent's "
                 "App Mesh integration");

  doc = base();
  container(doc)["resourceRequirements"] = json::parse(R"([{"type": "GPU", "value": "1"}])");
  expect_problem(parse(doc), "containerDefinitions[0].resourceRequirements",
                 "not supported by berth: GPUs and inference accelerators are not managed by "
                 "berth");

  doc = base();
  container(doc)["firelensConfiguration"] = {{"type", "fluentbit"}};
  expect_problem(parse(doc), "containerDefinitions[0].firelensConfiguration",
                 "not supported by berth: FireLens log routing needs the ECS agent's log "
                 "router integration; berth keeps logs in local files");

  doc = base();
  doc["volumes"] =
      json::parse(R"([{"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}])");
  expect_problem(parse(doc), "volumes[0].efsVolumeConfiguration",
                 "not supported by berth: Amazon EFS volumes need AWS; mount the file system on "
                 "the node and use a host volume");

  doc = base();
  doc["runtimePlatform"] = {{"operatingSystemFamily", "WINDOWS_SERVER_2022_CORE"}};
  expect_problem(parse(doc), "runtimePlatform.operatingSystemFamily",
                 "not supported by berth: \"WINDOWS_SERVER_2022_CORE\" needs Windows; berth runs "
                 "Linux containers");

  doc = base();
  container(doc)["image"] = "mcr.microsoft.com/windows/servercore/iis";
  expect_problem(parse(doc), "containerDefinitions[0].image",
                 "not supported by berth: \"mcr.microsoft.com/windows/servercore/iis\" is a "
                 "Windows image; berth runs Linux containers");

  doc = base();
  std::string other = node_cpu_architecture() == "X86_64" ? "ARM64" : "X86_64";
  doc["runtimePlatform"] = {{"cpuArchitecture", other}};
  expect_problem(parse(doc), "runtimePlatform.cpuArchitecture",
                 "not supported by berth: this node runs " + std::string(node_cpu_architecture()) +
                     " containers, not " + other);
  doc["runtimePlatform"] = {{"cpuArchitecture", std::string(node_cpu_architecture())},
                            {"operatingSystemFamily", "LINUX"}};
  EXPECT_TRUE(parse(doc).problems.empty());

  doc = base();
  container(doc)["disableNetworking"] = false;  // not set: passes
  container(doc)["secrets"] = json::array();
  container(doc)["dockerSecurityOptions"] = json::array();
  EXPECT_TRUE(parse(doc).problems.empty()) << listing(parse(doc).problems);
}

// Every refused field of the table is refused when set, at its path.
TEST(TaskDefinitionFields, EveryRefusedFieldIsRefusedWhenSet) {
  int checked = 0;
  for (const FieldDecision& field : task_definition_fields()) {
    if (field.support != FieldSupport::kRefused) continue;
    std::string path(field.path);
    json doc = base();
    doc["volumes"] = json::parse(R"([{"name": "v"}])");
    container(doc)["portMappings"] = json::parse(R"([{"containerPort": 80}])");
    const json value = json::array({json::object({{"x", 1}})});
    std::string expected_path;
    auto place = [&](const std::string& prefix, json& target, const std::string& shown) {
      if (!path.starts_with(prefix)) return false;
      std::string key = path.substr(prefix.size());
      if (key.find_first_of(".[") != std::string::npos) return false;
      target[key] = value;
      expected_path = shown + key;
      return true;
    };
    bool placed = place("containerDefinitions[].portMappings[].", container(doc)["portMappings"][0],
                        "containerDefinitions[0].portMappings[0].") ||
                  place("containerDefinitions[].", container(doc), "containerDefinitions[0].") ||
                  place("volumes[].dockerVolumeConfiguration.",
                        doc["volumes"][0]["dockerVolumeConfiguration"],
                        "volumes[0].dockerVolumeConfiguration.") ||
                  place("volumes[].", doc["volumes"][0], "volumes[0].") || place("", doc, "");
    ASSERT_TRUE(placed) << "no test placement for " << path;
    auto outcome = parse(doc);
    EXPECT_TRUE(
        has_problem(outcome, expected_path, "not supported by berth: " + std::string(field.note)))
        << path << ": " << listing(outcome.problems);
    ++checked;
  }
  EXPECT_GE(checked, 14);
}

TEST(TaskDefinitionFields, MappedFieldsAreAcceptedAndIgnored) {
  json doc = base();
  doc["taskRoleArn"] = "arn:aws:iam::123456789012:role/app";
  doc["executionRoleArn"] = "arn:aws:iam::123456789012:role/exec";
  doc["placementConstraints"] =
      json::parse(R"([{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}])");
  doc["ephemeralStorage"] = {{"sizeInGiB", 30}};
  doc["requiresCompatibilities"] = {"EC2", "FARGATE", "EXTERNAL"};
  doc["enableFaultInjection"] = false;
  container(doc)["logConfiguration"] = json::parse(
      R"({"logDriver": "splunk", "options": {"splunk-url": "https://x"},
          "secretOptions": [{"name": "splunk-token", "valueFrom": "arn:aws:ssm:x"}]})");
  container(doc)["repositoryCredentials"] = {{"credentialsParameter", "arn:aws:secretsmanager:x"}};
  container(doc)["versionConsistency"] = "disabled";
  container(doc)["portMappings"] =
      json::parse(R"([{"containerPort": 80, "appProtocol": "http", "name": "web"}])");
  accepted(doc);

  doc = base();
  container(doc)["logConfiguration"] =
      json::parse(R"([{"logDriver": "awslogs", "options": {"awslogs-group": "g"}}])");
  expect_problem(parse(doc), "containerDefinitions[0].logConfiguration",
                 "must be an object, not an array");

  doc = base();
  container(doc)["logConfiguration"] = {{"logDriver", "papertrail"}};
  auto outcome = parse(doc);
  ASSERT_EQ(outcome.problems.size(), 1u) << listing(outcome.problems);
  EXPECT_EQ(outcome.problems[0].path, "containerDefinitions[0].logConfiguration.logDriver");

  doc = base();
  doc["requiresCompatibilities"] = {"EC2", "LAMBDA"};
  expect_problem(parse(doc), "requiresCompatibilities[1]",
                 "must be EC2, EXTERNAL, FARGATE or MANAGED_INSTANCES, not \"LAMBDA\"");
  doc["ephemeralStorage"] = {{"sizeInGiB", 10}};
  doc["requiresCompatibilities"] = {"FARGATE"};
  expect_problem(parse(doc), "ephemeralStorage.sizeInGiB",
                 "must be between 21 and 200 GiB, not 10");
}

TEST(TaskDefinitionFields, DocsListEveryFieldWithItsDecision) {
  const std::filesystem::path docs =
      std::filesystem::path(BERTH_SOURCE_DIR) / "docs" / "task-definitions.md";
  std::ifstream in(docs);
  if (!in) GTEST_SKIP() << docs << " is not readable";
  // Rows look like: | `containerDefinitions[].cpu` | supported | note |
  auto trim = [](std::string text) {
    text.erase(0, text.find_first_not_of(' '));
    text.erase(text.find_last_not_of(' ') + 1);
    return text;
  };
  std::map<std::string, std::pair<std::string, std::string>> documented;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("| `")) continue;
    size_t end = line.find('`', 3);
    size_t bar = line.find('|', end);
    size_t next = line.find('|', bar + 1);
    ASSERT_NE(next, std::string::npos) << line;
    ASSERT_TRUE(line.ends_with(" |")) << line;
    std::string decision = trim(line.substr(bar + 1, next - bar - 1));
    std::string note = trim(line.substr(next + 1, line.size() - next - 2));
    EXPECT_TRUE(documented.emplace(line.substr(3, end - 3), std::pair{decision, note}).second)
        << "listed twice: " << line;
  }
  std::map<std::string, std::pair<std::string, std::string>> code;
  for (const FieldDecision& field : task_definition_fields()) {
    std::string note(field.note);
    if (field.support == FieldSupport::kRefused) note = "Refused: " + note + ".";
    code.emplace(std::string(field.path),
                 std::pair{std::string(support_name(field.support)), note});
  }
  EXPECT_EQ(documented, code);
}

// --- start_order, format_problems, condition_name --------------------------

TaskDefinition graph(const std::vector<std::pair<std::string, std::vector<std::string>>>& nodes) {
  TaskDefinition task;
  for (const auto& [name, dependencies] : nodes) {
    ContainerDefinition c;
    c.name = name;
    for (const auto& d : dependencies) c.depends_on.push_back({d, DependencyCondition::kStart});
    task.containers.push_back(c);
  }
  return task;
}

TEST(StartOrder, KeepsDefinitionOrderWithoutDependencies) {
  EXPECT_EQ(start_order(graph({{"a", {}}, {"b", {}}, {"c", {}}})), (std::vector<size_t>{0, 1, 2}));
  EXPECT_TRUE(start_order(TaskDefinition{}).empty());
}

TEST(StartOrder, PutsDependenciesFirstAndOtherwiseKeepsOrder) {
  // web needs db and cache; cache needs db; log is independent.
  EXPECT_EQ(
      start_order(graph({{"web", {"db", "cache"}}, {"cache", {"db"}}, {"log", {}}, {"db", {}}})),
      (std::vector<size_t>{2, 3, 1, 0}));
  EXPECT_EQ(start_order(graph({{"a", {"c"}}, {"b", {}}, {"c", {}}})),
            (std::vector<size_t>{1, 2, 0}));
  // A chain defined backwards.
  EXPECT_EQ(start_order(graph({{"c", {"b"}}, {"b", {"a"}}, {"a", {}}})),
            (std::vector<size_t>{2, 1, 0}));
}

TEST(StartOrder, LeavesACycleInDefinitionOrderAtTheEnd) {
  EXPECT_EQ(start_order(graph({{"a", {"b"}}, {"b", {"a"}}, {"c", {}}})),
            (std::vector<size_t>{2, 0, 1}));
}

TEST(StartOrder, ParsedDefinition) {
  json doc = json::parse(R"({"family": "f", "containerDefinitions": [
    {"name": "app", "image": "i", "dependsOn": [{"containerName": "migrate", "condition": "SUCCESS"}]},
    {"name": "migrate", "image": "i", "essential": false,
     "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]},
    {"name": "db", "image": "i", "healthCheck": {"command": ["CMD", "pg_isready"]}}
  ]})");
  EXPECT_EQ(start_order(accepted(doc)), (std::vector<size_t>{2, 1, 0}));
}

TEST(FormatProblems, OneLinePerProblem) {
  EXPECT_EQ(format_problems({{"family", "required"}, {"", "not valid JSON: x"}}),
            "family: required\nnot valid JSON: x");
  EXPECT_EQ(format_problems({}), "");
}

TEST(ConditionName, NamesEveryCondition) {
  EXPECT_EQ(condition_name(DependencyCondition::kStart), "START");
  EXPECT_EQ(condition_name(DependencyCondition::kComplete), "COMPLETE");
  EXPECT_EQ(condition_name(DependencyCondition::kSuccess), "SUCCESS");
  EXPECT_EQ(condition_name(DependencyCondition::kHealthy), "HEALTHY");
  EXPECT_EQ(support_name(FieldSupport::kMapped), "mapped");
}

TEST(ModeNames, NetworkModesRoundTripByTheirExactNames) {
  for (NetworkMode mode :
       {NetworkMode::kBridge, NetworkMode::kAwsvpc, NetworkMode::kHost, NetworkMode::kNone}) {
    EXPECT_EQ(parse_network_mode(network_mode_name(mode)), mode) << network_mode_name(mode);
  }
  EXPECT_EQ(network_mode_name(NetworkMode::kAwsvpc), "awsvpc");
  EXPECT_FALSE(parse_network_mode("Bridge").has_value());
  EXPECT_FALSE(parse_network_mode(" bridge").has_value());
  EXPECT_FALSE(parse_network_mode("").has_value());
  EXPECT_FALSE(parse_network_mode("nat").has_value());
}

TEST(ModeNames, PidAndIpcModesNameTheDefaultEmpty) {
  EXPECT_EQ(pid_mode_name(PidMode::kDefault), "");
  EXPECT_EQ(pid_mode_name(PidMode::kTask), "task");
  EXPECT_EQ(pid_mode_name(PidMode::kHost), "host");
  EXPECT_EQ(ipc_mode_name(IpcMode::kDefault), "");
  EXPECT_EQ(ipc_mode_name(IpcMode::kTask), "task");
  EXPECT_EQ(ipc_mode_name(IpcMode::kHost), "host");
  EXPECT_EQ(ipc_mode_name(IpcMode::kNone), "none");
}

}  // namespace
}  // namespace berth::agent
