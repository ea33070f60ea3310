#include "runtime/signals.h"

#include <signal.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

namespace berth::runtime {

namespace {

constexpr auto kSignals = std::to_array<std::pair<std::string_view, int>>({
    {"ABRT", SIGABRT}, {"ALRM", SIGALRM}, {"BUS", SIGBUS},       {"CHLD", SIGCHLD},
    {"CLD", SIGCHLD},  {"CONT", SIGCONT}, {"FPE", SIGFPE},       {"HUP", SIGHUP},
    {"ILL", SIGILL},   {"INT", SIGINT},   {"IO", SIGIO},         {"IOT", SIGIOT},
    {"KILL", SIGKILL}, {"PIPE", SIGPIPE}, {"POLL", SIGPOLL},     {"PROF", SIGPROF},
    {"PWR", SIGPWR},   {"QUIT", SIGQUIT}, {"SEGV", SIGSEGV},     {"STKFLT", SIGSTKFLT},
    {"STOP", SIGSTOP}, {"SYS", SIGSYS},   {"TERM", SIGTERM},     {"TRAP", SIGTRAP},
    {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"VTALRM", SIGVTALRM}, {"WINCH", SIGWINCH},
    {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
});

std::optional<int> number(std::string_view text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

Result<int> parse_signal(std::string_view text) {
  auto invalid = [&] {
    return fail(ErrorCode::kInvalidArgument, "invalid signal '" + std::string(text) + "'");
  };
  if (auto value = number(text)) {
    if (*value < 1 || *value > SIGRTMAX) return invalid();
    return *value;
  }
  std::string name(text);
  std::ranges::transform(name, name.begin(), [](unsigned char ch) { return std::toupper(ch); });
  if (name.starts_with("SIG")) name.erase(0, 3);
  for (const auto& [known, value] : kSignals) {
    if (name == known) return value;
  }
  // SIGRTMIN, SIGRTMIN+n, SIGRTMAX, SIGRTMAX-n.
  for (const auto& [base, value, sign] :
       {std::tuple{std::string_view("RTMIN"), SIGRTMIN, 1}, {"RTMAX", SIGRTMAX, -1}}) {
    if (!name.starts_with(base)) continue;
    std::string_view rest = std::string_view(name).substr(base.size());
    if (rest.empty()) return value;
    if (rest[0] != (sign > 0 ? '+' : '-')) return invalid();
    auto offset = number(rest.substr(1));
    if (!offset || *offset < 0 || *offset > SIGRTMAX - SIGRTMIN) return invalid();
    return value + sign * *offset;
  }
  return invalid();
}

}  // namespace berth::runtime
