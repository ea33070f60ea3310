// `berthctl cluster ...`: the control side of a fleet. It talks to etcd,
// not to a berthd: nodes, placement, desired tasks and their status
// (docs/control-plane.md).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace berthctl {

class ClusterCommands {
 public:
  // Adds `cluster` and its subcommands to `app`.
  explicit ClusterCommands(CLI::App& app);
  bool selected() const { return cluster_->parsed(); }
  int run(bool json);

 private:
  CLI::App* cluster_ = nullptr;
  CLI::App* nodes_ = nullptr;
  CLI::App* run_ = nullptr;
  CLI::App* ps_ = nullptr;
  CLI::App* describe_ = nullptr;
  CLI::App* stop_ = nullptr;
  CLI::App* rm_ = nullptr;
  CLI::App* drain_ = nullptr;
  CLI::App* uncordon_ = nullptr;
  CLI::App* token_create_ = nullptr;
  std::string ttl_ = "1h";

  std::string endpoints_;
  std::string ca_, cert_, key_, user_;
  std::string cluster_name_;
  std::string file_;
  std::string name_;
  std::string node_;
  std::string task_;
};

}  // namespace berthctl
