// The watchdog's keep-alive, sent only while berthd is well: a thread that,
// every half of the manager's interval, asks `healthy` (the engine's owner
// loop answers, containerd is reachable) and only then sends WATCHDOG=1, so
// that a hung berthd is restarted by systemd (and then adopts its tasks).
// Each round also sends the status line that `status` makes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "systemd/notify.h"

namespace berth::systemd {

class Watchdog {
 public:
  // Starts the thread. `period` is how often it checks (half the watchdog
  // interval, or a status-only period when there is no watchdog).
  Watchdog(ServiceNotifier& notifier, std::chrono::milliseconds period,
           std::function<bool()> healthy, std::function<std::string()> status);
  ~Watchdog();  // stops the thread
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Keep-alives sent and rounds withheld, for tests and logs.
  uint64_t sent() const;
  uint64_t withheld() const;

 private:
  void loop();

  ServiceNotifier& notifier_;
  std::chrono::milliseconds period_;
  std::function<bool()> healthy_;
  std::function<std::string()> status_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t sent_ = 0;
  uint64_t withheld_ = 0;
  std::thread thread_;
};

// The period of a Watchdog for `notifier`: half its watchdog interval (at
// least 10 ms), or `status_only` when it has none.
std::chrono::milliseconds watchdog_period(const ServiceNotifier& notifier,
                                          std::chrono::milliseconds status_only);

}  // namespace berth::systemd
