// A container's dockerSecurityOptions, read as Docker's daemon reads its
// --security-opt values ("key=value", or the older "key:value"): what berth
// can honour is kept, and what it cannot is refused by name.
#include <string>
#include <string_view>

#include "agent/taskdef/parser.h"
#include "agent/taskdef/reader.h"
#include "agent/taskdef/taskdef.h"

namespace berth::agent::taskdef {

namespace {

// "no-new-privileges=true" -> {"no-new-privileges", "true"}; no separator:
// {option, ""}.
std::pair<std::string_view, std::string_view> split_option(std::string_view option) {
  size_t at = option.find('=');
  if (at == std::string_view::npos) at = option.find(':');
  if (at == std::string_view::npos) return {option, {}};
  return {option.substr(0, at), option.substr(at + 1)};
}

}  // namespace

void Parser::parse_security_options(const json& c, const std::string& path,
                                    ContainerDefinition& out) {
  auto options = strings_field(c, "dockerSecurityOptions", path);
  if (!options) return;
  const std::string list = member(path, "dockerSecurityOptions");
  for (size_t i = 0; i < options->size(); ++i) {
    const std::string& option = (*options)[i];
    const std::string at = element(list, i);
    auto [key, value] = split_option(option);
    if (key == "no-new-privileges") {
      if (value.empty() || value == "true") {
        out.security.no_new_privileges = true;
      } else if (value == "false") {
        out.security.no_new_privileges = false;
      } else {
        add(at, quote(option) + ": no-new-privileges takes true or false");
      }
    } else if (key == "seccomp") {
      if (value == "unconfined") {
        out.security.seccomp_unconfined = true;
      } else {
        add(at, quote(option) +
                    ": berth gives every container the node's default seccomp profile; the "
                    "only other choice is seccomp=unconfined");
      }
    } else if (key == "apparmor") {
      // berth loads no AppArmor profile, so every container is unconfined.
      if (value != "unconfined") {
        add(at,
            quote(option) + ": berth does not apply AppArmor profiles (only apparmor=unconfined)");
      }
    } else if (key == "label") {
      // berth sets no SELinux label: "disable" is what it does already.
      if (value != "disable") {
        add(at, quote(option) + ": berth does not apply SELinux labels (only label=disable)");
      }
    } else if (key == "credentialspec") {
      add(at, quote(option) + ": gMSA credential specs are for Windows containers");
    } else {
      add(at, quote(option) +
                  " is not a Docker security option (no-new-privileges, seccomp, apparmor, "
                  "label)");
    }
  }
}

}  // namespace berth::agent::taskdef
