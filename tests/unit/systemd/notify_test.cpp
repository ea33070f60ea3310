// The sd_notify protocol as a service manager sees it: a real AF_UNIX
// datagram socket named by NOTIFY_SOCKET, read by the test.
#include "systemd/notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include "common/fd.h"
#include "systemd/journal.h"
#include "systemd/watchdog.h"

namespace berth::systemd {
namespace {

// The manager's end: a bound datagram socket, and the environment that
// names it (restored afterwards).
class Manager {
 public:
  explicit Manager(const std::string& watchdog_usec = "") {
    path_ = std::filesystem::temp_directory_path() /
            ("berth-notify-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    ::unlink(path_.c_str());
    fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof addr.sun_path - 1);
    bound_ = ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
    if (watchdog_usec.empty()) {
      ::unsetenv("WATCHDOG_USEC");
    } else {
      ::setenv("WATCHDOG_USEC", watchdog_usec.c_str(), 1);
    }
    ::unsetenv("WATCHDOG_PID");
  }
  ~Manager() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unlink(path_.c_str());
  }
  bool bound() const { return bound_; }
  // The next datagram, or nullopt after `timeout_ms`.
  std::optional<std::string> next(int timeout_ms = 5000) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
    char buf[4096];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
  }

 private:
  static inline std::atomic<int> counter_ = 0;
  std::string path_;
  UniqueFd fd_;
  bool bound_ = false;
};

TEST(ServiceNotifierTest, NoNotifierOutsideAServiceManager) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_EQ(ServiceNotifier::from_environment(), nullptr);
}

TEST(ServiceNotifierTest, SendsReadyStatusKeepAliveAndStopping) {
  Manager manager("400000");
  ASSERT_TRUE(manager.bound());
  auto notifier = ServiceNotifier::from_environment();
  ASSERT_NE(notifier, nullptr);
  EXPECT_EQ(notifier->watchdog_interval(), std::chrono::milliseconds(400));
  ASSERT_TRUE(notifier->ready("2 task(s) running\nsecond line"));
  EXPECT_EQ(manager.next(), "READY=1\nSTATUS=2 task(s) running second line");
  ASSERT_TRUE(notifier->status("draining"));
  EXPECT_EQ(manager.next(), "STATUS=draining");
  ASSERT_TRUE(notifier->keep_alive());
  EXPECT_EQ(manager.next(), "WATCHDOG=1");
  ASSERT_TRUE(notifier->stopping());
  EXPECT_EQ(manager.next(), "STOPPING=1");
}

TEST(ServiceNotifierTest, NoWatchdogIntervalWithoutWatchdogUsec) {
  Manager manager;
  auto notifier = ServiceNotifier::from_environment();
  ASSERT_NE(notifier, nullptr);
  EXPECT_EQ(notifier->watchdog_interval().count(), 0);
  EXPECT_EQ(watchdog_period(*notifier, std::chrono::milliseconds(7000)),
            std::chrono::milliseconds(7000));
}

TEST(WatchdogTest, KeepAlivesGoOnlyWhileWellAndUnwellRoundsAreRetriedSoon) {
  Manager manager("80000");  // 80 ms: a round every 20 ms
  auto notifier = ServiceNotifier::from_environment();
  ASSERT_NE(notifier, nullptr);
  EXPECT_EQ(watchdog_period(*notifier, std::chrono::seconds(10)), std::chrono::milliseconds(20));
  std::atomic<bool> well = true;
  auto watchdog = std::make_unique<Watchdog>(
      *notifier, watchdog_period(*notifier, std::chrono::seconds(10)), [&] {
        return well ? Watchdog::Check{true, "1 task(s) running"}
                    : Watchdog::Check{false, "the task engine does not answer"};
      });
  // Well: a keep-alive, then the status, round after round.
  int keep_alives = 0;
  while (keep_alives < 3) {
    auto message = manager.next();
    ASSERT_TRUE(message);
    if (*message == "WATCHDOG=1") ++keep_alives;
  }
  well = false;
  // Once a round found it unwell, only status lines come, saying so.
  int unwell_rounds = 0;
  bool keep_alive_after = false;
  while (unwell_rounds < 5) {
    auto message = manager.next();
    ASSERT_TRUE(message);
    if (message->starts_with("STATUS=the task engine does not answer")) {
      ++unwell_rounds;
    } else if (unwell_rounds > 0 && *message == "WATCHDOG=1") {
      keep_alive_after = true;
    }
  }
  EXPECT_FALSE(keep_alive_after);
  // Well again: keep-alives come back.
  well = true;
  while (manager.next() != "WATCHDOG=1") {
  }
  EXPECT_GE(watchdog->withheld(), 4u);
  // Stopped while the manager still reads, so that no send can wait on a
  // full socket queue.
  std::atomic<bool> reading = true;
  std::thread reader([&] {
    while (reading) (void)manager.next(20);
  });
  watchdog.reset();
  reading = false;
  reader.join();
}

TEST(JournalTest, FieldNamesAreJournaldsUserFields) {
  EXPECT_TRUE(valid_field_name("CONTAINER_NAME"));
  EXPECT_TRUE(valid_field_name("BERTH_TASK_ID2"));
  EXPECT_FALSE(valid_field_name("_PID")) << "trusted fields are journald's own";
  EXPECT_FALSE(valid_field_name("container_name"));
  EXPECT_FALSE(valid_field_name(""));
  EXPECT_FALSE(valid_field_name(std::string(65, 'A')));
}

TEST(JournalTest, NoJournaldIsNoJournal) {
  EXPECT_FALSE(journal_available("/nonexistent/journal/socket"));
  EXPECT_FALSE(journal_available("/dev/null")) << "not a socket";
}

}  // namespace
}  // namespace berth::systemd
