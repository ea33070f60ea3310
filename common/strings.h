// Small string helpers shared by the parsers.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace berth {

// The parts of `text` between `separator`s, empty ones included
// ("a,,b" -> "a", "", "b"; "" -> "").
std::vector<std::string> split(std::string_view text, char separator);

// `parts` with `separator` between them.
std::string join(const std::vector<std::string>& parts, std::string_view separator);

// `text` without leading and trailing spaces, tabs, CR and LF.
std::string_view trim(std::string_view text);

// ASCII lower case.
std::string lower(std::string_view text);

// A URI query value: every byte but A-Z a-z 0-9 - . _ ~ as %XX.
std::string percent_encode(std::string_view text);

}  // namespace berth
