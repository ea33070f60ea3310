// The service manager's notification protocol (sd_notify(3)) through
// libsystemd: readiness, a status line, the watchdog's keep-alive and the
// start of a shutdown. Outside systemd (no NOTIFY_SOCKET) there is no
// notifier at all, so nothing of this is active.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"

namespace berth::systemd {

class ServiceNotifier {
 public:
  // The notifier of the service manager that started this process, or null
  // when none asked for notifications (NOTIFY_SOCKET unset).
  static std::unique_ptr<ServiceNotifier> from_environment();

  // READY=1, with a first status line.
  Status ready(std::string_view status);
  // STATUS=<one line>.
  Status status(std::string_view status);
  // WATCHDOG=1: the keep-alive.
  Status keep_alive();
  // STOPPING=1.
  Status stopping();

  // How often the manager expects a keep-alive (WatchdogSec=, told through
  // WATCHDOG_USEC); zero when it expects none.
  std::chrono::microseconds watchdog_interval() const { return watchdog_; }

 private:
  explicit ServiceNotifier(std::chrono::microseconds watchdog) : watchdog_(watchdog) {}
  Status send(const std::string& state);
  std::chrono::microseconds watchdog_;
};

// Whether systemd is this host's init system (sd_booted(3)).
bool booted();

// A status line has no newline: each one becomes a space.
std::string one_line(std::string_view text);

}  // namespace berth::systemd
