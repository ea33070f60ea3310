// The conformance corpus, run: every Linux definition of
// ../shared/ecs-task-definitions that berth accepts is run on a berthd whose
// registry mirrors serve the test image under every image name the corpus
// uses (the public registries are not reachable here). Refusals are checked
// by tests/unit/taskdef_corpus_test.cpp. Each file's outcome is printed:
//   RUN <file>: RUNNING | STOPPED (<stop code>: <reason>)
#include "corpus/corpus.h"

#include <nlohmann/json.hpp>
#include <set>

#include "fixtures/integration_test.h"
#include "runtime/reference.h"

namespace berth::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
namespace corpus = agent::corpus;

struct CorpusFile {
  std::string name;
  std::string text;  // placeholders filled
};

std::vector<CorpusFile> accepted_files() {
  std::vector<CorpusFile> files;
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(corpus::kCorpus, ec)) {
    if (entry.path().extension() != ".json") continue;
    std::string name = fs::relative(entry.path(), corpus::kCorpus).generic_string();
    std::ifstream in(entry.path());
    std::string text((std::istreambuf_iterator<char>(in)), {});
    if (name.starts_with("amazon-cloudwatch-container-insights/")) {
      text = corpus::fill_placeholders(text, name);
    }
    if (agent::parse_task_definition(text, corpus::corpus_policy()).problems.empty()) {
      files.push_back({name, text});
    }
  }
  std::ranges::sort(files, {}, &CorpusFile::name);
  return files;
}

class CorpusTest : public IntegrationTest {};

TEST_F(CorpusTest, EveryAcceptedDefinitionRunsOrStopsWithAReason) {
  auto files = accepted_files();
  if (files.empty()) GTEST_SKIP() << "no corpus at " << corpus::kCorpus;

  // Serve the test image under every name the accepted files use.
  std::set<std::string> domains;
  std::set<std::pair<std::string, std::string>> pushed;
  for (const auto& file : files) {
    auto doc = json::parse(file.text);
    if (doc.contains("taskDefinition")) doc = doc["taskDefinition"];
    for (const auto& c : doc["containerDefinitions"]) {
      auto ref = runtime::parse_image_reference(c["image"].get<std::string>());
      ASSERT_TRUE(ref) << file.name << ": " << ref.error().message();
      domains.insert(ref->domain);
      if (ref->tag.empty() || !pushed.insert({ref->path, ref->tag}).second) continue;
      auto result = run_command({std::string(BERTH_SOURCE_DIR) + "/tests/fixtures/push-image.sh",
                                 env().image_dir() + "/oci", registry(), ref->path, ref->tag});
      ASSERT_EQ(result.exit_code, 0) << result.err;
    }
  }
  std::vector<std::string> flags;
  for (const auto& domain : domains) {
    flags.insert(flags.end(), {"--registry-mirror", domain + "=http://" + registry()});
  }
  for (const auto& path : corpus::corpus_policy().allowed_host_paths) {
    flags.insert(flags.end(), {"--allowed-host-path", path});
  }
  Berthd berthd(flags);
  ASSERT_TRUE(berthd.ok()) << berthd.log_text();

  // The node admits only what its CPU and memory hold (issue 5): the files
  // run in batches, each as large as the node takes; a batch is settled
  // and stopped when the next file is refused for resources.
  int running = 0;
  size_t settled_count = 0;
  size_t refused = 0;
  std::map<std::string, std::string> batch;
  auto settle_and_stop = [&] {
    // Every task settles: RUNNING with every essential container up, or
    // STOPPED with a stop code and reason. None is left half-started.
    for (const auto& [name, id] : batch) {
      json task;
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
      auto events = LineReader::spawn(berthd.ctl_argv({"-o", "json", "events", id}));
      while (true) {
        auto described = berthd.ctl({"-o", "json", "describe", id});
        ASSERT_EQ(described.exit_code, 0) << described.err;
        task = json::parse(described.out);
        bool settled = task["status"] == "STOPPED" ||
                       (task["status"] == "RUNNING" && task["desiredStatus"] == "RUNNING");
        if (settled || std::chrono::steady_clock::now() >= deadline) break;
        (void)events->next_line(std::chrono::seconds(1));
      }
      std::string status = task["status"];
      std::cout << "RUN " << name << ": " << status;
      if (status == "STOPPED") {
        std::cout << " (" << task["stopCode"].get<std::string>() << ": "
                  << task["stoppedReason"].get<std::string>() << ")";
        EXPECT_FALSE(task["stopCode"].get<std::string>().empty()) << name;
        EXPECT_FALSE(task["stoppedReason"].get<std::string>().empty()) << name;
      } else {
        ++running;
        EXPECT_EQ(status, "RUNNING") << name << " did not settle:\n" << task.dump(2);
      }
      std::cout << "\n";
    }
    for (const auto& [name, id] : batch) {
      auto stopped = berthd.ctl({"stop", id});
      EXPECT_EQ(stopped.exit_code, 0) << name << ": " << stopped.err;
    }
    settled_count += batch.size();
    batch.clear();
  };
  for (const auto& file : files) {
    std::string path = berthd.root() + "/../corpus.json";
    {
      std::ofstream out(path);
      out << file.text;
    }
    auto result = berthd.ctl({"run", "-f", path});
    if (result.exit_code != 0 && result.err.find("RESOURCE:") != std::string::npos &&
        !batch.empty()) {
      settle_and_stop();
      if (HasFatalFailure()) return;
      result = berthd.ctl({"run", "-f", path});  // the node is empty now
    }
    if (result.exit_code != 0 && (result.err.find("RESOURCE:") != std::string::npos ||
                                  result.err.find("more than this node's") != std::string::npos)) {
      // Larger than this node even when it runs nothing else (e.g. 10 vCPU
      // on a 2-CPU machine): refused with the reason, nothing made.
      std::cout << "RUN " << file.name << ": refused (" << result.err.substr(0, 200) << ")\n";
      ++refused;
      continue;
    }
    ASSERT_EQ(result.exit_code, 0) << file.name << ": " << result.err;
    batch[file.name] = result.out.substr(0, result.out.find('\n'));
  }
  settle_and_stop();
  if (HasFatalFailure()) return;
  std::cout << "RUN summary: " << files.size() << " accepted definitions, " << running
            << " RUNNING, " << settled_count - running << " STOPPED, " << refused
            << " refused as larger than the node\n";
  EXPECT_EQ(settled_count + refused, files.size());
  EXPECT_GT(running, 0);
  EXPECT_EQ(berthd.leftovers(), "") << berthd.log_text();
}

}  // namespace
}  // namespace berth::testing
