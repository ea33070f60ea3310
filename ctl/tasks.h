// berthctl's task commands: ps, describe, stop, rm, logs, events.
#pragma once

#include <string>
#include <vector>

#include "berth/v1/berth.grpc.pb.h"

namespace berthctl {

int list_tasks(berth::v1::Berth::Stub& stub, bool all, bool json);
int describe_task(berth::v1::Berth::Stub& stub, const std::string& task, bool json);
int stop_task(berth::v1::Berth::Stub& stub, const std::string& task, bool wait, bool json);
int remove_task(berth::v1::Berth::Stub& stub, const std::string& task);
int task_logs(berth::v1::Berth::Stub& stub, const std::string& task, const std::string& container,
              bool follow, const std::string& since, bool json);
int watch_events(berth::v1::Berth::Stub& stub, const std::string& task, bool json);

// Shared with berthctl_main.cpp and run.cpp.
int report(const grpc::Status& status, std::string_view what);
// A message as JSON, its field names in lowerCamelCase, network modes spelt
// as task definitions spell them.
std::string to_json(const google::protobuf::Message& message);
void cancel_on_signal(grpc::ClientContext* ctx);
// "42s", "5m", "3h", "2d" since a time in Unix milliseconds; "-" for none.
std::string age_ms(int64_t unix_ms);

}  // namespace berthctl
