#include "ctl/run.h"

#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ctl/exec.h"
#include "ctl/tasks.h"

namespace berthctl {

namespace {

// Exit status for errors of berthctl or berthd themselves (as `docker run`).
constexpr int kRunFailed = 125;

int submit_task(berth::v1::Berth::Stub& stub, const std::string& definition,
                const std::string& name, bool json, const std::string& what) {
  berth::v1::RunTaskRequest request;
  request.set_definition_json(definition);
  request.set_name(name);
  berth::v1::RunTaskResponse response;
  grpc::ClientContext ctx;
  auto status = stub.RunTask(&ctx, request, &response);
  if (!status.ok()) {
    report(status, what);
    return kRunFailed;
  }
  if (json) {
    std::cout << nlohmann::json{{"taskId", response.task_id()}}.dump(2) << "\n";
  } else {
    std::cout << response.task_id() << "\n";
  }
  return 0;
}

// ECS names: letters, digits, '-' and '_'.
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '_') return false;
  }
  return true;
}

}  // namespace

int run_task_file(berth::v1::Berth::Stub& stub, const std::string& file, const std::string& name,
                  bool json) {
  std::stringstream text;
  if (file == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(file);
    if (!in) {
      std::cerr << "berthctl: run -f '" << file << "': cannot read the file\n";
      return kRunFailed;
    }
    text << in.rdbuf();
  }
  return submit_task(stub, text.str(), name, json, "run -f '" + file + "'");
}

std::expected<std::string, std::string> run_definition(const ContainerRun& run) {
  // ECS names: letters, digits, '-' and '_'.
  auto ecs_name = [](std::string_view text) {
    std::string out;
    for (char c : text) {
      bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
      out += ok ? c : '-';
    }
    return out.substr(0, 255);
  };
  std::string base = run.name;
  if (base.empty()) {
    // "registry:5000/library/busybox:1.36@sha256:..." -> "busybox"
    std::string_view image = run.image;
    image = image.substr(0, image.find('@'));
    if (auto slash = image.rfind('/'); slash != std::string_view::npos)
      image = image.substr(slash + 1);
    image = image.substr(0, image.find(':'));
    base = image.empty() ? "run" : std::string(image);
  }
  nlohmann::json container = {{"name", ecs_name(base)}, {"image", run.image}, {"essential", true}};
  if (!run.command.empty()) container["command"] = run.command;
  if (run.entrypoint) {
    if (run.entrypoint->empty())
      return std::unexpected("--entrypoint: an empty entrypoint cannot be expressed in a task");
    container["entryPoint"] = nlohmann::json::array({*run.entrypoint});
  }
  if (!run.env.empty()) {
    auto& environment = container["environment"] = nlohmann::json::array();
    for (const auto& kv : run.env) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        return std::unexpected("--env '" + kv + "': expected KEY=VALUE");
      environment.push_back({{"name", kv.substr(0, eq)}, {"value", kv.substr(eq + 1)}});
    }
  }
  if (!run.working_dir.empty()) container["workingDirectory"] = run.working_dir;
  if (!run.user.empty()) container["user"] = run.user;
  if (run.stop_timeout > 0) container["stopTimeout"] = run.stop_timeout;
  if (run.interactive) container["interactive"] = true;
  if (run.tty) container["pseudoTerminal"] = true;
  nlohmann::json definition = {{"family", ecs_name(base)},
                               {"containerDefinitions", nlohmann::json::array({container})}};
  const std::string& mode = run.network;
  if (!mode.empty()) definition["networkMode"] = mode;
  // A foreground container is named after itself, as berth always did
  // (an awsvpc task's hostname comes from its address).
  if (!run.detach && !run.name.empty() && !mode.empty() && mode != "awsvpc") {
    container["hostname"] = run.name;
  }
  definition["containerDefinitions"][0] = container;
  return definition.dump();
}

int run_detached(berth::v1::Berth::Stub& stub, const ContainerRun& run, bool json) {
  auto definition = run_definition(run);
  if (!definition) {
    std::cerr << "berthctl: run: " << definition.error() << "\n";
    return kRunFailed;
  }
  return submit_task(stub, *definition, run.name, json, "run '" + run.image + "'");
}

int run_foreground(berth::v1::Berth::Stub& stub, const ContainerRun& run) {
  const std::string what = "run '" + run.image + "'";
  if (!run.name.empty() && !valid_name(run.name)) {
    std::cerr << "berthctl: run: --name '" << run.name
              << "' is invalid: use letters, digits, '-' and '_'\n";
    return kRunFailed;
  }
  // The node's default network, as a detached run gets: named here, so
  // that the container can be named after itself where the mode allows.
  ContainerRun with_network = run;
  if (with_network.network.empty()) {
    grpc::ClientContext ctx;
    berth::v1::NodeInfoResponse node;
    auto status = stub.NodeInfo(&ctx, {}, &node);
    if (!status.ok()) {
      report(status, what);
      return kRunFailed;
    }
    with_network.network = node.default_network_mode();
  }
  auto definition = run_definition(with_network);
  if (!definition) {
    std::cerr << "berthctl: run: " << definition.error() << "\n";
    return kRunFailed;
  }
  berth::v1::RunTaskRequest request;
  request.set_definition_json(*definition);
  request.set_name(run.name);
  request.set_remove_on_exit(run.remove);
  request.set_require_images(!run.pull_missing);
  if (run.interactive || run.tty) {
    // docker run -it: berthd runs the task within an attach call that
    // follows it from its start (its stdin, its terminal, Ctrl-P Ctrl-Q).
    ExecOptions attach;
    attach.kind = SessionKind::kAttach;
    attach.task = run.name.empty() ? run.image : run.name;
    attach.run = request;
    return exec_in_task(stub, attach);
  }
  grpc::ClientContext ctx;
  cancel_on_signal(&ctx);
  auto stream = stub.RunAttached(&ctx, request);
  berth::v1::AttachOutput out;
  std::optional<int> exit_code;
  while (stream->Read(&out)) {
    switch (out.kind_case()) {
      case berth::v1::AttachOutput::kStdout:
        std::fwrite(out.stdout().data(), 1, out.stdout().size(), stdout);
        std::fflush(stdout);
        break;
      case berth::v1::AttachOutput::kStderr:
        std::fwrite(out.stderr().data(), 1, out.stderr().size(), stderr);
        break;
      case berth::v1::AttachOutput::kExitCode:
        exit_code = out.exit_code();
        break;
      default:
        break;
    }
  }
  auto status = stream->Finish();
  if (!status.ok()) {
    report(status, what);
    return kRunFailed;
  }
  if (!exit_code) {
    std::cerr << "berthctl: " << what << ": no exit status received\n";
    return kRunFailed;
  }
  return *exit_code < 0 ? kRunFailed : *exit_code;
}

}  // namespace berthctl
