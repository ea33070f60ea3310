// The logind inhibitor's sd-bus calls against a private dbus-daemon, where
// the test itself answers as org.freedesktop.login1: the delay lock is
// taken with the right arguments, held while the shutdown hook runs and let
// go after it, taken again when the shutdown is called off, and an absent
// logind is a clear error. (berthd under a real logind: systemd_booted_test.)
#include "systemd/shutdown_inhibitor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <future>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "fixtures/integration_test.h"

namespace berth::testing {
namespace {

// logind's side: Inhibit hands out a pipe's write end and keeps the read
// end, which reports POLLHUP once the client has closed its copy.
class FakeLogind {
 public:
  explicit FakeLogind(const std::string& address) {
    static const sd_bus_vtable kVtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Inhibit", "ssss", "h", &FakeLogind::inhibit, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("InhibitDelayMaxUSec", "t", &FakeLogind::delay, 0,
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_SIGNAL("PrepareForShutdown", "b", 0), SD_BUS_VTABLE_END};
    sd_bus_new(&bus_);
    sd_bus_set_address(bus_, address.c_str());
    sd_bus_set_bus_client(bus_, 1);
    ok_ = sd_bus_start(bus_) >= 0 && sd_bus_request_name(bus_, "org.freedesktop.login1", 0) >= 0 &&
          sd_bus_add_object_vtable(bus_, nullptr, "/org/freedesktop/login1",
                                   "org.freedesktop.login1.Manager", kVtable, this) >= 0;
  }
  ~FakeLogind() { sd_bus_flush_close_unref(bus_); }
  bool ok() const { return ok_; }

  // Answers the bus until `done()` or the timeout.
  bool pump_until(const std::function<bool()>& done,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      while (sd_bus_process(bus_, nullptr) > 0) {
      }
      sd_bus_wait(bus_, 50'000);
    }
    return true;
  }
  void announce(bool starting) {
    sd_bus_emit_signal(bus_, "/org/freedesktop/login1", "org.freedesktop.login1.Manager",
                       "PrepareForShutdown", "b", starting ? 1 : 0);
    sd_bus_flush(bus_);
  }
  // Whether the lock handed out as number `n` (from 0) is still held.
  bool held(size_t n) const {
    pollfd p{locks_.at(n).get(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
  }

  std::vector<std::vector<std::string>> inhibits;  // what, who, why, mode

 private:
  static int inhibit(sd_bus_message* m, void* userdata, sd_bus_error* /*error*/) {
    auto* self = static_cast<FakeLogind*>(userdata);
    const char* args[4] = {};
    sd_bus_message_read(m, "ssss", &args[0], &args[1], &args[2], &args[3]);
    self->inhibits.push_back({args[0], args[1], args[2], args[3]});
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) return -errno;
    self->locks_.emplace_back(ends[0]);
    int r = sd_bus_reply_method_return(m, "h", ends[1]);  // sends a duplicate
    ::close(ends[1]);
    return r;
  }
  static int delay(sd_bus* /*bus*/, const char* /*path*/, const char* /*interface*/,
                   const char* /*property*/, sd_bus_message* reply, void* /*userdata*/,
                   sd_bus_error* /*error*/) {
    return sd_bus_message_append(reply, "t", uint64_t{5'000'000});
  }

  sd_bus* bus_ = nullptr;
  bool ok_ = false;
  std::vector<UniqueFd> locks_;
};

class ShutdownInhibitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("berth-dbus-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    address_ = "unix:path=" + (dir_ / "bus").string();
    // dbus-daemon says READY=1 (sd_notify) once it listens.
    bus_ = Process::start(
        {"dbus-daemon", "--session", "--nofork", "--nopidfile", "--address=" + address_},
        dir_ / "dbus.log", true);
    ASSERT_TRUE(bus_) << "dbus-daemon did not start";
    ASSERT_TRUE(std::filesystem::exists(dir_ / "bus"));
  }
  void TearDown() override {
    bus_.reset();
    std::filesystem::remove_all(dir_);
  }

  // take() makes blocking calls that the fake must answer meanwhile.
  Result<std::unique_ptr<systemd::ShutdownInhibitor>> take(
      FakeLogind* logind, systemd::ShutdownInhibitor::Hooks hooks) {
    auto taking = std::async(std::launch::async, [&] {
      return systemd::ShutdownInhibitor::take("berthd-test", "stopping tasks", std::move(hooks),
                                              address_);
    });
    if (logind != nullptr) {
      logind->pump_until(
          [&] { return taking.wait_for(std::chrono::seconds(0)) == std::future_status::ready; });
    }
    return taking.get();
  }

  std::filesystem::path dir_;
  std::string address_;
  std::optional<Process> bus_;
};

TEST_F(ShutdownInhibitorTest, HoldsTheLockWhileTheHookRunsAndTakesItAgainWhenCalledOff) {
  FakeLogind logind(address_);
  ASSERT_TRUE(logind.ok());
  std::atomic<bool> entered{false};
  std::atomic<bool> relocked{false};
  std::promise<void> finish;
  auto finished = finish.get_future().share();
  systemd::ShutdownInhibitor::Hooks hooks;
  hooks.shutting_down = [&, finished] {
    entered = true;
    finished.wait();
  };
  hooks.cancelled = [&](const Status& taken) { relocked = taken.has_value(); };
  auto inhibitor = take(&logind, std::move(hooks));
  // Destroyed before the inhibitor: a failed assertion below must not leave
  // the hook waiting while the inhibitor's destructor waits for it.
  struct Release {
    std::promise<void>& promise;
    bool done = false;
    void now() {
      if (!std::exchange(done, true)) promise.set_value();
    }
    ~Release() { now(); }
  } release{finish};
  ASSERT_TRUE(inhibitor) << inhibitor.error().message();
  ASSERT_EQ(logind.inhibits.size(), 1u);
  EXPECT_EQ(logind.inhibits[0],
            (std::vector<std::string>{"shutdown", "berthd-test", "stopping tasks", "delay"}));
  EXPECT_EQ((*inhibitor)->max_delay(), std::chrono::seconds(5));
  EXPECT_TRUE((*inhibitor)->holds_lock());
  EXPECT_TRUE(logind.held(0));

  logind.announce(true);
  ASSERT_TRUE(logind.pump_until([&] { return entered.load(); }));
  EXPECT_TRUE(logind.held(0)) << "the lock went before the hook had finished";
  release.now();
  ASSERT_TRUE(logind.pump_until([&] { return !logind.held(0); }));
  EXPECT_FALSE((*inhibitor)->holds_lock());

  logind.announce(false);
  ASSERT_TRUE(logind.pump_until([&] { return logind.inhibits.size() == 2; }));
  EXPECT_TRUE(logind.pump_until([&] { return relocked.load() && (*inhibitor)->holds_lock(); }));
  EXPECT_TRUE(logind.held(1));
  inhibitor->reset();
  EXPECT_FALSE(logind.held(1)) << "the lock outlived the inhibitor";
}

TEST_F(ShutdownInhibitorTest, NoLogindIsAClearError) {
  auto inhibitor = take(nullptr, {});
  ASSERT_FALSE(inhibitor);
  EXPECT_NE(inhibitor.error().message().find("logind Inhibit(shutdown, delay)"), std::string::npos)
      << inhibitor.error().message();
}

}  // namespace
}  // namespace berth::testing
