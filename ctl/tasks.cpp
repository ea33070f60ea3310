#include "ctl/tasks.h"

#include <google/protobuf/util/json_util.h>
#include <signal.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace berthctl {

namespace {

std::string status_text(berth::v1::TaskStatus status) { return berth::v1::TaskStatus_Name(status); }
std::string health_text(berth::v1::Health health) { return berth::v1::Health_Name(health); }
// "awsvpc", as task definitions spell network modes.
std::string mode_text(berth::v1::NetworkMode mode) {
  constexpr std::string_view kPrefix = "NETWORK_MODE_";
  std::string name = berth::v1::NetworkMode_Name(mode);
  if (name.starts_with(kPrefix)) name = name.substr(kPrefix.size());
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name == "unspecified" ? "" : name;
}

// A container that never exited has no exit code: "exitCode" only where
// "hasExitCode" says there is one (then the flag itself goes).
void drop_absent_exit_codes(nlohmann::json& json) {
  if (json.is_object()) {
    if (auto has = json.find("hasExitCode"); has != json.end()) {
      if (!has->is_boolean() || !has->get<bool>()) json.erase("exitCode");
      json.erase("hasExitCode");
    }
    for (auto& [key, value] : json.items()) drop_absent_exit_codes(value);
  } else if (json.is_array()) {
    for (auto& value : json) drop_absent_exit_codes(value);
  }
}

// Network modes as task definitions spell them, wherever they are.
void spell_modes(nlohmann::json& json) {
  if (json.is_object()) {
    for (auto& [key, value] : json.items()) {
      if (key == "networkMode" && value.is_string()) {
        auto mode = berth::v1::NETWORK_MODE_UNSPECIFIED;
        if (berth::v1::NetworkMode_Parse(value.get<std::string>(), &mode)) value = mode_text(mode);
      } else {
        spell_modes(value);
      }
    }
  } else if (json.is_array()) {
    for (auto& value : json) spell_modes(value);
  }
}

}  // namespace

// A message as JSON with the proto's field names in lowerCamelCase.
std::string to_json(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  auto json = nlohmann::json::parse(out, nullptr, false);
  if (json.is_discarded()) return out;
  spell_modes(json);
  drop_absent_exit_codes(json);
  return json.dump(2);
}

std::string age_ms(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  int64_t seconds = (now - unix_ms) / 1000;
  if (seconds < 60) return std::to_string(seconds) + "s";
  if (seconds < 3600) return std::to_string(seconds / 60) + "m";
  if (seconds < 86400) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

namespace {

std::string timestamp(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  std::time_t seconds = unix_ms / 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(unix_ms % 1000));
  return std::string(buf) + ms;
}

// "10s", "5m", "2h" ago, or an absolute Unix time in seconds.
bool parse_since(const std::string& since, int64_t* unix_nanos) {
  if (since.empty()) {
    *unix_nanos = 0;
    return true;
  }
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(since, &used);
  } catch (const std::exception&) {
    return false;
  }
  std::string unit = since.substr(used);
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  constexpr int64_t kSecond = 1'000'000'000;
  if (unit.empty()) {
    *unix_nanos = value * kSecond;
  } else if (unit == "s") {
    *unix_nanos = now - value * kSecond;
  } else if (unit == "m") {
    *unix_nanos = now - value * 60 * kSecond;
  } else if (unit == "h") {
    *unix_nanos = now - value * 3600 * kSecond;
  } else {
    return false;
  }
  return true;
}

std::string container_summary(const berth::v1::Task& task) {
  int running = 0;
  for (const auto& c : task.containers()) running += c.status() == berth::v1::RUNNING ? 1 : 0;
  return std::to_string(running) + "/" + std::to_string(task.containers_size()) + " running";
}

}  // namespace

int report(const grpc::Status& status, std::string_view what) {
  std::string message = status.error_message();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
      message.find("connect") != std::string::npos) {
    message += " (is berthd running? set --socket or BERTH_SOCKET)";
  }
  std::cerr << "berthctl: " << what << ": " << message << "\n";
  return 1;
}

void cancel_on_signal(grpc::ClientContext* ctx) {
  std::thread([ctx] {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    int signal = 0;
    sigwait(&signals, &signal);
    ctx->TryCancel();
  }).detach();
}

