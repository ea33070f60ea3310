#include "systemd/watchdog.h"

#include <algorithm>

namespace berth::systemd {

namespace {

constexpr std::chrono::milliseconds kRetryUnwell{1000};

}  // namespace

std::chrono::milliseconds watchdog_period(const ServiceNotifier& notifier,
                                          std::chrono::milliseconds status_only) {
  auto interval = notifier.watchdog_interval();
  if (interval.count() <= 0) return status_only;
  return std::max(std::chrono::milliseconds(10),
                  std::chrono::duration_cast<std::chrono::milliseconds>(interval / 4));
}

Watchdog::Watchdog(ServiceNotifier& notifier, std::chrono::milliseconds period,
                   std::function<Check()> check)
    : notifier_(notifier), period_(period), check_(std::move(check)), thread_([this] { loop(); }) {}

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
  using Clock = std::chrono::steady_clock;
  const bool watching = notifier_.watchdog_interval().count() > 0;
  auto next = Clock::now();
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    Check check = check_();
    // The keep-alive first: the status line must not delay it.
    bool pinged = watching && check.well && notifier_.keep_alive().has_value();
    (void)notifier_.status(check.status);
    lock.lock();
    if (watching) ++(pinged ? sent_ : withheld_);
    // Rounds keep their own pace, however long a check took; an unwell one
    // is looked at again soon.
    auto now = Clock::now();
    next += period_;
    if (!check.well) next = std::min(next, now + std::min(kRetryUnwell, period_));
    next = std::max(next, now);
    cv_.wait_until(lock, next, [this] { return stop_; });
  }
}

}  // namespace berth::systemd
