// berthd's command line: its flags, over the TOML file that --config names
// (a flag given wins over the file).
#pragma once

#include <optional>

#include "agent/config/config.h"

namespace berth::agent {

// Fills `config`; returns the exit code to end with (--help, a bad flag or
// a bad file, which is logged), or nothing to go on.
std::optional<int> parse_command_line(int argc, char** argv, AgentConfig& config);

}  // namespace berth::agent