int list_tasks(berth::v1::Berth::Stub& stub, bool all, bool json) {
  berth::v1::ListTasksRequest request;
  request.set_all(all);
  berth::v1::ListTasksResponse response;
  grpc::ClientContext ctx;
  auto status = stub.ListTasks(&ctx, request, &response);
  if (!status.ok()) return report(status, "ps");
  if (json) {
    std::cout << to_json(response) << "\n";
    return 0;
  }
  std::printf("%-12s  %-20s  %-20s  %-8s  %-9s  %-12s  %s\n", "TASK", "NAME", "FAMILY", "STATUS",
              "HEALTH", "CONTAINERS", "AGE");
  for (const auto& task : response.tasks()) {
    std::printf("%-12s  %-20s  %-20s  %-8s  %-9s  %-12s  %s\n", task.id().c_str(),
                task.name().c_str(), task.family().c_str(), status_text(task.status()).c_str(),
                health_text(task.health()).c_str(), container_summary(task).c_str(),
                age_ms(task.created_at_ms()).c_str());
  }
  return 0;
}

int describe_task(berth::v1::Berth::Stub& stub, const std::string& task_name, bool json) {
  berth::v1::DescribeTaskRequest request;
  request.set_task(task_name);
  berth::v1::Task task;
  grpc::ClientContext ctx;
  auto status = stub.DescribeTask(&ctx, request, &task);
  if (!status.ok()) return report(status, "describe '" + task_name + "'");
  if (json) {
    std::cout << to_json(task) << "\n";
    return 0;
  }
  if (task.status() == berth::v1::QUARANTINED) {
    std::cout << "Task:      " << task.id() << "\n"
              << "Status:    QUARANTINED\n"
              << "Reason:    its checkpoint cannot be read: " << task.quarantine_reason() << "\n"
              << "Kept at:   " << task.quarantine_file() << "\n"
              << "Its containers are left as they are; `berthctl rm " << task.id()
              << "` removes them and the checkpoint.\n";
    return 0;
  }
  std::cout << "Task:      " << task.id() << "\n"
            << "Name:      " << task.name() << "\n"
            << "Family:    " << task.family() << "\n"
            << "Status:    " << status_text(task.status()) << " (desired "
            << status_text(task.desired_status()) << ")\n"
            << "Health:    " << health_text(task.health()) << "\n"
            << "Created:   " << timestamp(task.created_at_ms()) << "\n"
            << "Started:   " << timestamp(task.started_at_ms()) << "\n"
            << "Network:   " << mode_text(task.network_mode()) << "\n";
  if (!task.checkpoint_error().empty()) {
    std::cout << "Warning:   its checkpoint cannot be written (" << task.checkpoint_error()
              << "); its steps wait until it is\n";
  }
  if (!task.addresses().empty()) {
    std::cout << "Addresses: ";
    for (int i = 0; i < task.addresses_size(); ++i) {
      std::cout << (i > 0 ? ", " : "") << task.addresses(i);
    }
    std::cout << " (" << task.interface() << (task.eni().empty() ? "" : ", ENI " + task.eni())
              << ")\n";
  }
  if (task.status() == berth::v1::STOPPED || task.desired_status() == berth::v1::STOPPED) {
    std::cout << "Stopped:   " << timestamp(task.stopped_at_ms()) << "\n"
              << "StopCode:  " << task.stop_code() << "\n"
              << "Reason:    " << task.stopped_reason() << "\n";
  }
  std::cout << "Containers:\n";
  for (const auto& c : task.containers()) {
    std::cout << "  " << c.name() << (c.essential() ? " (essential)" : "") << "\n"
              << "    Status:    " << status_text(c.status()) << "\n"
              << "    Image:     " << c.image() << "\n"
              << "    Digest:    " << (c.image_digest().empty() ? "-" : c.image_digest()) << "\n";
    if (c.pid() != 0) std::cout << "    Pid:       " << c.pid() << "\n";
    if (!c.addresses().empty()) std::cout << "    Address:   " << c.addresses(0) << "\n";
    for (const auto& port : c.ports()) {
      std::cout << "    Port:      " << port.host_port() << " -> " << port.container_port() << "/"
                << port.protocol() << "\n";
    }
    std::cout << "    Started:   " << timestamp(c.started_at_ms()) << "\n";
    if (c.status() == berth::v1::STOPPED) {
      std::cout << "    Stopped:   " << timestamp(c.stopped_at_ms()) << "\n"
                << "    ExitCode:  " << (c.has_exit_code() ? std::to_string(c.exit_code()) : "-")
                << "\n";
    }
    if (!c.reason().empty()) std::cout << "    Reason:    " << c.reason() << "\n";
    if (c.restart_count() > 0) std::cout << "    Restarts:  " << c.restart_count() << "\n";
    std::cout << "    Health:    " << health_text(c.health()) << "\n";
    if (!c.health_output().empty()) {
      std::string output = c.health_output();
      while (!output.empty() && output.back() == '\n') output.pop_back();
      std::cout << "    HealthOutput: " << output << "\n";
    }
  }
  if (!task.ephemeral_containers().empty()) std::cout << "Ephemeral containers (debug):\n";
  for (const auto& e : task.ephemeral_containers()) {
    std::string command;
    for (const auto& arg : e.command()) command += (command.empty() ? "" : " ") + arg;
    std::cout << "  " << e.name() << "\n"
              << "    Target:    " << e.target() << "\n"
              << "    Image:     " << e.image() << "\n"
              << "    Command:   " << command << "\n"
              << "    Started:   " << timestamp(e.started_at_ms()) << " by uid " << e.caller_uid()
              << "\n";
  }
  return 0;
}

