// Task definition validation of containers: every rule with its exact path
// and reason.
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

// --- Containers -----------------------------------------------------------

TEST(TaskDefinitionValidation, DisableNetworkingOutsideAwsvpcWithoutPortsOrLinks) {
  json doc = base();
  container(doc)["disableNetworking"] = true;
  for (const char* mode : {"bridge", "host", "none"}) {
    doc["networkMode"] = mode;
    EXPECT_TRUE(accepted(doc).containers[0].disable_networking) << mode;
  }
  doc["networkMode"] = "awsvpc";
  expect_problem(parse(doc), "containerDefinitions[0].disableNetworking",
                 "not supported in awsvpc network mode: the task's containers share its network "
                 "namespace");
  // The node's default mode counts too.
  doc.erase("networkMode");
  ValidationPolicy awsvpc_node;
  awsvpc_node.default_network_mode = NetworkMode::kAwsvpc;
  EXPECT_FALSE(parse(doc, awsvpc_node).problems.empty());

  doc["networkMode"] = "bridge";
  container(doc)["portMappings"] = {{{"containerPort", 80}}};
  expect_problem(parse(doc), "containerDefinitions[0].portMappings",
                 "a container with disableNetworking has no network to map ports from");

  json linked = with_containers({named("db"), named("web")});
  linked["networkMode"] = "bridge";
  container(linked, 0)["disableNetworking"] = true;
  container(linked, 1)["links"] = {"db"};
  expect_problem(parse(linked), "containerDefinitions[1].links[0]",
                 "\"db\" has disableNetworking: it has no address to link to");
}

TEST(TaskDefinitionValidation, SystemControlsAreNamespacedAndOnlyWhereTheNamespaceIsTheirs) {
  json doc = base();
  container(doc)["systemControls"] = {{{"namespace", "net.core.somaxconn"}, {"value", "1024"}},
                                      {{"namespace", "kernel.sem"}, {"value", "250 32000 32 128"}},
                                      {{"namespace", "fs.mqueue.msg_max"}, {"value", "64"}}};
  auto task = accepted(doc);
  EXPECT_EQ(task.containers[0].system_controls.at("kernel.sem"), "250 32000 32 128");
  EXPECT_EQ(task.containers[0].system_controls.size(), 3u);

  for (const auto& [key, reason] : std::vector<std::pair<std::string, std::string>>{
           {"kernel.pid_max",
            "\"kernel.pid_max\" is not namespaced: it would change the node; a container may "
            "set net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.*"},
           {"net/../../kernel", "\"net/../../kernel\" is not a kernel parameter name"},
           {"net..core", "\"net..core\" is not a kernel parameter name"}}) {
    doc = base();
    container(doc)["systemControls"] = {{{"namespace", key}, {"value", "1"}}};
    expect_problem(parse(doc), "containerDefinitions[0].systemControls[0].namespace", reason);
  }
  doc = base();
  container(doc)["systemControls"] = {{{"namespace", "net.core.somaxconn"}, {"value", "1"}},
                                      {{"namespace", "net.core.somaxconn"}, {"value", "2"}}};
  expect_problem(parse(doc), "containerDefinitions[0].systemControls[1].namespace",
                 "\"net.core.somaxconn\" is set twice");

  doc = base();
  doc["networkMode"] = "host";
  container(doc)["systemControls"] = {{{"namespace", "net.core.somaxconn"}, {"value", "1"}}};
  expect_problem(parse(doc), "containerDefinitions[0].systemControls",
                 "\"net.core.somaxconn\" would change the node's network: not in host network "
                 "mode");
  container(doc)["disableNetworking"] = true;  // a namespace of its own after all
  EXPECT_TRUE(parse(doc).problems.empty()) << listing(parse(doc).problems);

  doc = base();
  doc["ipcMode"] = "host";
  container(doc)["systemControls"] = {{{"namespace", "kernel.shmmax"}, {"value", "1"}}};
  expect_problem(parse(doc), "containerDefinitions[0].systemControls",
                 "\"kernel.shmmax\" would change the node's IPC namespace: not with ipcMode host");
}

TEST(TaskDefinitionValidation, DockerSecurityOptionsAreReadAsDockerReadsThem) {
  json doc = base();
  container(doc)["dockerSecurityOptions"] = {"no-new-privileges", "seccomp=unconfined",
                                             "apparmor:unconfined", "label=disable"};
  auto task = accepted(doc);
  EXPECT_TRUE(task.containers[0].security.no_new_privileges);
  EXPECT_TRUE(task.containers[0].security.seccomp_unconfined);

  container(doc)["dockerSecurityOptions"] = {"no-new-privileges:false"};
  task = accepted(doc);
  EXPECT_FALSE(task.containers[0].security.no_new_privileges);
  EXPECT_FALSE(task.containers[0].security.seccomp_unconfined);

  for (const auto& [option, reason] : std::vector<std::pair<std::string, std::string>>{
           {"apparmor=docker-default",
            "\"apparmor=docker-default\": berth does not apply AppArmor profiles (only "
            "apparmor=unconfined)"},
           {"label:type:svirt_apache_t",
            "\"label:type:svirt_apache_t\": berth does not apply SELinux labels (only "
            "label=disable)"},
           {"seccomp=/etc/profile.json",
            "\"seccomp=/etc/profile.json\": berth gives every container the node's default "
            "seccomp profile; the only other choice is seccomp=unconfined"},
           {"no-new-privileges=maybe",
            "\"no-new-privileges=maybe\": no-new-privileges takes true or false"},
           {"credentialspec:file://gmsa.json",
            "\"credentialspec:file://gmsa.json\": gMSA credential specs are for Windows "
            "containers"},
           {"systempaths=unconfined",
            "\"systempaths=unconfined\" is not a Docker security option (no-new-privileges, "
            "seccomp, apparmor, label)"}}) {
    doc = base();
    container(doc)["dockerSecurityOptions"] = {"no-new-privileges", option};
    expect_problem(parse(doc), "containerDefinitions[0].dockerSecurityOptions[1]", reason);
  }
}

