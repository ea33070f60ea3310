#include "systemd/watchdog.h"

#include <algorithm>

namespace berth::systemd {

std::chrono::milliseconds watchdog_period(const ServiceNotifier& notifier,
                                          std::chrono::milliseconds status_only) {
  auto interval = notifier.watchdog_interval();
  if (interval.count() <= 0) return status_only;
  return std::max(std::chrono::milliseconds(10),
                  std::chrono::duration_cast<std::chrono::milliseconds>(interval / 2));
}

Watchdog::Watchdog(ServiceNotifier& notifier, std::chrono::milliseconds period,
                   std::function<bool()> healthy, std::function<std::string()> status)
    : notifier_(notifier),
      period_(period),
      healthy_(std::move(healthy)),
      status_(std::move(status)),
      thread_([this] { loop(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

uint64_t Watchdog::sent() const {
  std::lock_guard lock(mu_);
  return sent_;
}

uint64_t Watchdog::withheld() const {
  std::lock_guard lock(mu_);
  return withheld_;
}

void Watchdog::loop() {
  const bool watching = notifier_.watchdog_interval().count() > 0;
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    // A hung check is a hung berthd: no keep-alive goes out meanwhile.
    bool well = healthy_();
    // The status comes from the engine: asked only when it answers.
    if (status_) {
      (void)notifier_.status(well ? status_()
                                  : "not answering (the engine or containerd): no keep-alive");
    }
    bool pinged = watching && well && notifier_.keep_alive().has_value();
    lock.lock();
    if (watching) ++(pinged ? sent_ : withheld_);
    cv_.wait_for(lock, period_, [this] { return stop_; });
  }
}

}  // namespace berth::systemd
