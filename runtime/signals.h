// Signals by name, as image configs (StopSignal) and users write them.
#pragma once

#include <string_view>

#include "common/error.h"

namespace berth::runtime {

// containerd's label for a container's stop signal, taken from its image's
// StopSignal at create (what `ctr tasks kill` and nerdctl read too).
inline constexpr std::string_view kStopSignalLabel = "io.containerd.image.config.stop-signal";

// "SIGTERM", "TERM", "term", "15", "SIGRTMIN+3" or "RTMAX-2", as Docker's
// ParseSignal reads them; kInvalidArgument naming the text otherwise.
Result<int> parse_signal(std::string_view text);

}  // namespace berth::runtime
