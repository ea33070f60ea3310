// The node's exec_policy and the audit log's lines.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "agent/exec/audit.h"
#include "agent/exec/policy.h"

namespace berth::agent {
namespace {

using json = nlohmann::json;

TEST(ExecPolicy, NamesRoundTripAndUnknownOnesAreRefused) {
  for (const char* name : {"allow", "opt-in", "deny"}) {
    auto policy = parse_exec_policy(name);
    ASSERT_TRUE(policy) << name;
    EXPECT_EQ(exec_policy_name(*policy), name);
  }
  EXPECT_FALSE(parse_exec_policy("optin"));
  EXPECT_FALSE(parse_exec_policy(""));
}

TEST(ExecPolicy, AllowTakesEveryTaskOptInOnlyThoseThatOptedInDenyNone) {
  EXPECT_TRUE(check_exec_policy(ExecPolicy::kAllow, false, "t1"));
  EXPECT_TRUE(check_exec_policy(ExecPolicy::kOptIn, true, "t1"));
  auto not_opted = check_exec_policy(ExecPolicy::kOptIn, false, "t1");
  ASSERT_FALSE(not_opted);
  EXPECT_EQ(not_opted.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(not_opted.error().message().find("exec_policy is opt-in"), std::string::npos);
  EXPECT_NE(not_opted.error().message().find("enableExecuteCommand"), std::string::npos);
  EXPECT_NE(not_opted.error().message().find("'t1'"), std::string::npos);
  auto denied = check_exec_policy(ExecPolicy::kDeny, true, "t1");
  ASSERT_FALSE(denied);
  EXPECT_NE(denied.error().message().find("exec_policy is deny"), std::string::npos);
}

TEST(AuditLog, OneJsonLinePerRecordWithTheCallerAndTheOutcome) {
  AuditRecord record;
  record.session = "session-1";
  record.phase = "end";
  record.uid = 1000;
  record.gid = 1000;
  record.pid = 42;
  record.task_id = "t1";
  record.container = "app";
  record.command = {"sh", "-c", "echo \"hi\"\nexit 3"};
  record.tty = true;
  record.started_ms = 1000;
  record.ended_ms = 2000;
  record.exit_code = 3;
  record.outcome = "exited";
  std::string line = audit_line(record);
  EXPECT_EQ(line.find('\n'), std::string::npos) << "a newline in a command stays escaped";
  json parsed = json::parse(line);
  EXPECT_EQ(parsed["caller"]["uid"], 1000);
  EXPECT_EQ(parsed["caller"]["pid"], 42);
  EXPECT_EQ(parsed["command"][2], "echo \"hi\"\nexit 3");
  EXPECT_EQ(parsed["exitCode"], 3);
  EXPECT_EQ(parsed["endedAtMs"], 2000);
  EXPECT_FALSE(parsed.contains("error"));

  AuditRecord refused;
  refused.phase = "end";
  refused.outcome = "refused";
  refused.error = "policy";
  refused.command = {std::string("\xff\xfe bad utf-8")};
  json second = json::parse(audit_line(refused));
  EXPECT_FALSE(second.contains("exitCode"));
  EXPECT_EQ(second["error"], "policy");

  std::string dir = testing::TempDir() + "/audit-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  auto log = AuditLog::open(dir + "/audit.log");
  ASSERT_TRUE(log) << log.error().message();
  ASSERT_TRUE((*log)->append(record));
  ASSERT_TRUE((*log)->append(refused));
  std::ifstream in(dir + "/audit.log");
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[1])["outcome"], "refused");
  EXPECT_EQ(std::filesystem::status(dir + "/audit.log").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace berth::agent
