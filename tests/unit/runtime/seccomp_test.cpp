#include "runtime/seccomp.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace berth::runtime {
namespace {

using nlohmann::json;

const SeccompHost kAmd64{"amd64", "6.1.0-18-amd64"};

// The shapes containers-common's profile uses, in small.
json profile() {
  return json::parse(R"({
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 38,
    "archMap": [
      {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
      {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
    ],
    "syscalls": [
      {"names": ["kexec_load", "swapon"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
       "includes": {}, "excludes": {}},
      {"names": ["read", "write", "unshare", "mount", "clone", "clone3", "keyctl"],
       "action": "SCMP_ACT_ALLOW", "includes": {}, "excludes": {}, "args": []},
      {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
       "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
      {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
      {"names": ["sync_file_range2"], "action": "SCMP_ACT_ALLOW",
       "includes": {"arches": ["ppc64le"]}},
      {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
      {"names": ["future_call"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "7.0"}},
      {"names": ["setns", "bpf"], "action": "SCMP_ACT_ALLOW",
       "includes": {"caps": ["CAP_SYS_ADMIN"]}},
      {"names": ["setns", "bpf"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
       "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
      {"names": ["settimeofday"], "action": "SCMP_ACT_ALLOW",
       "includes": {"caps": ["CAP_SYS_TIME"]}},
      {"name": "old_style", "action": "SCMP_ACT_ALLOW"}
    ]
  })");
}

// Every syscall name of the rules with this action (and no arguments).
std::set<std::string> names_with(const json& seccomp, const std::string& action) {
  std::set<std::string> names;
  for (const auto& rule : seccomp["syscalls"]) {
    if (rule["action"] != action || rule.contains("args")) continue;
    for (const auto& name : rule["names"]) names.insert(name.get<std::string>());
  }
  return names;
}

const json* rule_for(const json& seccomp, const std::string& name) {
  for (const auto& rule : seccomp["syscalls"]) {
    for (const auto& n : rule["names"]) {
      if (n == name) return &rule;
    }
  }
  return nullptr;
}

TEST(Seccomp, KeepsTheRulesWhoseConditionsHoldForTheContainer) {
  auto out = oci_seccomp(profile(), {"CAP_CHOWN", "CAP_SYS_TIME"}, kAmd64);
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ((*out)["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ((*out)["defaultErrnoRet"], 38);
  EXPECT_EQ((*out)["architectures"],
            json::array({"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  auto allowed = names_with(*out, "SCMP_ACT_ALLOW");
  EXPECT_TRUE(allowed.contains("read"));
  EXPECT_TRUE(allowed.contains("arch_prctl"));         // amd64 only, and this is amd64
  EXPECT_FALSE(allowed.contains("sync_file_range2"));  // ppc64le only
  EXPECT_TRUE(allowed.contains("ptrace"));             // kernel 6.1 >= 4.8
  EXPECT_FALSE(allowed.contains("future_call"));       // kernel 6.1 < 7.0
  EXPECT_TRUE(allowed.contains("settimeofday"));       // CAP_SYS_TIME is held
  EXPECT_TRUE(allowed.contains("old_style"));          // "name" as well as "names"
  EXPECT_FALSE(allowed.contains("bpf"));
  const json* personality = rule_for(*out, "personality");
  ASSERT_NE(personality, nullptr);
  EXPECT_EQ((*personality)["args"],
            json::parse(R"([{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}])"));
  const json* kexec = rule_for(*out, "kexec_load");
  ASSERT_NE(kexec, nullptr);
  EXPECT_EQ((*kexec)["action"], "SCMP_ACT_ERRNO");
  EXPECT_EQ((*kexec)["errnoRet"], 1);
}

TEST(Seccomp, WithoutSysAdminNamespacesAndMountsAreRefusedAsInDockersProfile) {
  auto out = oci_seccomp(profile(), {"CAP_CHOWN"}, kAmd64);
  ASSERT_TRUE(out) << out.error().message();
  auto allowed = names_with(*out, "SCMP_ACT_ALLOW");
  for (const char* name : {"unshare", "mount", "setns", "clone", "clone3"}) {
    EXPECT_FALSE(allowed.contains(name)) << name;
  }
  auto denied = names_with(*out, "SCMP_ACT_ERRNO");
  EXPECT_TRUE(denied.contains("unshare"));
  EXPECT_TRUE(denied.contains("mount"));
  // Each syscall is in one rule only: libseccomp refuses conflicting ones.
  std::multiset<std::string> all;
  for (const auto& rule : (*out)["syscalls"]) {
    for (const auto& n : rule["names"]) all.insert(n.get<std::string>());
  }
  for (const auto& name : all) EXPECT_EQ(all.count(name), 1u) << name;
  // clone without a CLONE_NEW* flag; clone3 is left to the default
  // (ENOSYS here), which makes libc fall back to clone.
  const json* clone = rule_for(*out, "clone");
  ASSERT_NE(clone, nullptr);
  EXPECT_EQ((*clone)["action"], "SCMP_ACT_ALLOW");
  EXPECT_EQ((*clone)["args"], json::parse(R"([{"index": 0, "value": 2114060288, "valueTwo": 0,
                                               "op": "SCMP_CMP_MASKED_EQ"}])"));
  EXPECT_EQ(rule_for(*out, "clone3"), nullptr);

  // With a default of EPERM, clone3 needs its own ENOSYS rule and unshare
  // needs none.
  json eperm = profile();
  eperm["defaultErrnoRet"] = 1;
  out = oci_seccomp(eperm, {"CAP_CHOWN"}, kAmd64);
  ASSERT_TRUE(out);
  ASSERT_NE(rule_for(*out, "clone3"), nullptr);
  EXPECT_EQ((*rule_for(*out, "clone3"))["errnoRet"], 38);
  EXPECT_EQ(rule_for(*out, "unshare"), nullptr);
}

TEST(Seccomp, SysAdminKeepsTheProfilesOwnRulesButNotTheKeyring) {
  auto out = oci_seccomp(profile(), {"CAP_SYS_ADMIN"}, kAmd64);
  ASSERT_TRUE(out) << out.error().message();
  auto allowed = names_with(*out, "SCMP_ACT_ALLOW");
  for (const char* name : {"unshare", "mount", "setns", "clone", "clone3", "bpf"}) {
    EXPECT_TRUE(allowed.contains(name)) << name;
  }
  auto denied = names_with(*out, "SCMP_ACT_ERRNO");
  EXPECT_FALSE(denied.contains("setns"));
  // The keyring is not namespaced: denied whatever the capabilities.
  EXPECT_FALSE(allowed.contains("keyctl"));
  EXPECT_TRUE(denied.contains("keyctl"));
  EXPECT_TRUE(denied.contains("add_key"));
}

TEST(Seccomp, LoadingNamesTheFileAndWhatIsWrong) {
  auto dir = std::filesystem::temp_directory_path() / "berth-seccomp-test";
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& text) {
    std::ofstream(dir / "p.json") << text;
    return (dir / "p.json").string();
  };
  std::string path = write(profile().dump());
  auto loaded = load_seccomp_profile(path);
  ASSERT_TRUE(loaded) << loaded.error().message();
  EXPECT_EQ((*loaded)["syscalls"].size(), profile()["syscalls"].size());

  path = write("{not json");
  EXPECT_EQ(load_seccomp_profile(path).error().message(),
            "seccomp profile '" + path + "' is not a JSON object");
  path =
      write(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]})");
  EXPECT_EQ(load_seccomp_profile(path).error().message(),
            "seccomp profile '" + path + "': syscalls[0] has no names");
  auto missing = load_seccomp_profile((dir / "absent.json").string());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("absent.json"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(Seccomp, DebiansProfileTranslatesForThisHost) {
  const std::string path = "/usr/share/containers/seccomp.json";
  ASSERT_TRUE(std::filesystem::exists(path)) << path << ": scripts/setup.sh installs it";
  auto loaded = load_seccomp_profile(path);
  ASSERT_TRUE(loaded) << loaded.error().message();
  auto out = oci_seccomp(*loaded, {"CAP_CHOWN", "CAP_SETUID"}, seccomp_host());
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_TRUE(names_with(*out, "SCMP_ACT_ALLOW").contains("read"));
  EXPECT_FALSE(names_with(*out, "SCMP_ACT_ALLOW").contains("unshare"));
}

}  // namespace
}  // namespace berth::runtime
