// Standard base64 (RFC 4648 section 4), as used by docker's config.json "auth"
// field and HTTP Basic authentication.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"

namespace berth {

// Encodes with the standard alphabet and '=' padding.
std::string base64_encode(std::string_view data);

// Decodes the standard alphabet. Padding may be omitted (some tools strip it),
// and CR/LF are skipped because wrapped base64 is common in config files.
// Anything else outside the alphabet is kInvalidArgument naming the offset.
Result<std::string> base64_decode(std::string_view encoded);

}  // namespace berth
