#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "agent/failpoints/failpoints.h"
#include "common/fd.h"
#include "common/strings.h"

namespace berth::agent {

namespace {

struct Armed {
  long at_hit = 1;
  std::string action;  // crash, error, delay:MS
};

class EnvFailpoints final : public Failpoints {
 public:
  EnvFailpoints(std::map<std::string, Armed> armed, std::string trace)
      : armed_(std::move(armed)), trace_(std::move(trace)) {}

  Status at(std::string_view point) const override {
    std::string name(point);
    Armed fire;
    {
      std::lock_guard lock(mu_);
      if (!trace_.empty()) {
        UniqueFd fd(::open(trace_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
        std::string line = name + "\n";
        if (fd) (void)!::write(fd.get(), line.data(), line.size());
      }
      auto it = armed_.find(name);
      if (it == armed_.end()) return {};
      if (++hits_[name] != it->second.at_hit) return {};
      fire = it->second;
    }
    std::string said = "berthd: failpoint '" + name + "': " + fire.action + "\n";
    (void)!::write(STDERR_FILENO, said.data(), said.size());
    if (fire.action == "crash") {
      ::kill(::getpid(), SIGKILL);
      ::pause();
    }
    if (fire.action.starts_with("delay:")) {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::strtoll(fire.action.c_str() + 6, nullptr, 10)));
      return {};
    }
    return fail(ErrorCode::kInternal, "failpoint '" + name + "' injected an error");
  }

 private:
  std::map<std::string, Armed> armed_;
  std::string trace_;
  mutable std::mutex mu_;
  mutable std::map<std::string, long> hits_;
};

}  // namespace

std::unique_ptr<Failpoints> failpoints_from_environment(std::string* summary) {
  const char* spec = std::getenv("BERTH_FAILPOINTS");
  const char* trace = std::getenv("BERTH_FAILPOINT_TRACE");
  std::map<std::string, Armed> armed;
  for (const auto& item : split(spec ? spec : "", ';')) {
    auto entry = std::string(trim(item));
    auto equals = entry.find('=');
    if (entry.empty() || equals == std::string::npos) continue;
    std::string point = entry.substr(0, equals);
    Armed a;
    a.action = entry.substr(equals + 1);
    if (auto at = point.find('@'); at != std::string::npos) {
      a.at_hit = std::max(1L, std::strtol(point.c_str() + at + 1, nullptr, 10));
      point = point.substr(0, at);
    }
    *summary +=
        (summary->empty() ? "" : ", ") + point + "@" + std::to_string(a.at_hit) + "=" + a.action;
    armed[point] = a;
  }
  if (armed.empty() && !trace) return nullptr;
  if (trace) *summary += (summary->empty() ? "" : ", ") + std::string("trace to ") + trace;
  return std::make_unique<EnvFailpoints>(std::move(armed), trace ? trace : "");
}

}  // namespace berth::agent
