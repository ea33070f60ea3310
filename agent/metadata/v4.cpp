#include "agent/metadata/v4.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <optional>
#include <vector>

namespace berth::agent::metadata {

namespace {

using nlohmann::json;

// The container's definition, when the task has one (a quarantined task
// has none).
const ContainerDefinition* definition_of(const TaskView& view, size_t index) {
  if (!view.spec || index >= view.spec->definition.containers.size()) return nullptr;
  return &view.spec->definition.containers[index];
}

std::string family_of(const TaskView& view) {
  if (view.spec && !view.spec->definition.family.empty()) return view.spec->definition.family;
  return view.record.family;
}

std::string revision_of(const TaskView& view) {
  return view.spec ? view.spec->definition.revision.value_or("") : "";
}

// A whole number prints as one ("CPU": 2, as the ECS agent's Go encoder
// writes a float64 of 2), anything else as a fraction.
json number(double value) {
  if (std::floor(value) == value && std::fabs(value) < 9.0e15) {
    return static_cast<int64_t>(value);
  }
  return value;
}

json labels(const TaskView& view, const ContainerRecord& container, const NodeFacts& facts,
            const ContainerDefinition* definition) {
  json out = json::object();
  if (definition) {
    for (const auto& [key, value] : definition->docker_labels) out[key] = value;
  }
  // The agent's own labels win over a dockerLabel of the same name.
  out["com.amazonaws.ecs.cluster"] = facts.cluster;
  out["com.amazonaws.ecs.container-name"] = container.name;
  out["com.amazonaws.ecs.task-arn"] = task_arn(facts, view.record.id);
  out["com.amazonaws.ecs.task-definition-family"] = family_of(view);
  out["com.amazonaws.ecs.task-definition-version"] = revision_of(view);
  return out;
}

// The network a container is in, as v4's Networks: one entry whose
// addresses come from the attachment it uses (the task's for awsvpc, its
// own for bridge; host and none have no address of their own).
json networks(const TaskView& view, const ContainerRecord& container,
              const ContainerDefinition* definition) {
  const NetworkMode mode = definition
                               ? container_network_mode(*definition, view.record.network_mode)
                               : view.record.network_mode;
  const std::optional<NetworkAttachment>* attachment = nullptr;
  if (mode == NetworkMode::kAwsvpc) attachment = &view.record.network;
  if (mode == NetworkMode::kBridge) attachment = &container.network;

  json network = {{"NetworkMode", std::string(network_mode_name(mode))}};
  if (attachment && *attachment) {
    json ipv4 = json::array();
    json ipv6 = json::array();
    for (const auto& address : (*attachment)->addresses) {
      (address.find(':') == std::string::npos ? ipv4 : ipv6).push_back(address);
    }
    if (!ipv4.empty()) network["IPv4Addresses"] = std::move(ipv4);
    if (!ipv6.empty()) network["IPv6Addresses"] = std::move(ipv6);
  }
  // The task's one interface (ECS numbers a task's ENIs from 0).
  if (mode == NetworkMode::kAwsvpc) network["AttachmentIndex"] = 0;
  return json::array({std::move(network)});
}

json port(uint32_t container_port, const std::string& protocol, uint32_t host_port) {
  return {{"ContainerPort", container_port}, {"Protocol", protocol}, {"HostPort", host_port}};
}

// What the container publishes: in bridge mode the host ports its network
// took (on every host address, as ECS's "HostIp": "0.0.0.0"); in awsvpc and
// host mode its portMappings, reached at the same port.
json ports(const TaskView& view, const ContainerRecord& container,
           const ContainerDefinition* definition) {
  json out = json::array();
  const NetworkMode mode = definition
                               ? container_network_mode(*definition, view.record.network_mode)
                               : view.record.network_mode;
  if (mode == NetworkMode::kBridge) {
    if (container.network) {
      for (const auto& binding : container.network->ports) {
        json entry = port(binding.container_port, binding.protocol, binding.host_port);
        entry["HostIp"] = "0.0.0.0";
        out.push_back(std::move(entry));
      }
    }
  } else if ((mode == NetworkMode::kAwsvpc || mode == NetworkMode::kHost) && definition) {
    for (const auto& mapping : definition->port_mappings) {
      const uint32_t host_port = mode == NetworkMode::kHost && mapping.host_port.value_or(0) != 0
                                     ? *mapping.host_port
                                     : mapping.container_port;
      out.push_back(port(mapping.container_port, mapping.protocol, host_port));
    }
  }
  return out;
}

}  // namespace

std::string task_arn(const NodeFacts& facts, const std::string& task_id) {
  return "arn:berth:ecs:" + facts.node + "::task/" + facts.cluster + "/" + task_id;
}

std::string container_arn(const NodeFacts& facts, const std::string& task_id,
                          const std::string& container_name) {
  return "arn:berth:ecs:" + facts.node + "::container/" + facts.cluster + "/" + task_id + "/" +
         container_name;
}

std::string rfc3339_ms(int64_t unix_ms) {
  // Floor division, so that a time before 1970 keeps a positive fraction.
  int64_t seconds = unix_ms / 1000;
  int64_t millis = unix_ms % 1000;
  if (millis < 0) {
    millis += 1000;
    seconds -= 1;
  }
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buf;
}

json container_json(const TaskView& view, size_t index, const NodeFacts& facts) {
  const ContainerRecord& c = view.record.containers.at(index);
  const ContainerDefinition* definition = definition_of(view, index);

  json out = {
      {"DockerId", c.containerd_id},
      {"Name", c.name},
      {"DockerName", c.containerd_id},
      {"Image", c.image},
      {"ContainerARN", container_arn(facts, view.record.id, c.name)},
      {"Labels", labels(view, c, facts, definition)},
      // A container is wanted running for as long as its task is.
      {"DesiredStatus", std::string(status_name(view.record.desired))},
      {"KnownStatus", std::string(status_name(c.status))},
      {"Type", "NORMAL"},
  };
  if (!c.image_digest.empty()) out["ImageID"] = c.image_digest;

  json limits = {{"CPU", definition ? definition->cpu.value_or(0u) : 0u}};
  if (definition && definition->memory_mib) limits["Memory"] = *definition->memory_mib;
  out["Limits"] = std::move(limits);

  // berth creates and starts a container in one step: its creation is its
  // start, to the millisecond.
  if (c.started_at_ms != 0) {
    out["CreatedAt"] = rfc3339_ms(c.started_at_ms);
    out["StartedAt"] = rfc3339_ms(c.started_at_ms);
  }
  if (c.status == TaskStatus::kStopped && c.stopped_at_ms != 0) {
    out["FinishedAt"] = rfc3339_ms(c.stopped_at_ms);
  }
  if (c.exit_code) out["ExitCode"] = *c.exit_code;

  if (definition && definition->health_check) {
    json health = {{"status", std::string(health_name(c.health))}};
    if (!c.health_output.empty()) health["output"] = c.health_output;
    out["Health"] = std::move(health);
  }
  // ECS shows the count for a container with a restart policy, 0 included.
  if (definition && definition->restart_policy && definition->restart_policy->enabled) {
    out["RestartCount"] = c.restart_count;
  }

  out["Networks"] = networks(view, c, definition);
  if (json published = ports(view, c, definition); !published.empty()) {
    out["Ports"] = std::move(published);
  }
  return out;
}

json task_json(const TaskView& view, const NodeFacts& facts) {
  const TaskRecord& task = view.record;
  json out = {
      {"Cluster", facts.cluster},
      {"TaskARN", task_arn(facts, task.id)},
      {"Family", family_of(view)},
      {"Revision", revision_of(view)},
      {"DesiredStatus", std::string(status_name(task.desired))},
      {"KnownStatus", std::string(status_name(task.known))},
      {"LaunchType", "EC2"},
  };

  if (view.spec) {
    const TaskDefinition& definition = view.spec->definition;
    json limits = json::object();
    // Task CPU in vCPUs (1024 units each), memory in MiB.
    if (definition.cpu) limits["CPU"] = number(*definition.cpu / 1024.0);
    if (definition.memory_mib) limits["Memory"] = *definition.memory_mib;
    if (!limits.empty()) out["Limits"] = std::move(limits);
  }

  // Pulls begin once the task is admitted; they are over once every
  // container has its image.
  bool pull_began = false;
  bool all_pulled = !task.containers.empty();
  int64_t last_pulled_ms = 0;
  for (const auto& c : task.containers) {
    if (c.image_resource.phase != Phase::kPending || c.pulled_at_ms != 0) pull_began = true;
    if (c.pulled_at_ms == 0) all_pulled = false;
    last_pulled_ms = std::max(last_pulled_ms, c.pulled_at_ms);
  }
  if (pull_began && task.created_at_ms != 0) out["PullStartedAt"] = rfc3339_ms(task.created_at_ms);
  if (all_pulled) out["PullStoppedAt"] = rfc3339_ms(last_pulled_ms);
  if (task.known == TaskStatus::kStopped && task.stopped_at_ms != 0) {
    out["ExecutionStoppedAt"] = rfc3339_ms(task.stopped_at_ms);
  }
  if (!facts.availability_zone.empty()) out["AvailabilityZone"] = facts.availability_zone;

  json containers = json::array();
  for (size_t i = 0; i < task.containers.size(); ++i) {
    containers.push_back(container_json(view, i, facts));
  }
  out["Containers"] = std::move(containers);
  return out;
}

}  // namespace berth::agent::metadata