TEST(TaskDefinitionValidation, DriverOptsAreTheLocalDriversAndNodePathsMustBeAllowed) {
  ValidationPolicy policy;
  policy.allowed_host_paths = {"/srv"};
  auto with_volume = [](const json& options) {
    json doc = base();
    doc["volumes"] = {{{"name", "v"},
                       {"dockerVolumeConfiguration",
                        {{"scope", "task"},
                         {"driver", "local"},
                         {"driverOpts", options},
                         {"labels", {{"team", "db"}}}}}}};
    return doc;
  };
  auto task = accepted(with_volume({{"type", "tmpfs"}, {"o", "size=64m,uid=1000"}}), policy);
  ASSERT_TRUE(task.volumes[0].mount.has_value());
  EXPECT_EQ(task.volumes[0].mount->type, "tmpfs");
  EXPECT_EQ(task.volumes[0].mount->device, "tmpfs");
  EXPECT_EQ(task.volumes[0].mount->options, "size=64m,uid=1000");
  EXPECT_EQ(task.volumes[0].labels.at("team"), "db");

  task = accepted(with_volume({{"type", "none"}, {"o", "bind"}, {"device", "/srv//b/"}}), policy);
  EXPECT_EQ(task.volumes[0].mount->device, "/srv/b");
  task = accepted(with_volume({{"type", "nfs"}, {"o", "addr=10.0.0.1"}, {"device", ":/export"}}),
                  policy);
  EXPECT_EQ(task.volumes[0].mount->device, ":/export");

  const std::string at = "volumes[0].dockerVolumeConfiguration.driverOpts";
  expect_problem(parse(with_volume({{"type", "none"}, {"o", "bind"}, {"device", "/etc"}}), policy),
                 at + ".device",
                 "\"/etc\" is not at or below a host path this node allows (allowed: /srv)");
  expect_problem(parse(with_volume({{"type", "ext4"}, {"device", "/dev/sda1"}}), policy),
                 at + ".device",
                 "\"/dev/sda1\" is not at or below a host path this node allows (allowed: /srv)");
  expect_problem(parse(with_volume({{"o", "size=1m"}}), policy), at + ".type",
                 "required: the file system type to mount (tmpfs, none with o bind, ...)");
  expect_problem(parse(with_volume({{"type", "none"}, {"device", "/srv"}}), policy), at + ".o",
                 "type none mounts nothing without bind: say o: bind and a device");
  expect_problem(parse(with_volume({{"type", "tmpfs"}, {"size", "1m"}}), policy), at + ".size",
                 "not an option of the local driver (type, device, o)");
}

TEST(TaskDefinitionValidation, EcsLimitsOnContainersAndSize) {
  json doc = base();
  doc["containerDefinitions"] = json::array();
  for (int i = 0; i < 10; ++i)
    doc["containerDefinitions"].push_back(named("c" + std::to_string(i)));
  EXPECT_EQ(accepted(doc).containers.size(), 10u);
  doc["containerDefinitions"].push_back(named("c10"));
  expect_problem(parse(doc), "containerDefinitions",
                 "lists 11 containers; ECS takes at most 10 per task definition");

  json big = base();
  container(big)["environment"] = {{{"name", "BIG"}, {"value", std::string(70000, 'x')}}};
  auto outcome = parse(big);
  ASSERT_FALSE(outcome.definition);
  ASSERT_EQ(outcome.problems.size(), 1u);
  EXPECT_EQ(outcome.problems[0].path, "");
  EXPECT_NE(outcome.problems[0].reason.find("ECS takes at most 65536 (64 KiB)"), std::string::npos)
      << outcome.problems[0].reason;
}

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
  // Each container depends on the next; the last closes the loop. (ECS's
  // limit of containers bounds the chain.)
  constexpr size_t kCount = kMaxContainers;
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
  EXPECT_EQ(outcome.problems[0].path, "containerDefinitions[9].dependsOn[0].containerName");
  EXPECT_EQ(outcome.problems[0].reason,
            "dependency cycle: c0 -> c1 -> c2 -> c3 -> c4 -> c5 -> c6 -> c7 -> c8 -> c9 -> c0");

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

}  // namespace
TEST(TaskDefinitionTask, EnableExecuteCommandIsABooleanThatDefaultsToFalse) {
  EXPECT_FALSE(accepted(base()).enable_execute_command);
  json doc = base();
  doc["enableExecuteCommand"] = true;
  EXPECT_TRUE(accepted(doc).enable_execute_command);
  doc["enableExecuteCommand"] = "yes";
  expect_problem(parse(doc), "enableExecuteCommand",
                 "must be true or false, not a string (\"yes\")");
}

}  // namespace berth::agent::testing
