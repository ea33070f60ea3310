#include "systemd/notify.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>

namespace berth::systemd {

std::unique_ptr<ServiceNotifier> ServiceNotifier::from_environment() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  if (socket == nullptr || *socket == '\0') return nullptr;
  uint64_t usec = 0;
  // Zero or negative: no watchdog (or one meant for another process).
  if (sd_watchdog_enabled(0, &usec) <= 0) usec = 0;
  return std::unique_ptr<ServiceNotifier>(
      new ServiceNotifier(std::chrono::microseconds(static_cast<int64_t>(usec))));
}

bool booted() { return sd_booted() > 0; }

std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

Status ServiceNotifier::send(const std::string& state) {
  int sent = sd_notify(0, state.c_str());
  if (sent < 0) return fail_errno("sd_notify '" + state.substr(0, state.find('\n')) + "'", -sent);
  if (sent == 0) return fail(ErrorCode::kFailedPrecondition, "sd_notify: no NOTIFY_SOCKET");
  return {};
}

Status ServiceNotifier::ready(std::string_view status) {
  return send("READY=1\nSTATUS=" + one_line(status));
}

Status ServiceNotifier::status(std::string_view status) {
  return send("STATUS=" + one_line(status));
}

Status ServiceNotifier::keep_alive() { return send("WATCHDOG=1"); }

Status ServiceNotifier::stopping() { return send("STOPPING=1"); }

}  // namespace berth::systemd
