// The ECS task metadata endpoint v4, served to each task inside its own
// network namespace.
//
// For every namespace a task's containers join (the task's with awsvpc,
// each container's with bridge), berthd adds 169.254.170.2/32 to that
// namespace's loopback and listens there on port 51679 with a socket made
// inside it. A container reaches it as ECS containers do
// (ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2:51679/v4/<token>), but
// nothing is added on the host: no route, no DNAT, no address. Only the
// task's own processes can connect, and the path's token (an HMAC of the
// task id and container name under a node secret) names one container of
// that task; anything else is 404. The listeners close when the task
// stops, and the namespace goes with its address when the task's network
// is released. A restarted berthd serves its adopted tasks again.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/engine/engine.h"
#include "agent/engine/resources/container.h"
#include "agent/metadata/v4.h"
#include "agent/stats/usage.h"
#include "common/http/server.h"

namespace berth::agent::metadata {

inline constexpr std::string_view kAddress = "169.254.170.2";
// Not 80: the listener shares the task's namespace, where a container's
// server on port 80 of every address would find 80 taken. Applications take
// the URI as it is, so the port is berth's to choose: the ECS agent's own
// credentials port, which tasks leave alone.
inline constexpr uint16_t kPort = 51679;

// The node's secret for container tokens, made (32 random bytes, 0600) on
// first use.
Result<std::string> load_or_create_secret(const std::string& path);
// The path component naming a container: hex HMAC-SHA256 of
// "<task id>/<container>" under `secret`, 32 characters.
std::string container_token(const std::string& secret, const std::string& task_id,
                            const std::string& container);

class Endpoint final : public MetadataProvider {
 public:
  Endpoint(http::Server& server, std::string secret, NodeFacts facts);
  ~Endpoint() override;
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  // What answers requests; until then they get 503. Also subscribes to the
  // engine's events (a stopped task's listeners are closed) and serves the
  // namespaces of the tasks it already runs.
  void start(Engine& engine, UsageSampler& sampler);
  void stop();

  Result<std::string> serve(const std::string& task_id, const std::string& container,
                            const std::string& netns) override;

  // Open listeners (for tests and introspection).
  size_t listeners() const;

 private:
  struct Listener {
    int id = 0;
    std::string task_id;
    uint64_t netns_inode = 0;
  };
  http::Response handle(const std::string& task_id, const http::Request& request);
  void forget_task(const std::string& task_id);
  void janitor_loop();

  http::Server& server_;
  std::string secret_;
  NodeFacts facts_;
  Engine* engine_ = nullptr;
  UsageSampler* sampler_ = nullptr;
  int subscription_ = -1;

  std::mutex serve_mu_;  // one listener made at a time
  mutable std::mutex mu_;
  std::map<std::string, Listener> listeners_;                              // by netns path
  std::map<std::string, std::pair<std::string, std::string>> containers_;  // token -> task, name
  // Tasks whose listeners the janitor closes (the engine's callback must
  // not block).
  std::set<std::string> stopped_;
  std::set<std::string> removed_;
  // Tasks whose listeners were closed (until they are removed): a serve()
  // racing with the close does not open one again.
  std::set<std::string> forgotten_;
  bool stopping_ = false;
  std::condition_variable cv_;
  std::thread janitor_;
};

}  // namespace berth::agent::metadata
