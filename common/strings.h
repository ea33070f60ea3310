// Small string helpers shared by the parsers.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace berth {

// The parts of `text` between `separator`s, empty ones included
// ("a,,b" -> "a", "", "b"; "" -> "").
std::vector<std::string> split(std::string_view text, char separator);

}  // namespace berth
