// A container's systemControls: namespaced kernel parameters, read and
// checked as Docker checks its --sysctl options.
#include <array>
#include <string>
#include <string_view>

#include "agent/taskdef/parser.h"
#include "agent/taskdef/reader.h"
#include "agent/taskdef/taskdef.h"

namespace berth::agent {

SysctlNamespace sysctl_namespace(std::string_view key) {
  static constexpr std::array<std::string_view, 8> kIpcKeys = {
      "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
      "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"};
  if (key.starts_with("net.")) return SysctlNamespace::kNetwork;
  if (key.starts_with("fs.mqueue.")) return SysctlNamespace::kIpc;
  for (std::string_view ipc : kIpcKeys) {
    if (key == ipc) return SysctlNamespace::kIpc;
  }
  return SysctlNamespace::kNode;
}

namespace taskdef {

namespace {

// Dotted names of lower-case letters, digits, '_' and '-': nothing that
// could name a path outside /proc/sys.
bool well_formed(std::string_view key) {
  if (key.empty() || key.front() == '.' || key.back() == '.') return false;
  char previous = 0;
  for (char ch : key) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
              (ch == '.' && previous != '.');
    if (!ok) return false;
    previous = ch;
  }
  return true;
}

}  // namespace

void Parser::parse_system_controls(const json& c, const std::string& path,
                                   ContainerDefinition& out) {
  each_object(c, "systemControls", path, [&](const json& s, const std::string& at, size_t) {
    check_fields(s, "containerDefinitions[].systemControls[]", at);
    bool ok = require(s, "namespace", at);
    ok = require(s, "value", at) && ok;
    if (!ok) return;
    auto key = string_field(s, "namespace", at);
    auto value = string_field(s, "value", at);
    if (!key || !value) return;
    if (!well_formed(*key)) {
      add(member(at, "namespace"), quote(*key) + " is not a kernel parameter name");
    } else if (sysctl_namespace(*key) == SysctlNamespace::kNode) {
      add(member(at, "namespace"),
          quote(*key) +
              " is not namespaced: it would change the node; a container may set net.*, "
              "kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.*");
    } else if (!out.system_controls.emplace(*key, *value).second) {
      add(member(at, "namespace"), quote(*key) + " is set twice");
    }
  });
}

}  // namespace taskdef
}  // namespace berth::agent
