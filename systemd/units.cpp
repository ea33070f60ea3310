#include "systemd/units.h"

#include <systemd/sd-bus.h>

#include <optional>

namespace berth::systemd {

namespace {

constexpr const char* kSystemd = "org.freedesktop.systemd1";
constexpr const char* kPath = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";

struct BusError {
  sd_bus_error error = SD_BUS_ERROR_NULL;
  ~BusError() { sd_bus_error_free(&error); }
  bool is(const char* name) const { return sd_bus_error_has_name(&error, name) != 0; }
};

struct Message {
  sd_bus_message* m = nullptr;
  ~Message() { sd_bus_message_unref(m); }
};

std::unexpected<Error> bus_failure(const std::string& what, const BusError& error, int r) {
  std::string why =
      error.error.message != nullptr ? error.error.message : std::system_category().message(-r);
  ErrorCode code = ErrorCode::kUnavailable;
  if (error.is("org.freedesktop.systemd1.UnitExists")) code = ErrorCode::kAlreadyExists;
  if (error.is("org.freedesktop.systemd1.NoSuchUnit")) code = ErrorCode::kNotFound;
  if (error.is("org.freedesktop.DBus.Error.InvalidArgs")) code = ErrorCode::kInvalidArgument;
  return fail(code, what + ": " + why);
}

// Appends `properties` as the a(sv) that StartTransientUnit and
// SetUnitProperties take; a negative errno on failure.
int append_properties(sd_bus_message* m, const std::vector<UnitProperty>& properties) {
  int r = sd_bus_message_open_container(m, 'a', "(sv)");
  for (const auto& p : properties) {
    if (r < 0) return r;
    if (const auto* number = std::get_if<uint64_t>(&p.value)) {
      r = sd_bus_message_append(m, "(sv)", p.name.c_str(), "t", *number);
    } else if (const auto* text = std::get_if<std::string>(&p.value)) {
      r = sd_bus_message_append(m, "(sv)", p.name.c_str(), "s", text->c_str());
    } else {
      int flag = std::get<bool>(p.value) ? 1 : 0;
      r = sd_bus_message_append(m, "(sv)", p.name.c_str(), "b", flag);
    }
  }
  if (r < 0) return r;
  return sd_bus_message_close_container(m);
}

// The job object path a StartTransientUnit or StopUnit reply carries.
Result<std::string> job_of(sd_bus_message* reply, const std::string& what) {
  const char* job = nullptr;
  int r = sd_bus_message_read(reply, "o", &job);
  if (r < 0) return fail_errno(what + ": reading its job", -r);
  return std::string(job);
}

uint64_t usec(std::chrono::milliseconds timeout) {
  return static_cast<uint64_t>(timeout.count()) * 1000;
}

}  // namespace

struct Units::Bus {
  sd_bus* bus = nullptr;
  sd_bus_slot* removed_match = nullptr;
  // The job being waited for and, once JobRemoved named it, its result.
  // Other clients' jobs (runc's scopes) are not kept.
  std::string waiting_for;
  std::optional<std::string> result;

  ~Bus() {
    sd_bus_slot_unref(removed_match);
    sd_bus_flush_close_unref(bus);
  }

  static int on_job_removed(sd_bus_message* m, void* userdata, sd_bus_error* /*error*/) {
    uint32_t id = 0;
    const char* job = nullptr;
    const char* unit = nullptr;
    const char* result = nullptr;
    if (sd_bus_message_read(m, "uoss", &id, &job, &unit, &result) < 0) return 0;
    auto* self = static_cast<Bus*>(userdata);
    if (self->waiting_for == job) self->result = result;
    return 0;
  }

