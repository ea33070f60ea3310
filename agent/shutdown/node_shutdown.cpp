#include "agent/shutdown/node_shutdown.h"

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

namespace berth::agent {

ShutdownOutcome stop_tasks_for_shutdown(Engine& engine, std::chrono::milliseconds grace,
                                        const std::function<void()>& node_changed) {
  auto started = std::chrono::steady_clock::now();
  auto deadline = started + grace;
  // Every state change wakes the wait below; the count is then read again.
  struct Wake {
    std::mutex mu;
    std::condition_variable cv;
    uint64_t events = 0;
  };
  auto wake = std::make_shared<Wake>();
  int subscription = engine.subscribe([wake](const EngineEvent&) {
    std::lock_guard lock(wake->mu);
    ++wake->events;
    wake->cv.notify_all();
  });
  ShutdownOutcome outcome;
  outcome.asked = engine.begin_shutdown("Node is shutting down");
  if (node_changed) node_changed();
  for (;;) {
    uint64_t seen = 0;
    {
      std::lock_guard lock(wake->mu);
      seen = wake->events;
    }
    outcome.left = engine.node().tasks;
    if (outcome.left == 0) break;
    std::unique_lock lock(wake->mu);
    if (!wake->cv.wait_until(lock, deadline, [&] { return wake->events != seen; })) break;
  }
  engine.unsubscribe(subscription);
  outcome.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  return outcome;
}

}  // namespace berth::agent
