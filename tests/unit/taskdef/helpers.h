// Helpers of the task definition tests: a base document, parsing, and
// expectations on the problems found.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/taskdef/taskdef.h"

namespace berth::agent::testing {

using nlohmann::json;

inline json base() {
  return json::parse(R"({
    "family": "web",
    "containerDefinitions": [{"name": "app", "image": "busybox"}]
  })");
}

inline ParseOutcome parse(const json& doc, const ValidationPolicy& policy = {}) {
  return parse_task_definition(doc.dump(), policy);
}

inline std::string listing(const std::vector<Problem>& problems) {
  return problems.empty() ? "(no problems)" : format_problems(problems);
}

// The outcome has exactly this one problem.
inline void expect_problem(const ParseOutcome& outcome, const std::string& path,
                           const std::string& reason) {
  ASSERT_EQ(outcome.problems.size(), 1u) << listing(outcome.problems);
  EXPECT_EQ(outcome.problems[0].path, path);
  EXPECT_EQ(outcome.problems[0].reason, reason);
  EXPECT_FALSE(outcome.definition.has_value());
}

inline bool has_problem(const ParseOutcome& outcome, const std::string& path,
                        const std::string& reason) {
  return std::ranges::any_of(
      outcome.problems, [&](const Problem& p) { return p.path == path && p.reason == reason; });
}

inline TaskDefinition accepted(const json& doc, const ValidationPolicy& policy = {}) {
  auto outcome = parse(doc, policy);
  EXPECT_TRUE(outcome.problems.empty()) << listing(outcome.problems);
  return outcome.definition.value_or(TaskDefinition{});
}

inline json& container(json& doc, size_t i = 0) { return doc["containerDefinitions"][i]; }

inline json with_containers(std::initializer_list<json> containers) {
  json doc = base();
  doc["containerDefinitions"] = json::array();
  for (const auto& c : containers) doc["containerDefinitions"].push_back(c);
  return doc;
}

inline json named(const std::string& name) { return {{"name", name}, {"image", "busybox"}}; }

}  // namespace berth::agent::testing
