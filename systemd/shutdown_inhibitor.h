// Graceful node shutdown, as the kubelet's GracefulNodeShutdown does it:
// a logind "delay" inhibitor lock for shutdown (org.freedesktop.login1,
// over sd-bus). When logind announces PrepareForShutdown(true), the owner's
// hook runs (it stops the tasks) and the lock is released after it, so the
// shutdown goes on once the tasks are down, or once logind's
// InhibitDelayMaxSec ran out. A cancelled shutdown (PrepareForShutdown(false))
// takes the lock again. Should the bus go away, the lock goes with it: a
// shutdown then waits for no one.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/error.h"

namespace berth::systemd {

class ShutdownInhibitor {
 public:
  struct Hooks {
    // On the inhibitor's thread; the lock is held until it returns.
    std::function<void()> shutting_down;
    // The shutdown was called off (after shutting_down had run); `relocked`
    // says whether the lock could be taken again.
    std::function<void(const Status& relocked)> cancelled;
  };

  // Connects to the system bus (or to `bus_address`, e.g. a private
  // dbus-daemon's "unix:path=..."), takes the lock and starts watching.
  // Fails, naming the call, when there is no bus or no logind.
  static Result<std::unique_ptr<ShutdownInhibitor>> take(const std::string& who,
                                                         const std::string& why, Hooks hooks,
                                                         const std::string& bus_address = {});
  ~ShutdownInhibitor();
  ShutdownInhibitor(const ShutdownInhibitor&) = delete;
  ShutdownInhibitor& operator=(const ShutdownInhibitor&) = delete;

  // logind's InhibitDelayMaxUSec: how long it waits for a delay lock.
  std::chrono::microseconds max_delay() const { return max_delay_; }
  // Whether the lock is held now.
  bool holds_lock() const;

  struct State;

 private:
  explicit ShutdownInhibitor(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
  std::chrono::microseconds max_delay_{0};
};

}  // namespace berth::systemd
