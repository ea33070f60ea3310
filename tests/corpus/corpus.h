// The conformance corpus (../shared/ecs-task-definitions) as both the unit
// test (parse outcomes) and the integration test (running what is accepted)
// read it: where it is, the placeholder values its templates need, and the
// node policy it is judged against.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <regex>
#include <string>

#include "agent/taskdef/taskdef.h"

namespace berth::agent::corpus {

inline const std::filesystem::path kCorpus =
    std::filesystem::path(BERTH_SOURCE_DIR) / ".." / "shared" / "ecs-task-definitions";

// The amazon-cloudwatch-container-insights files are templates with
// {{name}} placeholders; these are plausible values for them. Placeholders
// with spaces ({{ index .ContainerLabels ... }}) are Go templates inside the
// CloudWatch agent's own configuration and stay as they are.
inline const std::map<std::string, std::string> kPlaceholders = {
    {"task-role-arn", "arn:aws:iam::123456789012:role/CWAgentECSTaskRole"},
    {"execution-role-arn", "arn:aws:iam::123456789012:role/CWAgentECSExecutionRole"},
    {"awslogs-region", "us-east-1"},
    {"demo-app-image", "public.ecr.aws/docker/library/nginx:latest"},
    {"launchtype", "EC2"},
    {"networkmode", "bridge"},
    {"ssm-cwagent-config", "AmazonCloudWatch-CWAgentConfig-ECS"},
    {"ssm-prometheus-config", "AmazonCloudWatch-PrometheusConfig-ECS"},
};

inline std::string fill_placeholders(const std::string& text, const std::string& file) {
  static const std::regex kPlaceholder(R"(\{\{([A-Za-z0-9_-]+)\}\})");
  std::string out;
  auto last = text.cbegin();
  for (std::sregex_iterator it(text.begin(), text.end(), kPlaceholder), end; it != end; ++it) {
    const std::smatch& match = *it;
    out.append(last, match[0].first);
    auto value = kPlaceholders.find(match[1].str());
    if (value == kPlaceholders.end()) {
      ADD_FAILURE() << file << ": no value for placeholder " << match[0].str();
      out.append(match[0].first, match[0].second);
    } else {
      out += value->second;
    }
    last = match[0].second;
  }
  out.append(last, text.cend());
  return out;
}

// The node the corpus is judged for: no privileged containers, and every
// host path the corpus names allowed (so that outcomes measure field
// support, not node policy). Whether those paths and devices exist is only
// known when a task runs.
inline ValidationPolicy corpus_policy() {
  return {false, {"/proc", "/dev", "/sys/fs/cgroup", "/cgroup", "/home/ec2-user"}};
}

}  // namespace berth::agent::corpus
