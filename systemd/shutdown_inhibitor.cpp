#include "systemd/shutdown_inhibitor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <thread>

#include "common/fd.h"

namespace berth::systemd {

namespace {

constexpr const char* kLogind = "org.freedesktop.login1";
constexpr const char* kPath = "/org/freedesktop/login1";
constexpr const char* kManager = "org.freedesktop.login1.Manager";

std::unexpected<Error> bus_error(const std::string& what, const sd_bus_error& error, int r) {
  std::string message = what + ": ";
  if (error.message != nullptr) {
    message += error.message;
  } else {
    message += std::system_category().message(-r);
  }
  return fail(r == -ENOENT || r == -ECONNREFUSED ? ErrorCode::kUnavailable : ErrorCode::kInternal,
              message);
}

struct BusError {
  sd_bus_error error = SD_BUS_ERROR_NULL;
  ~BusError() { sd_bus_error_free(&error); }
};

}  // namespace

struct ShutdownInhibitor::State {
  sd_bus* bus = nullptr;
  sd_bus_slot* match = nullptr;
  std::string who;
  std::string why;
  Hooks hooks;
  UniqueFd wake;  // an eventfd: the destructor's call to stop
  std::atomic<bool> stop{false};
  mutable std::mutex mu;
  UniqueFd lock;  // logind's inhibitor descriptor, guarded by mu
  bool ran_shutdown = false;
  std::thread thread;

  ~State() {
    if (match != nullptr) sd_bus_slot_unref(match);
    if (bus != nullptr) sd_bus_flush_close_unref(bus);
  }

  Status take_lock() {
    BusError error;
    sd_bus_message* reply = nullptr;
    int r = sd_bus_call_method(bus, kLogind, kPath, kManager, "Inhibit", &error.error, &reply,
                               "ssss", "shutdown", who.c_str(), why.c_str(), "delay");
    if (r < 0) return bus_error("logind Inhibit(shutdown, delay)", error.error, r);
    int fd = -1;
    r = sd_bus_message_read(reply, "h", &fd);
    // The descriptor belongs to the message: keep a duplicate.
    int own = r < 0 ? -1 : ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    sd_bus_message_unref(reply);
    if (r < 0) return fail_errno("logind Inhibit: reading its descriptor", -r);
    if (own < 0) return fail_errno("logind Inhibit: keeping its descriptor");
    std::lock_guard guard(mu);
    lock.reset(own);
    return {};
  }

  void release_lock() {
    std::lock_guard guard(mu);
    lock.reset();
  }

  static int on_prepare(sd_bus_message* message, void* userdata, sd_bus_error* /*error*/) {
    auto* self = static_cast<State*>(userdata);
    int starting = 0;
    if (sd_bus_message_read(message, "b", &starting) < 0) return 0;
    // A C callback: nothing may be thrown through sd-bus.
    try {
      if (starting != 0) {
        if (self->hooks.shutting_down) self->hooks.shutting_down();
        self->ran_shutdown = true;
        self->release_lock();
      } else if (self->ran_shutdown) {
        self->ran_shutdown = false;
        Status relocked = self->take_lock();
        if (self->hooks.cancelled) self->hooks.cancelled(relocked);
      }
    } catch (...) {
      self->release_lock();  // the node must not wait for a hook that failed
    }
    return 0;
  }

  void run() {
    while (!stop.load()) {
      int r = sd_bus_process(bus, nullptr);
      if (r < 0) {
        // The bus is gone: no announcement can come, so no one may wait.
        release_lock();
        return;
      }
      if (r > 0) continue;
      pollfd fds[2] = {{sd_bus_get_fd(bus), static_cast<short>(sd_bus_get_events(bus)), 0},
                       {wake.get(), POLLIN, 0}};
      uint64_t usec = UINT64_MAX;
      int timeout = -1;
      if (sd_bus_get_timeout(bus, &usec) >= 0 && usec != UINT64_MAX) {
        // An absolute CLOCK_MONOTONIC time (a pending call's deadline).
        timespec now{};
        ::clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t at = static_cast<uint64_t>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
        timeout =
            usec <= at ? 0 : static_cast<int>(std::min<uint64_t>((usec - at) / 1000 + 1, 60000));
      }
      ::poll(fds, 2, timeout);
    }
  }
};

Result<std::unique_ptr<ShutdownInhibitor>> ShutdownInhibitor::take(const std::string& who,
                                                                   const std::string& why,
                                                                   Hooks hooks,
                                                                   const std::string& bus_address) {
  auto state = std::make_unique<State>();
  state->who = who;
  state->why = why;
  state->hooks = std::move(hooks);
  int r = 0;
  if (bus_address.empty()) {
    r = sd_bus_open_system(&state->bus);
    if (r < 0) return fail_errno("connecting to the system bus", -r);
  } else {
    r = sd_bus_new(&state->bus);
    if (r >= 0) r = sd_bus_set_address(state->bus, bus_address.c_str());
    if (r >= 0) r = sd_bus_set_bus_client(state->bus, 1);
    if (r >= 0) r = sd_bus_start(state->bus);
    if (r < 0) return fail_errno("connecting to the bus at '" + bus_address + "'", -r);
  }
  r = sd_bus_match_signal(state->bus, &state->match, kLogind, kPath, kManager, "PrepareForShutdown",
                          &State::on_prepare, state.get());
  if (r < 0) return fail_errno("watching logind's PrepareForShutdown", -r);
  if (auto taken = state->take_lock(); !taken) return fail(taken.error());

  std::chrono::microseconds max_delay{0};
  BusError error;
  uint64_t usec = 0;
  r = sd_bus_get_property_trivial(state->bus, kLogind, kPath, kManager, "InhibitDelayMaxUSec",
                                  &error.error, 't', &usec);
  if (r < 0) return bus_error("reading logind's InhibitDelayMaxUSec", error.error, r);
  max_delay = std::chrono::microseconds(static_cast<int64_t>(usec));

  state->wake.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!state->wake) return fail_errno("eventfd");
  State* raw = state.get();
  state->thread = std::thread([raw] { raw->run(); });
  auto inhibitor = std::unique_ptr<ShutdownInhibitor>(new ShutdownInhibitor(std::move(state)));
  inhibitor->max_delay_ = max_delay;
  return inhibitor;
}

ShutdownInhibitor::ShutdownInhibitor(std::unique_ptr<State> state) : state_(std::move(state)) {}

ShutdownInhibitor::~ShutdownInhibitor() {
  state_->stop = true;
  uint64_t one = 1;
  (void)::write(state_->wake.get(), &one, sizeof one);
  if (state_->thread.joinable()) state_->thread.join();
}

bool ShutdownInhibitor::holds_lock() const {
  std::lock_guard guard(state_->mu);
  return static_cast<bool>(state_->lock);
}

}  // namespace berth::systemd
