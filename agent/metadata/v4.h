// The ECS task metadata endpoint, version 4: the JSON bodies of
// ${ECS_CONTAINER_METADATA_URI_V4} (one container) and .../task (the task
// and its containers), built from what the engine shows of a task. Pure
// functions: the HTTP side (endpoint.h) decides which task and container a
// request is for. The stats bodies are docker_stats.h's.
//
// The shapes are the ECS agent's (its v2 TaskResponse and ContainerResponse
// with v4's Networks): the same names, and a field ECS leaves out when it is
// empty or unknown is left out here too. What berth does not know (log
// driver, MAC address, subnet, service name, VPC) is never made up.
//
// Where berth's record has no exact figure, the nearest one it has:
//   TaskARN        "arn:berth:ecs:<node>::task/<cluster>/<task id>" (region
//                  slot: the node; account: none), so that tools taking the
//                  cluster and task id from the ARN's path work.
//   PullStartedAt  the task's creation (its image pulls begin right after
//                  admission), once any container's image pull has begun.
//   PullStoppedAt  the latest container's pulled_at, once every container
//                  has its image.
//   CreatedAt      the container's start: berth creates and starts a
//                  container in one step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/engine/engine.h"
// The stats bodies (.../stats, .../task/stats) of the same endpoint.
#include "agent/metadata/docker_stats.h"

namespace berth::agent::metadata {

// What the node says about itself in every response.
struct NodeFacts {
  std::string cluster = "default";
  std::string node;               // the node's name (the ARN's region slot)
  std::string availability_zone;  // "" when unknown: AvailabilityZone is left out
};

// "arn:berth:ecs:<node>::task/<cluster>/<task id>".
std::string task_arn(const NodeFacts& facts, const std::string& task_id);
// "arn:berth:ecs:<node>::container/<cluster>/<task id>/<container name>".
std::string container_arn(const NodeFacts& facts, const std::string& task_id,
                          const std::string& container_name);

// RFC 3339 in UTC with milliseconds: "2026-12-06T23:04:05.123Z".
std::string rfc3339_ms(int64_t unix_ms);

// The container at `index` of the task (record order, which is definition
// order); `index` must be in range.
nlohmann::json container_json(const TaskView& view, size_t index, const NodeFacts& facts);

// The task with "Containers", every container of the record in order.
nlohmann::json task_json(const TaskView& view, const NodeFacts& facts);

}  // namespace berth::agent::metadata
