// berthctl run: a task definition (-f), or an image as a one-container
// task, in the background (-d: prints the task id) or in the foreground
// (its output streamed, berthctl's exit code the container's).
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "berth/v1/berth.grpc.pb.h"

namespace berthctl {

int run_task_file(berth::v1::Berth::Stub& stub, const std::string& file, const std::string& name,
                  bool json);

// `run IMAGE -- CMD`.
struct ContainerRun {
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> env;  // KEY=VALUE
  std::optional<std::string> entrypoint;
  std::string working_dir;
  std::string user;
  std::string name;
  unsigned stop_timeout = 0;
  // The task's networkMode; "" for the node's default.
  std::string network;
  bool detach = false;
  bool remove = false;        // foreground: remove the task once it stopped
  bool pull_missing = false;  // foreground: pull an image that is not present
  bool interactive = false;   // -i: the container's stdin stays open (ECS interactive)
  bool tty = false;           // -t: it gets a terminal (ECS pseudoTerminal)
};
// The task definition for `run`: family and container named after the
// image (or --name). An error names the flag at fault.
std::expected<std::string, std::string> run_definition(const ContainerRun& run);
int run_detached(berth::v1::Berth::Stub& stub, const ContainerRun& run, bool json);
// Exit code: the container's, or 125 when berthctl, berthd or the start failed.
int run_foreground(berth::v1::Berth::Stub& stub, const ContainerRun& run);

}  // namespace berthctl
