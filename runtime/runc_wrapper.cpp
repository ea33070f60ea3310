#include "runtime/runc_wrapper.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <set>

namespace berth::runtime {

namespace {

// "--name=value", "--name value", "-name value" (runc's flag parser takes one
// or two dashes). Returns the name, and the value when it came after '='.
std::optional<std::pair<std::string, std::optional<std::string>>> flag(std::string_view arg) {
  if (arg.size() < 2 || arg[0] != '-') return std::nullopt;
  arg.remove_prefix(arg[1] == '-' ? 2 : 1);
  auto eq = arg.find('=');
  if (eq == std::string_view::npos) return std::pair{std::string(arg), std::nullopt};
  return std::pair{std::string(arg.substr(0, eq)), std::optional(std::string(arg.substr(eq + 1)))};
}

// The flag's value: after its '=', or the next argument (which `i` then
// moves past).
std::string flag_value(const std::vector<std::string>& args, size_t& i,
                       const std::optional<std::string>& inline_value) {
  if (inline_value) return *inline_value;
  return i + 1 < args.size() ? args[++i] : std::string();
}

}  // namespace

RuncInvocation parse_runc_args(const std::vector<std::string>& args) {
  // runc's global options that take a value (runc 1.1 main.go).
  static const std::set<std::string, std::less<>> kGlobalValues = {"log", "log-format", "root",
                                                                   "criu", "rootless"};
  // create's options that take a value (runc 1.1 create.go).
  static const std::set<std::string, std::less<>> kCreateValues = {"bundle", "b", "console-socket",
                                                                   "pid-file", "preserve-fds"};
  RuncInvocation call;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    auto f = flag(args[i]);
    if (!f) break;
    auto& [name, inline_value] = *f;
    if (!kGlobalValues.contains(name)) continue;
    std::string value = flag_value(args, i, inline_value);
    if (name == "log") call.log_path = value;
    if (name == "log-format") call.log_format = value;
  }
  if (i == args.size()) return call;
  call.command = args[i];
  if (call.command != "create") return call;
  for (++i; i < args.size(); ++i) {
    auto f = flag(args[i]);
    if (!f) break;  // the container id: options come before it
    auto& [name, inline_value] = *f;
    if (!kCreateValues.contains(name)) continue;
    std::string value = flag_value(args, i, inline_value);
    if (name == "bundle" || name == "b") call.bundle = value;
  }
  return call;
}

Result<std::string> stdin_fifo_of(std::string_view config_json) {
  auto spec = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!spec.is_object()) {
    return fail(ErrorCode::kInvalidArgument, "the bundle's config.json is not a JSON object");
  }
  auto annotations = spec.find("annotations");
  if (annotations == spec.end() || !annotations->is_object()) return std::string();
  auto fifo = annotations->find(kStdinFifoAnnotation);
  if (fifo == annotations->end()) return std::string();
  if (!fifo->is_string() || !fifo->get_ref<const std::string&>().starts_with('/')) {
    return fail(ErrorCode::kInvalidArgument,
                "annotation " + std::string(kStdinFifoAnnotation) + " is not an absolute path");
  }
  return fifo->get<std::string>();
}

std::string runc_error_log_line(std::string_view message, std::string_view rfc3339_time) {
  nlohmann::json line = {{"level", "error"}, {"msg", message}, {"time", rfc3339_time}};
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace berth::runtime
