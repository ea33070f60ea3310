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

// A message as JSON with the proto's field names in lowerCamelCase.
std::string to_json(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
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
  for (const auto& c : task.containers()) running += c.status() == "RUNNING" ? 1 : 0;
  return std::to_string(running) + "/" + std::to_string(task.containers_size()) + " running";
}

int submit_task(berth::v1::Berth::Stub& stub, const std::string& definition,
                const std::string& name, bool json, const std::string& what) {
  berth::v1::RunTaskRequest request;
  request.set_definition_json(definition);
  request.set_name(name);
  berth::v1::RunTaskResponse response;
  grpc::ClientContext ctx;
  auto status = stub.RunTask(&ctx, request, &response);
  if (!status.ok()) return report(status, what);
  if (json) {
    std::cout << nlohmann::json{{"taskId", response.task_id()}}.dump(2) << "\n";
  } else {
    std::cout << response.task_id() << "\n";
  }
  return 0;
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

int run_task(berth::v1::Berth::Stub& stub, const std::string& file, const std::string& name,
             bool json) {
  std::stringstream text;
  if (file == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(file);
    if (!in) {
      std::cerr << "berthctl: run -f '" << file << "': cannot read the file\n";
      return 1;
    }
    text << in.rdbuf();
  }
  return submit_task(stub, text.str(), name, json, "run -f '" + file + "'");
}

std::expected<std::string, std::string> detached_definition(const DetachedRun& run) {
  // ECS names: letters, digits, '-' and '_'.
  auto ecs_name = [](std::string_view text) {
    std::string out;
    for (char c : text) {
      bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
      out += ok ? c : '-';
    }
    return out.substr(0, 255);
  };
  std::string base = run.name;
  if (base.empty()) {
    // "registry:5000/library/busybox:1.36@sha256:..." -> "busybox"
    std::string_view image = run.image;
    image = image.substr(0, image.find('@'));
    if (auto slash = image.rfind('/'); slash != std::string_view::npos)
      image = image.substr(slash + 1);
    image = image.substr(0, image.find(':'));
    base = image.empty() ? "run" : std::string(image);
  }
  nlohmann::json container = {{"name", ecs_name(base)}, {"image", run.image}, {"essential", true}};
  if (!run.command.empty()) container["command"] = run.command;
  if (run.entrypoint) {
    if (run.entrypoint->empty())
      return std::unexpected("--entrypoint: an empty entrypoint cannot be expressed in a task");
    container["entryPoint"] = nlohmann::json::array({*run.entrypoint});
  }
  if (!run.env.empty()) {
    auto& environment = container["environment"] = nlohmann::json::array();
    for (const auto& kv : run.env) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        return std::unexpected("--env '" + kv + "': expected KEY=VALUE");
      environment.push_back({{"name", kv.substr(0, eq)}, {"value", kv.substr(eq + 1)}});
    }
  }
  if (!run.working_dir.empty()) container["workingDirectory"] = run.working_dir;
  if (!run.user.empty()) container["user"] = run.user;
  if (run.stop_timeout > 0) container["stopTimeout"] = run.stop_timeout;
  nlohmann::json definition = {{"family", ecs_name(base)},
                               {"containerDefinitions", nlohmann::json::array({container})}};
  return definition.dump();
}

int run_detached(berth::v1::Berth::Stub& stub, const DetachedRun& run, bool json) {
  auto definition = detached_definition(run);
  if (!definition) {
    std::cerr << "berthctl: run: " << definition.error() << "\n";
    return 2;
  }
  return submit_task(stub, *definition, run.name, json, "run '" + run.image + "'");
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
                task.name().c_str(), task.family().c_str(), task.status().c_str(),
                task.health().c_str(), container_summary(task).c_str(),
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
  std::cout << "Task:      " << task.id() << "\n"
            << "Name:      " << task.name() << "\n"
            << "Family:    " << task.family() << "\n"
            << "Status:    " << task.status() << " (desired " << task.desired_status() << ")\n"
            << "Health:    " << task.health() << "\n"
            << "Created:   " << timestamp(task.created_at_ms()) << "\n"
            << "Started:   " << timestamp(task.started_at_ms()) << "\n"
            << "Network:   " << task.network_mode() << "\n";
  if (!task.addresses().empty()) {
    std::cout << "Addresses: ";
    for (int i = 0; i < task.addresses_size(); ++i) {
      std::cout << (i > 0 ? ", " : "") << task.addresses(i);
    }
    std::cout << " (" << task.interface() << (task.eni().empty() ? "" : ", ENI " + task.eni())
              << ")\n";
  }
  if (task.status() == "STOPPED" || task.desired_status() == "STOPPED") {
    std::cout << "Stopped:   " << timestamp(task.stopped_at_ms()) << "\n"
              << "StopCode:  " << task.stop_code() << "\n"
              << "Reason:    " << task.stopped_reason() << "\n";
  }
  std::cout << "Containers:\n";
  for (const auto& c : task.containers()) {
    std::cout << "  " << c.name() << (c.essential() ? " (essential)" : "") << "\n"
              << "    Status:    " << c.status() << "\n"
              << "    Image:     " << c.image() << "\n"
              << "    Digest:    " << (c.image_digest().empty() ? "-" : c.image_digest()) << "\n";
    if (c.pid() != 0) std::cout << "    Pid:       " << c.pid() << "\n";
    if (!c.addresses().empty()) std::cout << "    Address:   " << c.addresses(0) << "\n";
    for (const auto& port : c.ports()) {
      std::cout << "    Port:      " << port.host_port() << " -> " << port.container_port() << "/"
                << port.protocol() << "\n";
    }
    std::cout << "    Started:   " << timestamp(c.started_at_ms()) << "\n";
    if (c.status() == "STOPPED") {
      std::cout << "    Stopped:   " << timestamp(c.stopped_at_ms()) << "\n"
                << "    ExitCode:  " << (c.has_exit_code() ? std::to_string(c.exit_code()) : "-")
                << "\n";
    }
    if (!c.reason().empty()) std::cout << "    Reason:    " << c.reason() << "\n";
    if (c.restart_count() > 0) std::cout << "    Restarts:  " << c.restart_count() << "\n";
    std::cout << "    Health:    " << c.health() << "\n";
    if (!c.health_output().empty()) {
      std::string output = c.health_output();
      while (!output.empty() && output.back() == '\n') output.pop_back();
      std::cout << "    HealthOutput: " << output << "\n";
    }
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
