// systemd's service manager over sd-bus (org.freedesktop.systemd1), for
// the systemd cgroup driver: transient slices made with StartTransientUnit
// and stopped with StopUnit, each call waiting for its job to finish.
// Calls from several threads are serialized on one bus connection, which
// is opened again when the bus closed it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "common/error.h"

namespace berth::systemd {

// A unit property as StartTransientUnit takes it: a 't' (uint64), 's' or
// 'b' value.
struct UnitProperty {
  std::string name;
  std::variant<uint64_t, std::string, bool> value;
};

class Units {
 public:
  // The system manager (or the one at `bus_address`, "unix:path=...").
  static Result<std::unique_ptr<Units>> connect(const std::string& bus_address = {});
  ~Units();
  Units(const Units&) = delete;
  Units& operator=(const Units&) = delete;

  // Starts the transient unit `name` (mode "fail") with `properties` and
  // waits for its job; an error names the unit and the job's result.
  Status start_transient(const std::string& name, const std::vector<UnitProperty>& properties,
                         std::chrono::milliseconds timeout);
  // Sets `properties` on the running unit `name` (SetUnitProperties,
  // runtime only: nothing is written to /etc).
  Status set_properties(const std::string& name, const std::vector<UnitProperty>& properties);
  // Stops `name` and waits for its job; a unit that is not loaded is not
  // an error.
  Status stop(const std::string& name, std::chrono::milliseconds timeout);
  // A property of a unit as `systemctl show -p NAME --value` prints it, for
  // 't' and 's' typed properties of org.freedesktop.systemd1.Unit and the
  // unit type's own interface (e.g. "org.freedesktop.systemd1.Slice").
  Result<std::string> property(const std::string& unit, const std::string& interface,
                               const std::string& name);
  // Loaded units whose names match the glob `pattern`.
  Result<std::vector<std::string>> list(const std::string& pattern);

  struct Bus;

 private:
  Units(std::string bus_address, std::unique_ptr<Bus> bus);
  Status reopen_if_closed();
  Status run_job(const std::string& what, const std::function<Result<std::string>()>& call,
                 std::chrono::milliseconds timeout);
  std::mutex mu_;
  std::string bus_address_;
  std::unique_ptr<Bus> bus_;
};

}  // namespace berth::systemd