int stop_task(berth::v1::Berth::Stub& stub, const std::string& task_name, bool wait, bool json) {
  berth::v1::StopTaskRequest request;
  request.set_task(task_name);
  request.set_wait(wait);
  berth::v1::StopTaskResponse response;
  grpc::ClientContext ctx;
  cancel_on_signal(&ctx);
  auto status = stub.StopTask(&ctx, request, &response);
  if (!status.ok()) return report(status, "stop '" + task_name + "'");
  if (json) {
    std::cout << to_json(response.task()) << "\n";
  } else {
    std::cout << response.task().id() << "\n";
  }
  return 0;
}

int remove_task(berth::v1::Berth::Stub& stub, const std::string& task_name) {
  berth::v1::RemoveTaskRequest request;
  request.set_task(task_name);
  berth::v1::RemoveTaskResponse response;
  grpc::ClientContext ctx;
  auto status = stub.RemoveTask(&ctx, request, &response);
  if (!status.ok()) return report(status, "rm '" + task_name + "'");
  return 0;
}

int task_logs(berth::v1::Berth::Stub& stub, const std::string& task_name,
              const std::string& container, bool follow, const std::string& since, bool json) {
  berth::v1::TaskLogsRequest request;
  request.set_task(task_name);
  request.set_container(container);
  request.set_follow(follow);
  int64_t since_nanos = 0;
  if (!parse_since(since, &since_nanos)) {
    std::cerr << "berthctl: logs: --since '" << since
              << "': expected a duration such as 10s, 5m, 2h or Unix seconds\n";
    return 1;
  }
  request.set_since_unix_nanos(since_nanos);
  grpc::ClientContext ctx;
  cancel_on_signal(&ctx);
  auto stream = stub.TaskLogs(&ctx, request);
  berth::v1::LogEntry entry;
  std::string last_container;
  while (stream->Read(&entry)) {
    if (json) {
      std::cout << nlohmann::json{{"container", entry.container()},
                                  {"stream", entry.stream()},
                                  {"time", entry.time_unix_nanos()},
                                  {"log", entry.text()}}
                       .dump()
                << "\n"
                << std::flush;
      continue;
    }
    FILE* out = entry.stream() == "stderr" ? stderr : stdout;
    if (container.empty()) std::fprintf(out, "%s | ", entry.container().c_str());
    std::fwrite(entry.text().data(), 1, entry.text().size(), out);
    std::fflush(out);
  }
  auto status = stream->Finish();
  if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
    return report(status, "logs '" + task_name + "'");
  }
  return 0;
}

int watch_events(berth::v1::Berth::Stub& stub, const std::string& task_name, bool json) {
  berth::v1::WatchEventsRequest request;
  request.set_task(task_name);
  grpc::ClientContext ctx;
  cancel_on_signal(&ctx);
  auto stream = stub.WatchEvents(&ctx, request);
  berth::v1::Event event;
  while (stream->Read(&event)) {
    if (json) {
      std::cout << nlohmann::json{{"at", event.at_ms()},
                                  {"taskId", event.task_id()},
                                  {"container", event.container()},
                                  {"status", event.status()},
                                  {"detail", event.detail()}}
                       .dump()
                << "\n"
                << std::flush;
    } else {
      std::cout << timestamp(event.at_ms()) << "  " << event.task_id() << "  "
                << (event.container().empty() ? "-" : event.container()) << "  " << event.status()
                << (event.detail().empty() ? "" : "  " + event.detail()) << "\n"
                << std::flush;
    }
  }
  auto status = stream->Finish();
  if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
    return report(status, "events");
  }
  return 0;
}

}  // namespace berthctl