  static Result<std::unique_ptr<Bus>> open(const std::string& bus_address);
};

Result<std::unique_ptr<Units::Bus>> Units::Bus::open(const std::string& bus_address) {
  auto bus = std::make_unique<Bus>();
  int r = 0;
  if (bus_address.empty()) {
    r = sd_bus_open_system(&bus->bus);
  } else {
    r = sd_bus_new(&bus->bus);
    if (r >= 0) r = sd_bus_set_address(bus->bus, bus_address.c_str());
    if (r >= 0) r = sd_bus_set_bus_client(bus->bus, 1);
    if (r >= 0) r = sd_bus_start(bus->bus);
  }
  if (r < 0) return fail_errno("systemd: connecting to the system bus", -r);
  r = sd_bus_match_signal(bus->bus, &bus->removed_match, kSystemd, kPath, kManager, "JobRemoved",
                          &Bus::on_job_removed, bus.get());
  if (r < 0) return fail_errno("systemd: watching JobRemoved", -r);
  // The manager sends job signals to subscribed clients only.
  BusError error;
  r = sd_bus_call_method(bus->bus, kSystemd, kPath, kManager, "Subscribe", &error.error, nullptr,
                         "");
  if (r < 0 && !error.is("org.freedesktop.systemd1.AlreadySubscribed")) {
    return bus_failure("systemd: Subscribe", error, r);
  }
  return bus;
}

Result<std::unique_ptr<Units>> Units::connect(const std::string& bus_address) {
  auto bus = BERTH_TRY(Bus::open(bus_address));
  return std::unique_ptr<Units>(new Units(bus_address, std::move(bus)));
}

Units::Units(std::string bus_address, std::unique_ptr<Bus> bus)
    : bus_address_(std::move(bus_address)), bus_(std::move(bus)) {}
Units::~Units() = default;

Status Units::reopen_if_closed() {
  // A restarted D-Bus daemon (or systemd re-executing) closes the
  // connection; the next call opens a new one rather than failing forever.
  if (sd_bus_is_open(bus_->bus) > 0) return {};
  bus_ = BERTH_TRY(Bus::open(bus_address_));
  return {};
}

Status Units::run_job(const std::string& what, const std::function<Result<std::string>()>& call,
                      std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  BERTH_TRY(reopen_if_closed());
  std::string job = BERTH_TRY(call());
  if (job.empty()) return {};  // nothing to wait for
  // The job's JobRemoved comes after the call's reply: it is still queued.
  bus_->waiting_for = job;
  bus_->result.reset();
  struct Done {
    Bus& bus;
    ~Done() { bus.waiting_for.clear(); }
  } done{*bus_};
  for (;;) {
    if (bus_->result) {
      std::string result = *bus_->result;
      if (result == "done") return {};
      return fail(ErrorCode::kInternal, what + ": the job ended '" + result + "'");
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return fail(ErrorCode::kDeadlineExceeded,
                  what + ": its job did not finish in " + std::to_string(timeout.count()) + " ms");
    }
    int r = sd_bus_process(bus_->bus, nullptr);
    if (r < 0) return fail_errno(what + ": the bus", -r);
    if (r == 0) (void)sd_bus_wait(bus_->bus, usec(left));
  }
}

Status Units::start_transient(const std::string& name, const std::vector<UnitProperty>& properties,
                              std::chrono::milliseconds timeout) {
  std::lock_guard lock(mu_);
  std::string what = "systemd: start " + name;
  return run_job(
      what,
      [&]() -> Result<std::string> {
        Message m;
        int r = sd_bus_message_new_method_call(bus_->bus, &m.m, kSystemd, kPath, kManager,
                                               "StartTransientUnit");
        if (r >= 0) r = sd_bus_message_append(m.m, "ss", name.c_str(), "fail");
        if (r >= 0) r = append_properties(m.m, properties);
        if (r >= 0) r = sd_bus_message_append(m.m, "a(sa(sv))", 0);
        if (r < 0) return fail_errno(what + ": building the call", -r);
        BusError error;
        Message reply;
        r = sd_bus_call(bus_->bus, m.m, usec(timeout), &error.error, &reply.m);
        if (r < 0) return bus_failure(what, error, r);
        return job_of(reply.m, what);
      },
      timeout);
}

Status Units::set_properties(const std::string& name, const std::vector<UnitProperty>& properties) {
  std::lock_guard lock(mu_);
  BERTH_TRY(reopen_if_closed());
  std::string what = "systemd: set the properties of " + name;
  Message m;
  int r = sd_bus_message_new_method_call(bus_->bus, &m.m, kSystemd, kPath, kManager,
                                         "SetUnitProperties");
  if (r >= 0) r = sd_bus_message_append(m.m, "sb", name.c_str(), 1);
  if (r >= 0) r = append_properties(m.m, properties);
  if (r < 0) return fail_errno(what + ": building the call", -r);
  BusError error;
  r = sd_bus_call(bus_->bus, m.m, 0, &error.error, nullptr);
  if (r < 0) return bus_failure(what, error, r);
  return {};
}

Status Units::stop(const std::string& name, std::chrono::milliseconds timeout) {
  std::lock_guard lock(mu_);
  std::string what = "systemd: stop " + name;
  return run_job(
      what,
      [&]() -> Result<std::string> {
        BusError error;
        Message reply;
        int r = sd_bus_call_method(bus_->bus, kSystemd, kPath, kManager, "StopUnit", &error.error,
                                   &reply.m, "ss", name.c_str(), "fail");
        if (r < 0 && error.is("org.freedesktop.systemd1.NoSuchUnit")) return std::string();
        if (r < 0) return bus_failure(what, error, r);
        return job_of(reply.m, what);
      },
      timeout);
}

Result<std::string> Units::property(const std::string& unit, const std::string& interface,
                                    const std::string& name) {
  std::lock_guard lock(mu_);
  BERTH_TRY(reopen_if_closed());
  char* path = nullptr;
  int r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit.c_str(), &path);
  if (r < 0) return fail_errno("systemd: the path of " + unit, -r);
  std::string object(path);
  free(path);  // NOLINT(cppcoreguidelines-no-malloc): sd-bus allocated it
  BusError error;
  Message reply;
  r = sd_bus_call_method(bus_->bus, kSystemd, object.c_str(), "org.freedesktop.DBus.Properties",
                         "Get", &error.error, &reply.m, "ss", interface.c_str(), name.c_str());
  if (r < 0) return bus_failure("systemd: " + unit + " " + name, error, r);
  char type = 0;
  const char* contents = nullptr;
  r = sd_bus_message_peek_type(reply.m, &type, &contents);
  if (r < 0 || type != 'v' || contents == nullptr) {
    return fail(ErrorCode::kInternal, "systemd: " + unit + " " + name + ": not a variant");
  }
  r = sd_bus_message_enter_container(reply.m, 'v', contents);
  if (r < 0) return fail_errno("systemd: " + unit + " " + name, -r);
  if (contents[0] == 't') {
    uint64_t value = 0;
    r = sd_bus_message_read(reply.m, "t", &value);
    if (r < 0) return fail_errno("systemd: " + unit + " " + name, -r);
    return value == UINT64_MAX ? std::string("infinity") : std::to_string(value);
  }
  if (contents[0] == 's') {
    const char* value = nullptr;
    r = sd_bus_message_read(reply.m, "s", &value);
    if (r < 0) return fail_errno("systemd: " + unit + " " + name, -r);
    return std::string(value);
  }
  return fail(ErrorCode::kInvalidArgument,
              "systemd: " + unit + " " + name + ": a '" + contents + "' property");
}

