#include "systemd/journal.h"

// Entries carry the container's fields, not the logger's source location.
#define SD_JOURNAL_SUPPRESS_LOCATION 1

#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include <memory>

namespace berth::systemd {

bool journal_available(std::string_view socket) {
  struct stat st {};
  return ::stat(std::string(socket).c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

bool valid_field_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '_') return false;
  for (char c : name) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

Status send_entry(std::string_view line, int priority, const std::vector<std::string>& fields) {
  // A line goes without its newline; one without (output cut short, or a
  // prompt) is marked, as Docker's journald driver does.
  bool whole = !line.empty() && line.back() == '\n';
  if (whole) line.remove_suffix(1);
  std::string message_field = "MESSAGE=" + std::string(line);
  std::string partial_field = std::string(kPartialField) + "=true";
  std::string priority_field = "PRIORITY=" + std::to_string(priority);
  std::vector<iovec> parts;
  parts.reserve(fields.size() + 2);
  auto add = [&](const std::string& field) {
    parts.push_back({const_cast<char*>(field.data()), field.size()});
  };
  add(message_field);
  add(priority_field);
  if (!whole) add(partial_field);
  for (const auto& field : fields) add(field);
  int r = sd_journal_sendv(parts.data(), static_cast<int>(parts.size()));
  if (r < 0) return fail_errno("sending to the journal", -r);
  return {};
}

namespace {

struct Closer {
  void operator()(sd_journal* journal) const { sd_journal_close(journal); }
};

// A field's value of the current entry, or "" when it has none.
std::string field(sd_journal* journal, std::string_view name) {
  const void* data = nullptr;
  size_t length = 0;
  if (sd_journal_get_data(journal, std::string(name).c_str(), &data, &length) < 0) return {};
  std::string_view text(static_cast<const char*>(data), length);
  size_t prefix = name.size() + 1;  // "NAME="
  return text.size() < prefix ? std::string() : std::string(text.substr(prefix));
}

}  // namespace

Result<std::vector<JournalEntry>> read_entries(const std::vector<std::string>& matches) {
  sd_journal* raw = nullptr;
  int r = sd_journal_open(&raw, SD_JOURNAL_LOCAL_ONLY);
  if (r < 0) return fail_errno("opening the journal", -r);
  std::unique_ptr<sd_journal, Closer> journal(raw);
  for (const auto& match : matches) {
    r = sd_journal_add_match(raw, match.data(), match.size());
    if (r < 0) return fail_errno("journal match '" + match + "'", -r);
  }
  std::vector<JournalEntry> entries;
  SD_JOURNAL_FOREACH(raw) {
    JournalEntry entry;
    entry.line = field(raw, "MESSAGE");
    if (field(raw, kPartialField) != "true") entry.line += '\n';
    std::string priority = field(raw, "PRIORITY");
    entry.priority =
        priority.size() == 1 && priority[0] >= '0' && priority[0] <= '7' ? priority[0] - '0' : 6;
    uint64_t usec = 0;
    if (sd_journal_get_realtime_usec(raw, &usec) >= 0) {
      entry.time = std::chrono::system_clock::time_point(
          std::chrono::microseconds(static_cast<int64_t>(usec)));
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

}  // namespace berth::systemd
