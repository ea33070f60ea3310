// The ECS agent's introspection API (its port 51678), for the tools that
// already read it: GET /v1/metadata (the node, berth's version, the
// cluster) and GET /v1/tasks (every task with its containers; ?taskarn= or
// ?dockerid= for one).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/engine/engine.h"
#include "agent/metadata/v4.h"
#include "common/http/server.h"

namespace berth::agent::metadata {

struct IntrospectionSources {
  Engine* engine = nullptr;
  NodeFacts facts;
  std::string version;
  // The control plane's state, when berthd is in a fleet (else null).
  std::function<nlohmann::json()> fleet;
};

http::Response introspect(const IntrospectionSources& sources, const http::Request& request);

}  // namespace berth::agent::metadata
