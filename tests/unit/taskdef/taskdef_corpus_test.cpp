// The conformance corpus: real ECS task definitions written by other people
// (../shared/ecs-task-definitions, see its README.md and SOURCES.tsv). Every
// file has an expected outcome below, so a change in what berth accepts or
// refuses fails this test. Each outcome is also printed as one line:
//   OUTCOME <file>: accepted
//   OUTCOME <file>: refused: <first problems>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "agent/taskdef/taskdef.h"
#include "corpus/corpus.h"

namespace berth::agent {
namespace {

namespace fs = std::filesystem;

using corpus::corpus_policy;
using corpus::fill_placeholders;
using corpus::kCorpus;

// "accepted", or "refused:" and a substring of the problems
// (format_problems), usually the path and reason of the refused field.
const std::string kAccepted = "accepted";
const std::string kFireLens =
    "refused:containerDefinitions[0].firelensConfiguration: not supported by berth: FireLens";
const std::string kSecrets0 = "refused:containerDefinitions[0].secrets: not supported by berth";
const std::string kSecrets1 = "refused:containerDefinitions[1].secrets: not supported by berth";
const std::string kAppMesh = "refused:proxyConfiguration: not supported by berth: App Mesh";
const std::string kEfs = "refused:volumes[0].efsVolumeConfiguration: not supported by berth";
const std::string kWindowsImage =
    "refused:containerDefinitions[0].image: not supported by berth: \"mcr.microsoft.com/windows/";
const std::string kNoNameOrImage = "refused:containerDefinitions[0].name: required";
const std::string kLogConfigurationArray =
    "refused:containerDefinitions[0].logConfiguration: must be an object, not an array";
const std::string kArm64 =
    node_cpu_architecture() == "ARM64"
        ? kAccepted
        : "refused:runtimePlatform.cpuArchitecture: not supported by berth: this node runs "
          "X86_64 containers, not ARM64";

const std::map<std::string, std::string> kExpected = {
    {"amazon-cloudwatch-container-insights/"
     "daemon-service__cwagent-ecs-instance-metric__cwagent-ecs-instance-metric.json",
     kAccepted},
    {"amazon-cloudwatch-container-insights/"
     "replica-service__cwagent-prometheus__cwagent-prometheus-task-definition.json",
     kSecrets0},
    {"amazon-cloudwatch-container-insights/sidecar__combination__combination-ec2.json", kSecrets1},
    {"amazon-cloudwatch-container-insights/sidecar__combination__combination-fargate.json",
     kSecrets1},
    {"amazon-cloudwatch-container-insights/sidecar__cwagent-emf__cwagent-emf-ec2.json", kSecrets1},
    {"amazon-cloudwatch-container-insights/sidecar__cwagent-emf__cwagent-emf-fargate.json",
     kSecrets1},
    {"amazon-cloudwatch-container-insights/"
     "sidecar__cwagent-sdkmetrics__cwagent-sdkmetrics-ec2.json",
     kSecrets1},
    {"amazon-cloudwatch-container-insights/"
     "sidecar__cwagent-sdkmetrics__cwagent-sdkmetrics-fargate.json",
     kSecrets1},
    {"amazon-cloudwatch-container-insights/sidecar__cwagent-statsd__cwagent-statsd-ec2.json",
     kSecrets1},
    {"amazon-cloudwatch-container-insights/sidecar__cwagent-statsd__cwagent-statsd-fargate.json",
     kSecrets1},
    {"amazon-ecs-developer-guide/AWS_Fargate--2--fargate-task-definition.json", kAccepted},
    {"amazon-ecs-developer-guide/AWS_Fargate--3--windows-simple-iis-2019-core.json",
     "refused:runtimePlatform.operatingSystemFamily: not supported by berth: "
     "\"WINDOWS_SERVER_2019_CORE\" needs Windows"},
    {"amazon-ecs-developer-guide/ECS_AWSCLI_EC2--6--sleep360.json", kAccepted},
    {"amazon-ecs-developer-guide/ECS_AWSCLI_Fargate--2--sample-fargate.json", kAccepted},
    {"amazon-ecs-developer-guide/ECS_Windows_getting_started--0--windows-simple-iis.json",
     kWindowsImage},
    {"amazon-ecs-developer-guide/application-metrics-cloudwatch--1--otel-using-cloudwatch.json",
     kAccepted},
    {"amazon-ecs-developer-guide/application-metrics-prometheus--0--otel-using-cloudwatch.json",
     kAccepted},
    {"amazon-ecs-developer-guide/create-blue-green--8--tutorial-task-def.json", kAccepted},
    {"amazon-ecs-developer-guide/create-service-connect--6--service-connect-nginx.json", kAccepted},
    {"amazon-ecs-developer-guide/create-service-discovery--7--tutorial-task-def.json", kAccepted},
    {"amazon-ecs-developer-guide/ecs-anywhere-runtask--0--nginx.json", kAccepted},
    {"amazon-ecs-developer-guide/ecs-anywhere-runtask--1--windows-container.json", kWindowsImage},
    {"amazon-ecs-developer-guide/ecs-arm64--3--arm64-testapp.json", kArm64},
    {"amazon-ecs-developer-guide/ecs-dl1--2--dl-test.json", kAccepted},
    {"amazon-ecs-developer-guide/ecs-exec--1--ecs-exec-task.json", kAccepted},
    {"amazon-ecs-developer-guide/ecs-gpu--3--example-ecs-gpu.json",
     "refused:containerDefinitions[0].resourceRequirements: not supported by berth: GPUs"},
    {"amazon-ecs-developer-guide/ecs-inference--3--ecs-neuron.json", kAccepted},
    {"amazon-ecs-developer-guide/ecs-vt1--1--vt1-3xlarge-xffmpeg-processor.json", kAccepted},
    {"amazon-ecs-developer-guide/ecs-vt1--3--vt1-6xlarge-xffmpeg-processor.json", kAccepted},
    {"amazon-ecs-developer-guide/ecs-vt1--5--vt1-24xlarge-xffmpeg-processor.json", kAccepted},
    {"amazon-ecs-developer-guide/ecs_cwet--1--console-sample-app-static.json", kAccepted},
    {"amazon-ecs-developer-guide/ecs_cwet2--1--fargate-task-definition.json", kAccepted},
    {"amazon-ecs-developer-guide/example_task_definitions--5--example_task_3.json", kAccepted},
    {"amazon-ecs-developer-guide/example_task_definitions--6--example_task_2.json", kAccepted},
    {"amazon-ecs-developer-guide/example_task_definitions--7--appmesh-gateway.json", kAppMesh},
    {"amazon-ecs-developer-guide/example_task_definitions--8--windows-simple-iis.json",
     kWindowsImage},
    {"amazon-ecs-developer-guide/firelens-example-taskdefs--0--firelens-example-cloudwatch.json",
     kFireLens},
    {"amazon-ecs-developer-guide/firelens-example-taskdefs--1--firelens-example-firehose.json",
     kFireLens},
    {"amazon-ecs-developer-guide/firelens-example-taskdefs--2--firelens-example-opensearch.json",
     kFireLens},
    {"amazon-ecs-developer-guide/firelens-example-taskdefs--6--firelens-example-forward.json",
     kFireLens},
    {"amazon-ecs-developer-guide/firelens-taskdef--0--firelens-example-firehose.json", kFireLens},
    {"amazon-ecs-developer-guide/firelens-taskdef--2--nofamily.json", kFireLens},
    {"amazon-ecs-developer-guide/firelens-taskdef--3--nofamily.json", kFireLens},
    {"amazon-ecs-developer-guide/specifying-sensitive-data-tutorial--1--ecs-secrets-tutorial.json",
     kSecrets0},
    {"amazon-ecs-developer-guide/trace-data--1--otel-using-xray.json", kAccepted},
    {"amazon-ecs-developer-guide/troubleshoot-task-iam-roles--0--iam-role-test.json", kAccepted},
    {"amazon-ecs-developer-guide/"
     "tutorial-cluster-auto-scaling-console--0--ConsoleTutorial-taskdef.json",
     kAccepted},
    {"amazon-ecs-developer-guide/"
     "tutorial-deploy-fluentbit-on-windows--4--ecs-windows-fluent-bit.json",
     "refused:containerDefinitions[0].image: not supported by berth: "
     "\"public.ecr.aws/aws-observability/aws-for-fluent-bit:windowsservercore-latest\" is a "
     "Windows image"},
    {"amazon-ecs-developer-guide/tutorial-deploy-fluentbit-on-windows--8--windows-app-task.json",
     kWindowsImage},
    {"amazon-ecs-developer-guide/tutorial-efs-volumes--2--efs-tutorial.json", kEfs},
    {"amazon-ecs-developer-guide/tutorial-wfsx-volumes--1--fsx-windows.json", kWindowsImage},
    {"amazon-ecs-developer-guide/using_awslogs--3--awslogs-example.json", kAccepted},
    {"amazon-ecs-developer-guide/using_firelens--4--nofamily.json", kFireLens},
    {"amazon-ecs-developer-guide-fragments/firelens-filtering-logs--0--nofamily.json",
     kNoNameOrImage},
    {"amazon-ecs-developer-guide-fragments/secrets-envvar-secrets-manager--10--nofamily.json",
     kSecrets0},
    {"amazon-ecs-developer-guide-fragments/secrets-envvar-secrets-manager--3--nofamily.json",
     kSecrets0},
    {"amazon-ecs-developer-guide-fragments/secrets-envvar-secrets-manager--5--nofamily.json",
     kSecrets0},
    {"amazon-ecs-developer-guide-fragments/secrets-envvar-secrets-manager--7--nofamily.json",
     kSecrets0},
    {"amazon-ecs-developer-guide-fragments/secrets-envvar-secrets-manager--8--nofamily.json",
     kSecrets0},
    {"amazon-ecs-developer-guide-fragments/secrets-envvar-secrets-manager--9--nofamily.json",
     kSecrets0},
    {"amazon-ecs-developer-guide-fragments/secrets-envvar-ssm-paramstore--2--nofamily.json",
     kSecrets0},
    {"amazon-ecs-developer-guide-fragments/secrets-logconfig--0--nofamily.json",
     kLogConfigurationArray},
    {"amazon-ecs-developer-guide-fragments/secrets-logconfig--1--nofamily.json",
     kLogConfigurationArray},
    {"amazon-ecs-developer-guide-fragments/specifying-sensitive-data-parameters--3--nofamily.json",
     kLogConfigurationArray},
    {"amazon-ecs-developer-guide-fragments/specifying-sensitive-data-secrets--11--nofamily.json",
     kLogConfigurationArray},
    {"amazon-ecs-developer-guide-fragments/task-definition-template--0--nofamily.json",
     "refused:inferenceAccelerators: not supported by berth"},
    {"amazon-ecs-firelens-examples/fluent-bit__add-keys__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__adot-resource-monitoring__task-definition.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/"
     "fluent-bit__amazon-managed-service-for-prometheus__task-definition.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__amazon-opensearch-serverless__task-definition.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__amazon-opensearch__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/"
     "fluent-bit__cloudwatchlogs-emf__emf-over-tcp__task-definition-bridge.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/"
     "fluent-bit__cloudwatchlogs-emf__emf-over-tcp__task-definition-localhost.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__cloudwatchlogs-emf__task-definition-stdout-emf.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__cloudwatchlogs__task-definition-cloudwatch.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/"
     "fluent-bit__cloudwatchlogs__task-definition-cloudwatch_logs.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__config-file-type-file__task-definition.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__cross-account__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__datadog__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__dynatrace__task-definition.json",
     "refused:not valid JSON: parse error at line 34"},
    {"amazon-ecs-firelens-examples/fluent-bit__ecs-log-collection__task-definition-tail.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__ecs-log-collection__task-definition-tcp.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__ecs-log-deletion__take-definition-tail.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__efs__task-definition.json", kEfs},
    {"amazon-ecs-firelens-examples/fluent-bit__elastic-cloud__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__enable-debug-logging__task-definition.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/"
     "fluent-bit__filter-multiline-partial-message-mode__task-definition.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__filter-multiline__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__forward-to-aggregator__task-definition.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__grafana-cloud__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/"
     "fluent-bit__health-check__task-definition-output-metrics-healthcheck.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__health-check__task-definition-tcp-healthcheck.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/"
     "fluent-bit__health-check__task-definition-uptime-healthcheck.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__init-metadata__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__kinesis-firehose__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__kinesis-stream__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__log-driver-buffer-limit__task-definition.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__logstash__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__multi-config-support__task-definition.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__newrelic__example-task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/"
     "fluent-bit__oomkill-prevention__firelens-full-filesystem-example__task-definition.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/"
     "fluent-bit__oomkill-prevention__firelens-full-memory-example__task-definition.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__parse-common-log-formats__task-definition.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/"
     "fluent-bit__parse-envoy-app-mesh__appmesh-firelens-colorteller-black-ecs-task-def.json",
     kAppMesh},
    {"amazon-ecs-firelens-examples/fluent-bit__parse-json__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__s3__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__sematext__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/"
     "fluent-bit__send-fb-internal-metrics-to-cw__task_definition.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__send-to-multiple-destinations__task-definition.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__signalfx__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__solarwinds-loggly__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/fluent-bit__sumologic__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/fluentd__multiline-logs__task-definition.json", kFireLens},
    {"amazon-ecs-firelens-examples/splitting-log-streams__fluent-bit__task_definition.json",
     kFireLens},
    {"amazon-ecs-firelens-examples/splitting-log-streams__fluentd__task_definition.json",
     kFireLens},
    {"aws-containers-task-definitions/ConsulClient.json", kAccepted},
    {"aws-containers-task-definitions/ConsulServer.json", kAccepted},
    {"aws-containers-task-definitions/gunicorn_ec2.json", kAccepted},
    {"aws-containers-task-definitions/gunicorn_fargate.json", kAccepted},
    {"aws-containers-task-definitions/jetty_ec2.json", kAccepted},
    {"aws-containers-task-definitions/jetty_fargate.json", kAccepted},
    {"aws-containers-task-definitions/kibana_ec2.json",
     "refused:containerDefinitions[0].portMappings[0].hostPort: must equal containerPort (5601) in "
     "awsvpc network mode"},
    {"aws-containers-task-definitions/kibana_fargate.json", kAccepted},
    {"aws-containers-task-definitions/nginx_ec2.json", kAccepted},
    {"aws-containers-task-definitions/nginx_fargate.json", kAccepted},
    {"aws-containers-task-definitions/tomcat_ec2.json",
     "refused:containerDefinitions[0].portMappings[0].hostPort: must equal containerPort (8080) in "
     "awsvpc network mode"},
    {"aws-containers-task-definitions/tomcat_fargate.json", kAccepted},
    {"aws-containers-task-definitions/wildfly_ec2.json", kAccepted},
    {"aws-containers-task-definitions/wildfly_fargate.json", kAccepted},
    {"aws-docs-current/container-restart-policy-example--fargate-task-definition.json", kAccepted},
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST(TaskDefinitionCorpus, EveryFileHasItsExpectedOutcome) {
  if (!fs::is_directory(kCorpus)) GTEST_SKIP() << kCorpus << " is absent";
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(kCorpus)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty());

  std::set<std::string> seen;
  int accepted = 0;
  for (const auto& path : files) {
    const std::string file = fs::relative(path, kCorpus).generic_string();
    seen.insert(file);
    std::string text = read_file(path);
    if (file.starts_with("amazon-cloudwatch-container-insights/")) {
      text = fill_placeholders(text, file);
    }
    ParseOutcome outcome = parse_task_definition(text, corpus_policy());
    std::string problems = format_problems(outcome.problems);
    std::string summary;
    if (outcome.problems.empty()) {
      summary = "accepted";
      ++accepted;
    } else {
      summary = "refused: ";
      for (size_t i = 0; i < outcome.problems.size() && i < 3; ++i) {
        if (i > 0) summary += "; ";
        const Problem& problem = outcome.problems[i];
        summary += problem.path.empty() ? problem.reason : problem.path + ": " + problem.reason;
      }
      if (outcome.problems.size() > 3) {
        summary += "; (" + std::to_string(outcome.problems.size() - 3) + " more)";
      }
    }
    std::cout << "OUTCOME " << file << ": " << summary << "\n";

    auto expected = kExpected.find(file);
    if (expected == kExpected.end()) {
      ADD_FAILURE() << file << " has no expected outcome; it is " << summary;
      continue;
    }
    if (expected->second == kAccepted) {
      EXPECT_TRUE(outcome.problems.empty()) << file << " was refused:\n" << problems;
      EXPECT_TRUE(outcome.definition.has_value()) << file;
    } else {
      ASSERT_TRUE(expected->second.starts_with("refused:")) << expected->second;
      std::string needle = expected->second.substr(std::string_view("refused:").size());
      EXPECT_FALSE(outcome.problems.empty()) << file << " was accepted, expected " << needle;
      EXPECT_NE(problems.find(needle), std::string::npos)
          << file << ": expected a problem containing\n  " << needle << "\ngot:\n"
          << problems;
    }
  }
  for (const auto& [file, outcome] : kExpected) {
    EXPECT_TRUE(seen.contains(file)) << "expected outcome for a file that is not there: " << file;
  }
  std::cout << "OUTCOME total: " << files.size() << " files, " << accepted << " accepted\n";
}

}  // namespace
}  // namespace berth::agent
