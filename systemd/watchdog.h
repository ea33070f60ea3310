// The watchdog's keep-alive, sent only while berthd is well: a thread that
// asks `check` every quarter of the manager's interval and sends WATCHDOG=1
// only when it says well (the engine's owner loop answers), so that a hung
// berthd is restarted by systemd (and then adopts its tasks). A round that
// finds berthd unwell is retried within a second, so a passing stall costs
// no restart. Each round also sends the status line that `check` makes.
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
  struct Check {
    bool well = false;
    std::string status;  // the STATUS= line
  };
  // Starts the thread. `period`: how often it checks (watchdog_period).
  // `check` must return in bounded time (a hung engine is a timeout, not a
  // wait): it runs between keep-alives.
  Watchdog(ServiceNotifier& notifier, std::chrono::milliseconds period,
           std::function<Check()> check);
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
  std::function<Check()> check_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t sent_ = 0;
  uint64_t withheld_ = 0;
  std::thread thread_;
};

// The period of a Watchdog for `notifier`: a quarter of its watchdog
// interval (at least 10 ms), so that one late round is no missed deadline;
// `status_only` when there is no watchdog.
std::chrono::milliseconds watchdog_period(const ServiceNotifier& notifier,
                                          std::chrono::milliseconds status_only);

}  // namespace berth::systemd
