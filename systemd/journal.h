// The journal (libsystemd's sd-journal): berth's journald log driver sends
// each line of a container's output as one entry with the container's
// fields, as Docker's journald driver does, and `berthctl logs` reads them
// back.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace berth::systemd {

// journald's native socket: where it listens when it runs.
inline constexpr std::string_view kJournalSocket = "/run/systemd/journal/socket";

// Whether journald listens on this node (its native socket is a socket).
bool journal_available(std::string_view socket = kJournalSocket);

// A user field name that an entry may carry: upper-case letters, digits and
// '_', not starting with '_' (journald keeps those for itself), at most 64.
bool valid_field_name(std::string_view name);

// Marks an entry that holds a line without its end.
inline constexpr std::string_view kPartialField = "CONTAINER_PARTIAL_MESSAGE";

// Sends one line of output as an entry: MESSAGE (without the newline; a
// line without one is marked partial), PRIORITY (6 info, 3 err) and
// `fields` ("NAME=value", each name valid).
Status send_entry(std::string_view line, int priority, const std::vector<std::string>& fields);

struct JournalEntry {
  std::string line;  // as it was output: with its newline unless partial
  int priority = 6;
  std::chrono::system_clock::time_point time;  // when it was written
};

// Every entry of the local journal that has all of `matches` ("NAME=value"),
// oldest first.
Result<std::vector<JournalEntry>> read_entries(const std::vector<std::string>& matches);

}  // namespace berth::systemd
