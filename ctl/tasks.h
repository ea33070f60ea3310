// berthctl's task commands: run -f, ps, describe, stop, rm, logs, events.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "berth/v1/berth.grpc.pb.h"

namespace berthctl {

int run_task(berth::v1::Berth::Stub& stub, const std::string& file, const std::string& name,
             bool json);

// `run -d IMAGE -- CMD`: a task of one essential container.
struct DetachedRun {
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> env;  // KEY=VALUE
  std::optional<std::string> entrypoint;
  std::string working_dir;
  std::string user;
  std::string name;
  unsigned stop_timeout = 0;
};
// The task definition for `run`: family and container named after the
// image (or --name). An error names the flag at fault.
std::expected<std::string, std::string> detached_definition(const DetachedRun& run);
int run_detached(berth::v1::Berth::Stub& stub, const DetachedRun& run, bool json);
int list_tasks(berth::v1::Berth::Stub& stub, bool all, bool json);
int describe_task(berth::v1::Berth::Stub& stub, const std::string& task, bool json);
int stop_task(berth::v1::Berth::Stub& stub, const std::string& task, bool wait, bool json);
int remove_task(berth::v1::Berth::Stub& stub, const std::string& task);
int task_logs(berth::v1::Berth::Stub& stub, const std::string& task, const std::string& container,
              bool follow, const std::string& since, bool json);
int watch_events(berth::v1::Berth::Stub& stub, const std::string& task, bool json);

// Shared with berthctl_main.cpp.
int report(const grpc::Status& status, std::string_view what);
void cancel_on_signal(grpc::ClientContext* ctx);

}  // namespace berthctl