Result<std::vector<std::string>> Units::list(const std::string& pattern) {
  std::lock_guard lock(mu_);
  BERTH_TRY(reopen_if_closed());
  BusError error;
  Message reply;
  Message m;
  int r = sd_bus_message_new_method_call(bus_->bus, &m.m, kSystemd, kPath, kManager,
                                         "ListUnitsByPatterns");
  if (r >= 0) r = sd_bus_message_append(m.m, "as", 0);
  if (r >= 0) r = sd_bus_message_append(m.m, "as", 1, pattern.c_str());
  if (r < 0) return fail_errno("systemd: list " + pattern, -r);
  r = sd_bus_call(bus_->bus, m.m, 0, &error.error, &reply.m);
  if (r < 0) return bus_failure("systemd: list " + pattern, error, r);
  std::vector<std::string> names;
  r = sd_bus_message_enter_container(reply.m, 'a', "(ssssssouso)");
  if (r < 0) return fail_errno("systemd: list " + pattern, -r);
  for (;;) {
    const char* name = nullptr;
    r = sd_bus_message_read(reply.m, "(ssssssouso)", &name, nullptr, nullptr, nullptr, nullptr,
                            nullptr, nullptr, nullptr, nullptr, nullptr);
    if (r < 0) return fail_errno("systemd: list " + pattern, -r);
    if (r == 0) break;
    names.emplace_back(name);
  }
  return names;
}

}  // namespace berth::systemd
