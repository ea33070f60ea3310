// berthctl's task commands: run -f, ps, describe, stop, rm, logs, events.
#pragma once

#include <string>

#include "berth/v1/berth.grpc.pb.h"

namespace berthctl {

int run_task(berth::v1::Berth::Stub& stub, const std::string& file, const std::string& name,
             bool json);
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
