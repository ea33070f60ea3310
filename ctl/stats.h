// berthctl stats: what tasks' containers use, as `docker stats` shows it.
#pragma once

#include <string>
#include <vector>

#include "berth/v1/berth.grpc.pb.h"

namespace berthctl {

// Streams (redrawing the table every second on a terminal) until
// interrupted; with `no_stream`, prints one sample and exits. JSON: one
// array per sample (a line each while streaming).
int task_stats(berth::v1::Berth::Stub& stub, const std::vector<std::string>& tasks, bool no_stream,
               bool json);

// "1.5MiB" (binary units, memory) and "12.3kB" (decimal units, network), as
// docker stats writes them.
std::string binary_bytes(uint64_t bytes);
std::string decimal_bytes(uint64_t bytes);

}  // namespace berthctl
