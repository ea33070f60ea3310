#include "runtime/seccomp.h"

#include <sys/utsname.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <utility>

#include "common/file.h"

namespace berth::runtime {

namespace {

using nlohmann::json;

constexpr int kEperm = 1;
constexpr int kEnosys = 38;

// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
// CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET.
constexpr uint64_t kCloneNamespaceFlags = 0x7E020000;

// The kernel keyring is not namespaced: Docker's profile denies it to every
// container, containers-common's allows keyctl.
constexpr auto kDeniedToAll = std::to_array<std::string_view>({"add_key", "keyctl", "request_key"});

// What only CAP_SYS_ADMIN may call (clone and clone3 have rules of their own).
constexpr auto kNeedSysAdmin = std::to_array<std::string_view>(
    {"unshare", "setns", "mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig",
     "fsmount", "fspick", "open_tree", "move_mount", "mount_setattr"});

// uname's machine -> Go's GOARCH, the names the profile's "arches" use.
std::string go_arch(std::string_view machine) {
  static constexpr auto kArches = std::to_array<std::pair<std::string_view, std::string_view>>({
      {"x86_64", "amd64"},
      {"aarch64", "arm64"},
      {"i386", "386"},
      {"i686", "386"},
      {"armv7l", "arm"},
      {"armv6l", "arm"},
      {"ppc64le", "ppc64le"},
      {"s390x", "s390x"},
      {"riscv64", "riscv64"},
      {"mips64", "mips64"},
  });
  for (const auto& [uname, go] : kArches) {
    if (uname == machine) return std::string(go);
  }
  return std::string(machine);
}

// GOARCH -> libseccomp's name of the native architecture.
std::optional<std::string_view> native_scmp_arch(std::string_view arch) {
  static constexpr auto kArches = std::to_array<std::pair<std::string_view, std::string_view>>({
      {"amd64", "SCMP_ARCH_X86_64"},
      {"arm64", "SCMP_ARCH_AARCH64"},
      {"386", "SCMP_ARCH_X86"},
      {"arm", "SCMP_ARCH_ARM"},
      {"ppc64le", "SCMP_ARCH_PPC64LE"},
      {"s390x", "SCMP_ARCH_S390X"},
      {"riscv64", "SCMP_ARCH_RISCV64"},
      {"mips64", "SCMP_ARCH_MIPS64"},
  });
  for (const auto& [go, scmp] : kArches) {
    if (go == arch) return scmp;
  }
  return std::nullopt;
}

// "6.1.0-18-amd64" or "4.8" -> {6, 1}; {0, 0} when it does not start with a
// version.
std::pair<int, int> kernel_version(std::string_view release) {
  int major = 0;
  int minor = 0;
  size_t i = 0;
  while (i < release.size() && release[i] >= '0' && release[i] <= '9') {
    major = major * 10 + (release[i++] - '0');
  }
  if (i < release.size() && release[i] == '.') {
    ++i;
    while (i < release.size() && release[i] >= '0' && release[i] <= '9') {
      minor = minor * 10 + (release[i++] - '0');
    }
  }
  return {major, minor};
}

bool contains(const json& list, std::string_view value) {
  if (!list.is_array()) return false;
  return std::any_of(list.begin(), list.end(),
                     [&](const json& v) { return v.is_string() && v.get<std::string>() == value; });
}

// Whether a rule's includes/excludes hold for this container on this host.
bool applies(const json& rule, const std::set<std::string>& capabilities, const SeccompHost& host,
             std::pair<int, int> kernel) {
  const json& excludes = rule.value("excludes", json::object());
  const json& includes = rule.value("includes", json::object());
  if (excludes.is_object()) {
    if (contains(excludes.value("arches", json()), host.arch)) return false;
    for (const auto& cap : excludes.value("caps", json::array())) {
      if (cap.is_string() && capabilities.contains(cap.get<std::string>())) return false;
    }
    if (excludes.contains("minKernel") && excludes["minKernel"].is_string() &&
        kernel >= kernel_version(excludes["minKernel"].get<std::string>())) {
      return false;
    }
  }
  if (includes.is_object()) {
    const json& arches = includes.value("arches", json());
    if (arches.is_array() && !arches.empty() && !contains(arches, host.arch)) return false;
    for (const auto& cap : includes.value("caps", json::array())) {
      if (!cap.is_string() || !capabilities.contains(cap.get<std::string>())) return false;
    }
    if (includes.contains("minKernel") && includes["minKernel"].is_string() &&
        kernel < kernel_version(includes["minKernel"].get<std::string>())) {
      return false;
    }
  }
  return true;
}

std::string describe(const std::string& path, size_t index) {
  return "seccomp profile '" + path + "': syscalls[" + std::to_string(index) + "]";
}

}  // namespace

SeccompHost seccomp_host() {
  struct utsname name {};
  if (::uname(&name) != 0) return {};
  return {go_arch(name.machine), name.release};
}

Result<json> load_seccomp_profile(const std::string& path) {
  std::string text = BERTH_TRY_CTX(read_file(path), "seccomp profile");
  json profile = json::parse(text, nullptr, false);
  if (profile.is_discarded() || !profile.is_object()) {
    return fail(ErrorCode::kInvalidArgument, "seccomp profile '" + path + "' is not a JSON object");
  }
  if (!profile.contains("defaultAction") || !profile["defaultAction"].is_string()) {
    return fail(ErrorCode::kInvalidArgument, "seccomp profile '" + path + "' has no defaultAction");
  }
  if (!profile.contains("syscalls") || !profile["syscalls"].is_array()) {
    return fail(ErrorCode::kInvalidArgument, "seccomp profile '" + path + "' has no syscalls list");
  }
  size_t index = 0;
  for (const auto& rule : profile["syscalls"]) {
    bool named = rule.is_object() && ((rule.contains("names") && rule["names"].is_array()) ||
                                      (rule.contains("name") && rule["name"].is_string()));
    if (!named) return fail(ErrorCode::kInvalidArgument, describe(path, index) + " has no names");
    if (!rule.contains("action") || !rule["action"].is_string()) {
      return fail(ErrorCode::kInvalidArgument, describe(path, index) + " has no action");
    }
    const json& args = rule.value("args", json());
    if (!args.is_null() && !args.is_array()) {
      return fail(ErrorCode::kInvalidArgument, describe(path, index) + ": args is not a list");
    }
    ++index;
  }
  return profile;
}

Result<json> oci_seccomp(const json& profile, const std::set<std::string>& capabilities,
                         const SeccompHost& host) {
  json out{{"defaultAction", profile.at("defaultAction")}};
  if (profile.contains("defaultErrnoRet")) out["defaultErrnoRet"] = profile["defaultErrnoRet"];
  if (profile.contains("flags")) out["flags"] = profile["flags"];

  json architectures = json::array();
  if (auto native = native_scmp_arch(host.arch)) {
    for (const auto& entry : profile.value("archMap", json::array())) {
      if (entry.value("architecture", "") != *native) continue;
      architectures.push_back(*native);
      for (const auto& sub : entry.value("subArchitectures", json::array())) {
        architectures.push_back(sub);
      }
    }
  }
  if (!architectures.empty()) out["architectures"] = architectures;

  const bool sys_admin = capabilities.contains("CAP_SYS_ADMIN");
  auto gated = [&](const std::string& name) {
    if (std::find(kDeniedToAll.begin(), kDeniedToAll.end(), name) != kDeniedToAll.end()) {
      return true;
    }
    if (sys_admin) return false;
    return name == "clone" || name == "clone3" ||
           std::find(kNeedSysAdmin.begin(), kNeedSysAdmin.end(), name) != kNeedSysAdmin.end();
  };

  json syscalls = json::array();
  const auto kernel = kernel_version(host.kernel_release);
  for (const auto& rule : profile.at("syscalls")) {
    if (!applies(rule, capabilities, host, kernel)) continue;
    json names = json::array();
    auto add_name = [&](const json& name) {
      if (name.is_string() && !gated(name.get<std::string>())) names.push_back(name);
    };
    if (rule.contains("names")) {
      for (const auto& name : rule["names"]) add_name(name);
    } else {
      add_name(rule["name"]);
    }
    if (names.empty()) continue;
    json oci{{"names", names}, {"action", rule["action"]}};
    if (rule.contains("errnoRet")) oci["errnoRet"] = rule["errnoRet"];
    const json& args = rule.value("args", json());
    if (args.is_array() && !args.empty()) {
      json oci_args = json::array();
      for (const auto& arg : args) {
        oci_args.push_back({{"index", arg.value("index", 0)},
                            {"value", arg.value("value", uint64_t{0})},
                            {"valueTwo", arg.value("valueTwo", uint64_t{0})},
                            {"op", arg.value("op", "")}});
      }
      oci["args"] = oci_args;
    }
    syscalls.push_back(std::move(oci));
  }

  // An ERRNO rule that says what the default says is refused by
  // libseccomp: leave such a syscall to the default.
  const std::string default_action = profile["defaultAction"].get<std::string>();
  const int default_errno = profile.value("defaultErrnoRet", kEperm);
  auto errno_rule = [&](json names, int errno_ret) {
    if (default_action == "SCMP_ACT_ERRNO" && default_errno == errno_ret) return;
    syscalls.push_back(
        {{"names", std::move(names)}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", errno_ret}});
  };
  json keyring = json::array();
  for (auto name : kDeniedToAll) keyring.push_back(name);
  errno_rule(std::move(keyring), kEperm);
  if (!sys_admin) {
    json denied = json::array();
    for (auto name : kNeedSysAdmin) denied.push_back(name);
    errno_rule(std::move(denied), kEperm);
    errno_rule(json::array({"clone3"}), kEnosys);
    // s390 passes clone's flags in its second argument.
    const int flags_index = host.arch == "s390x" ? 1 : 0;
    syscalls.push_back({{"names", {"clone"}},
                        {"action", "SCMP_ACT_ALLOW"},
                        {"args",
                         {{{"index", flags_index},
                           {"value", kCloneNamespaceFlags},
                           {"valueTwo", 0},
                           {"op", "SCMP_CMP_MASKED_EQ"}}}}});
  }
  out["syscalls"] = std::move(syscalls);
  return out;
}

}  // namespace berth::runtime
