// Task definition validation of volumes and mounts, refused and mapped
// fields (and the field table against docs/task-definitions.md), start order
// and problem formatting.
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
  doc["volumes"] = json::parse(
      R"([{"name": "a", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true}},
          {"name": "b", "dockerVolumeConfiguration": {"scope": "shared"}}])");
  task = accepted(doc);
  EXPECT_TRUE(task.volumes[0].shared);
  EXPECT_TRUE(task.volumes[0].autoprovision);
  EXPECT_TRUE(task.volumes[1].shared);
  EXPECT_FALSE(task.volumes[1].autoprovision);
  doc["volumes"] =
      json::parse(R"([{"name": "a", "dockerVolumeConfiguration": {"scope": "node"}}])");
  expect_problem(parse(doc), "volumes[0].dockerVolumeConfiguration.scope",
                 "must be task or shared, not \"node\"");
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
  EXPECT_GE(checked, 10);
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

TEST(TaskDefinitionLogs, JournaldTakesATagOnANodeWithAJournal) {
  ValidationPolicy with_journal;
  with_journal.journal_available = true;
  json doc = base();
  container(doc)["logConfiguration"] = {{"logDriver", "journald"}, {"options", {{"tag", "web"}}}};
  auto outcome = parse(doc, with_journal);
  ASSERT_TRUE(outcome.definition) << listing(outcome.problems);
  EXPECT_EQ(outcome.definition->containers[0].log_driver, "journald");
  EXPECT_EQ(outcome.definition->containers[0].log_options.at("tag"), "web");

  container(doc)["logConfiguration"]["options"] = {{"tag", "web"}, {"labels", "a"}};
  expect_problem(parse(doc, with_journal),
                 "containerDefinitions[0].logConfiguration.options.labels",
                 "the journald driver takes only the option tag, not \"labels\"");

  container(doc)["logConfiguration"]["options"] = json::object();
  expect_problem(parse(doc), "containerDefinitions[0].logConfiguration.logDriver",
                 "journald: this node has no journal to write to (no /run/systemd/journal/socket)");

  // Other drivers keep the local file and ignore their options, as before.
  container(doc)["logConfiguration"] = {{"logDriver", "awslogs"},
                                        {"options", {{"awslogs-group", "g"}}}};
  outcome = parse(doc);
  ASSERT_TRUE(outcome.definition) << listing(outcome.problems);
  EXPECT_EQ(outcome.definition->containers[0].log_driver, "awslogs");
}

}  // namespace
}  // namespace berth::agent::testing
