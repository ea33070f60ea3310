// A task record as its checkpoint file holds it (JSON, "version": 2).
// Version 1 files (berth before the engine's reshape) are read too and
// converted, so that an upgraded berthd adopts the tasks an older one ran.
#pragma once

#include <nlohmann/json.hpp>

#include "agent/state/record.h"
#include "common/error.h"

namespace berth::agent {

nlohmann::json to_json(const TaskRecord& task);
// kDataLoss naming the field when the JSON is not a task record.
Result<TaskRecord> task_from_json(const nlohmann::json& json);

nlohmann::json attachment_to_json(const NetworkAttachment& network);

}  // namespace berth::agent
