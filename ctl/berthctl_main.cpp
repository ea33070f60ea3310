// berthctl: berth's command line, a client of berthd's local API.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "berth/v1/berth.grpc.pb.h"
#include "ctl/cluster.h"
#include "ctl/exec.h"
#include "ctl/run.h"
#include "ctl/stats.h"
#include "ctl/tasks.h"

namespace {

using berthctl::cancel_on_signal;
using berthctl::report;

std::string human_bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) value /= 1024, ++unit;
  char buf[32];
  std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return buf;
}

std::string short_digest(const std::string& digest) {
  auto colon = digest.find(':');
  return colon == std::string::npos ? digest : digest.substr(colon + 1, 12);
}

std::string age(int64_t unix_seconds) {
  if (unix_seconds <= 0) return "-";
  int64_t seconds = std::time(nullptr) - unix_seconds;
  if (seconds < 60) return std::to_string(seconds) + "s";
  if (seconds < 3600) return std::to_string(seconds / 60) + "m";
  if (seconds < 86400) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

nlohmann::json image_json(const berth::v1::Image& image) {
  return {{"name", image.name()},
          {"digest", image.digest()},
          {"mediaType", image.media_type()},
          {"size", image.size()},
          {"created", image.created_unix()}};
}

int image_pull(berth::v1::Berth::Stub& stub, const std::string& ref, bool json) {
  grpc::ClientContext ctx;
  cancel_on_signal(&ctx);
  berth::v1::PullImageRequest request;
  request.set_reference(ref);
  auto stream = stub.PullImage(&ctx, request);
  berth::v1::PullImageProgress progress;
  berth::v1::Image image;
  bool tty = isatty(STDERR_FILENO) && !json;
  while (stream->Read(&progress)) {
    if (progress.has_image()) {
      image = progress.image();
    } else if (tty) {
      std::fprintf(stderr, "\r%s: %s / %s   ", ref.c_str(),
                   human_bytes(progress.done_bytes()).c_str(),
                   human_bytes(progress.total_bytes()).c_str());
    }
  }
  if (tty) std::fprintf(stderr, "\n");
  auto status = stream->Finish();
  if (!status.ok()) return report(status, "pull '" + ref + "'");
  if (json)
    std::cout << image_json(image).dump(2) << "\n";
  else
    std::cout << image.name() << " " << image.digest() << "\n";
  return 0;
}

int image_import(berth::v1::Berth::Stub& stub, const std::string& file, const std::string& name,
                 bool json) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::cerr << "berthctl: import: cannot open '" << file << "': " << std::strerror(errno) << "\n";
    return 1;
  }
  grpc::ClientContext ctx;
  berth::v1::ImportImageResponse response;
  auto stream = stub.ImportImage(&ctx, &response);
  std::vector<char> buf(1 << 20);
  bool first = true;
  do {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    berth::v1::ImportImageChunk chunk;
    if (first) chunk.set_name(name);
    first = false;
    chunk.set_data(buf.data(), static_cast<size_t>(in.gcount()));
    if (!stream->Write(chunk)) break;
  } while (in);
  stream->WritesDone();
  auto status = stream->Finish();
  if (!status.ok()) return report(status, "import '" + file + "'");
  nlohmann::json out = nlohmann::json::array();
  for (const auto& image : response.images()) {
    if (json)
      out.push_back(image_json(image));
    else
      std::cout << image.name() << " " << image.digest() << "\n";
  }
  if (json) std::cout << out.dump(2) << "\n";
  return 0;
}

int image_ls(berth::v1::Berth::Stub& stub, bool json) {
  grpc::ClientContext ctx;
  berth::v1::ListImagesResponse response;
  auto status = stub.ListImages(&ctx, {}, &response);
  if (!status.ok()) return report(status, "list images");
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& image : response.images()) out.push_back(image_json(image));
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::printf("%-60s %-14s %-10s %s\n", "IMAGE", "DIGEST", "SIZE", "AGE");
  for (const auto& image : response.images()) {
    std::printf("%-60s %-14s %-10s %s\n", image.name().c_str(),
                short_digest(image.digest()).c_str(), human_bytes(image.size()).c_str(),
                age(image.created_unix()).c_str());
  }
  return 0;
}

int image_rm(berth::v1::Berth::Stub& stub, const std::vector<std::string>& refs) {
  int rc = 0;
  for (const auto& ref : refs) {
    grpc::ClientContext ctx;
    berth::v1::RemoveImageRequest request;
    request.set_reference(ref);
    berth::v1::RemoveImageResponse response;
    auto status = stub.RemoveImage(&ctx, request, &response);
    if (!status.ok())
      rc = report(status, "remove '" + ref + "'");
    else
      std::cout << ref << "\n";
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  // Signals are taken by a thread (see cancel_on_signal), never by surprise.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  // Exec sessions wait for window changes, and SIGUSR2 ends that wait.
  sigaddset(&signals, SIGWINCH);
  sigaddset(&signals, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  CLI::App app{"berthctl: drive the berth node agent"};
  app.require_subcommand(1);
  // Global flags after the subcommand too (`berthctl describe web -o json`),
  // as kubectl takes them: every subcommand inherits this.
  app.fallthrough();
  const char* env_socket = std::getenv("BERTH_SOCKET");
  std::string socket = env_socket && *env_socket ? env_socket : "/run/berth/berth.sock";
  app.add_option("--socket", socket, "berthd's API socket (or BERTH_SOCKET)");
  std::string output;
  app.add_option("-o,--output", output, "output format: json")->check(CLI::IsMember({"", "json"}));

  auto* version = app.add_subcommand("version", "show berth and containerd versions");
  auto* node = app.add_subcommand("node", "show this node");
  node->require_subcommand(1);
  auto* node_info = node->add_subcommand("info", "cgroup layout, CPU and memory for tasks");
  auto* image = app.add_subcommand("image", "manage images");
  image->require_subcommand(1);
  std::string ref;
  auto* pull = image->add_subcommand("pull", "pull an image from a registry");
  pull->add_option("REF", ref, "image reference")->required();
  std::string file;
  std::string import_name;
  auto* import = image->add_subcommand("import", "import an OCI image-layout tarball");
  import->add_option("FILE", file, "tarball")->required()->check(CLI::ExistingFile);
  import->add_option("--name", import_name, "name for an image whose layout names none");
  auto* ls = image->add_subcommand("ls", "list images");
  std::vector<std::string> refs;
  auto* rm = image->add_subcommand("rm", "remove images");
  rm->add_option("REF", refs, "image references")->required();

  auto* run_cmd = app.add_subcommand(
      "run",
      "run a task definition (-f), a container in the foreground (IMAGE -- CMD), or a "
      "one-container task (-d IMAGE -- CMD)");
  std::string task_file;
  run_cmd->add_option("-f,--file", task_file, "ECS task definition JSON ('-' for stdin)");
  std::string run_image;
  std::vector<std::string> command;
  std::vector<std::string> env;
  std::string entrypoint;
  bool remove = false, pull_missing = false, detach = false, run_stdin = false, run_tty = false;
  std::string name, workdir, user, network;
  unsigned stop_timeout = 0;
  run_cmd->add_flag("--rm", remove, "remove the task (its record and logs) when it exits");
  run_cmd->add_flag("--pull", pull_missing, "pull the image if it is not present");
  run_cmd->add_flag("-d,--detach", detach,
                    "run IMAGE as a task of one essential container and print the task id");
  run_cmd->add_flag("-i,--interactive", run_stdin,
                    "keep the container's stdin open (and pass ours)");
  run_cmd->add_flag("-t,--tty", run_tty, "give the container a terminal");
  run_cmd->add_option("--name", name, "task name (and, in the foreground, the hostname)");
  run_cmd->add_option("--network", network,
                      "networkMode: bridge, awsvpc, host or none (default: the node's)");
  auto* entrypoint_opt =
      run_cmd->add_option("--entrypoint", entrypoint, "override the image's entrypoint");
  run_cmd->add_option("-e,--env", env, "KEY=VALUE (repeatable)")->allow_extra_args(false);
  run_cmd->add_option("-w,--workdir", workdir, "working directory");
  run_cmd->add_option("-u,--user", user, "user[:group]");
  run_cmd->add_option("--stop-timeout", stop_timeout,
                      "seconds between the stop signal and SIGKILL when it is stopped");
  run_cmd->add_option("IMAGE", run_image, "image");
  run_cmd->add_option("CMD", command, "command and arguments (after --)");
  run_cmd->positionals_at_end();

  bool all = false;
  auto* ps = app.add_subcommand("ps", "list tasks");
  ps->add_flag("-a,--all", all, "include stopped tasks");
  std::string task;
  auto* describe = app.add_subcommand("describe", "show a task and its containers");
  describe->add_option("TASK", task, "task id, id prefix or name")->required();
  bool no_wait = false;
  auto* stop =
      app.add_subcommand("stop", "stop a task (its stop signal, then SIGKILL after stopTimeout)");
  stop->add_option("TASK", task, "task id, id prefix or name")->required();
  stop->add_flag("--no-wait", no_wait, "return at once instead of when the task has stopped");
  auto* rm_task = app.add_subcommand("rm", "remove a stopped task's status and logs");
  rm_task->add_option("TASK", task, "task id, id prefix or name")->required();
  bool follow = false;
  std::string since, container;
  auto* logs = app.add_subcommand("logs", "show a task's container output");
  logs->add_flag("-f,--follow", follow, "keep following until the task stops");
  logs->add_option("--since", since, "only output newer than 10s, 5m, 2h or Unix seconds");
  logs->add_option("TASK", task, "task id, id prefix or name")->required();
  logs->add_option("CONTAINER", container, "one container of the task");
  auto* events_cmd = app.add_subcommand("events", "stream task state changes");
  events_cmd->add_option("TASK", task, "only this task");

  std::vector<std::string> stats_tasks;
  bool no_stream = false;
  auto* stats_cmd = app.add_subcommand("stats", "show what tasks' containers use, live");
  stats_cmd->add_flag("--no-stream", no_stream, "print one sample and exit");
  stats_cmd->add_option("TASK", stats_tasks, "only these tasks (ids, id prefixes or names)");
  berthctl::ExecOptions exec_options;
  std::vector<std::string> exec_args;
  auto* exec_cmd = app.add_subcommand(
      "exec", "run a command in a running task's container: TASK [CONTAINER] -- CMD...");
  exec_cmd->add_flag("-i,--interactive", exec_options.interactive, "pass stdin to the command");
  exec_cmd->add_flag("-t,--tty", exec_options.tty, "give the command a terminal");
  exec_cmd->add_option("-u,--user", exec_options.user, "user[:group], names or ids");
  exec_cmd->add_option("-w,--workdir", exec_options.workdir, "working directory (absolute)");
  exec_cmd->add_option("-e,--env", exec_options.env, "KEY=VALUE (repeatable)")
      ->allow_extra_args(false);
  exec_cmd->add_option("ARGS", exec_args, "TASK [CONTAINER] -- CMD...")->required();
  exec_cmd->positionals_at_end();

  berthctl::ExecOptions attach_options;
  attach_options.kind = berthctl::SessionKind::kAttach;
  std::string detach_keys = "ctrl-p,ctrl-q";
  auto* attach_cmd = app.add_subcommand(
      "attach", "attach to a running container's main process: TASK [CONTAINER]");
  attach_cmd->add_option("--detach-keys", detach_keys, "the keys that detach (ctrl-p,ctrl-q)");
  attach_cmd->add_flag("--no-stdin", attach_options.no_stdin, "do not pass stdin on");
  attach_cmd->add_option("TASK", attach_options.task, "id, id prefix or name")->required();
  attach_cmd->add_option("CONTAINER", attach_options.container, "for a task of several");

  berthctl::ExecOptions debug_options;
  debug_options.kind = berthctl::SessionKind::kDebug;
  std::vector<std::string> debug_args;
  std::string debug_target;
  auto* debug_cmd = app.add_subcommand(
      "debug", "run an ephemeral container in a task's namespaces: TASK -- CMD...");
  debug_cmd->add_option("--target", debug_target, "the container whose namespaces it joins");
  debug_cmd->add_option("--image", debug_options.image, "its image (default: the target's)");
  debug_cmd->add_flag("-i,--interactive", debug_options.interactive, "pass stdin on");
  debug_cmd->add_flag("-t,--tty", debug_options.tty, "give it a terminal");
  debug_cmd->add_option("-u,--user", debug_options.user, "user[:group], names or ids");
  debug_cmd->add_option("-w,--workdir", debug_options.workdir, "working directory (absolute)");
  debug_cmd->add_option("-e,--env", debug_options.env, "KEY=VALUE (repeatable)")
      ->allow_extra_args(false);
  debug_cmd->add_option("ARGS", debug_args, "TASK -- CMD...")->required();
  debug_cmd->positionals_at_end();

  berthctl::ClusterCommands cluster(app);

  CLI11_PARSE(app, argc, argv);
  bool json = output == "json";
  if (cluster.selected()) return cluster.run(json);

  auto channel = grpc::CreateChannel("unix://" + socket, grpc::InsecureChannelCredentials());
  auto stub = berth::v1::Berth::NewStub(channel);

  if (*version) {
    grpc::ClientContext ctx;
    berth::v1::VersionResponse response;
    auto status = stub->Version(&ctx, {}, &response);
    if (!status.ok()) return report(status, "version");
    if (json) {
      std::cout << nlohmann::json{{"berth", response.berth_version()},
                                  {"containerd", response.containerd_version()},
                                  {"namespace", response.namespace_()}}
                       .dump(2)
                << "\n";
    } else {
      std::cout << "berth " << response.berth_version() << "\ncontainerd "
                << response.containerd_version() << " (" << response.containerd_revision()
                << ")\nnamespace " << response.namespace_() << "\n";
    }
    return 0;
  }
  if (*node_info) {
    grpc::ClientContext ctx;
    berth::v1::NodeInfoResponse r;
    auto status = stub->NodeInfo(&ctx, {}, &r);
    if (!status.ok()) return report(status, "node info");
    if (json) {
      std::cout << nlohmann::json{{"cgroupLayout", r.cgroup_layout()},
                                  {"cgroupDriver", r.cgroup_driver()},
                                  {"cpu",
                                   {{"total", r.cpu_total()},
                                    {"reserved", r.cpu_reserved()},
                                    {"registered", r.cpu_registered()},
                                    {"remaining", r.cpu_remaining()}}},
                                  {"memory",
                                   {{"total", r.memory_total()},
                                    {"reserved", r.memory_reserved()},
                                    {"registered", r.memory_registered()},
                                    {"remaining", r.memory_remaining()}}},
                                  {"runningTasks", r.running_tasks()},
                                  {"metricsAddress", r.metrics_address()},
                                  {"introspectionAddress", r.introspection_address()},
                                  {"defaultNetworkMode", r.default_network_mode()},
                                  {"shuttingDown", r.shutting_down()}}
                       .dump(2)
                << "\n";
    } else {
      auto mib = [](uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; };
      std::cout << "cgroups:  " << r.cgroup_layout() << ", driver " << r.cgroup_driver() << "\n"
                << "cpu:      " << r.cpu_remaining() << " of " << r.cpu_registered()
                << " units left (total " << r.cpu_total() << ", reserved " << r.cpu_reserved()
                << ")\n"
                << "memory:   " << mib(r.memory_remaining()) << " of " << mib(r.memory_registered())
                << " left (total " << mib(r.memory_total()) << ", reserved "
                << mib(r.memory_reserved()) << ")\n"
                << "tasks:    " << r.running_tasks() << " not stopped\n"
                << "network:  " << r.default_network_mode() << " by default\n";
      if (r.shutting_down()) std::cout << "state:    shutting down (no new tasks)\n";
      if (!r.metrics_address().empty()) {
        std::cout << "metrics:  http://" << r.metrics_address() << "/metrics\n";
      }
      if (!r.introspection_address().empty()) {
        std::cout << "introspection: http://" << r.introspection_address() << "/v1/metadata\n";
      }
    }
    return 0;
  }
  if (*pull) return image_pull(*stub, ref, json);
  if (*import) return image_import(*stub, file, import_name, json);
  if (*ls) return image_ls(*stub, json);
  if (*rm) return image_rm(*stub, refs);
  if (*ps) return berthctl::list_tasks(*stub, all, json);
  if (*describe) return berthctl::describe_task(*stub, task, json);
  if (*stop) return berthctl::stop_task(*stub, task, !no_wait, json);
  if (*rm_task) return berthctl::remove_task(*stub, task);
  if (*logs) return berthctl::task_logs(*stub, task, container, follow, since, json);
  if (*events_cmd) return berthctl::watch_events(*stub, task, json);
  if (*stats_cmd) return berthctl::task_stats(*stub, stats_tasks, no_stream, json);
  if (*exec_cmd) {
    std::string problem;
    if (!berthctl::split_exec_arguments(exec_args, exec_options, problem)) {
      std::cerr << "berthctl: exec: " << problem << "\n";
      return 125;  // docker exec: it could not run
    }
    return berthctl::exec_in_task(*stub, exec_options);
  }
  if (*attach_cmd) {
    std::string problem;
    if (!berthctl::parse_detach_keys(detach_keys, attach_options.detach_keys, problem)) {
      std::cerr << "berthctl: attach: " << problem << "\n";
      return 125;
    }
    return berthctl::exec_in_task(*stub, attach_options);
  }
  if (*debug_cmd) {
    std::string problem;
    if (!berthctl::split_exec_arguments(debug_args, debug_options, problem)) {
      std::cerr << "berthctl: debug: " << problem << "\n";
      return 125;
    }
    if (!debug_target.empty() && !debug_options.container.empty() &&
        debug_target != debug_options.container) {
      std::cerr << "berthctl: debug: give the target once, as --target or after TASK\n";
      return 125;
    }
    if (!debug_target.empty()) debug_options.container = debug_target;
    // Without -i or -t, a terminal's user gets a shell's session (kubectl
    // debug -it), a script or a pipe a plain one.
    if (!debug_options.interactive && !debug_options.tty && ::isatty(STDIN_FILENO) &&
        ::isatty(STDOUT_FILENO)) {
      debug_options.interactive = debug_options.tty = true;
    }
    return berthctl::exec_in_task(*stub, debug_options);
  }
  if (*run_cmd && !task_file.empty()) {
    if (!run_image.empty()) {
      std::cerr << "berthctl: run: give either -f FILE or IMAGE, not both\n";
      return 125;  // docker run: it could not run
    }
    return berthctl::run_task_file(*stub, task_file, name, json);
  }
  if (*run_cmd) {
    if (run_image.empty()) {
      std::cerr << "berthctl: run: IMAGE or -f FILE is required\n";
      return 125;  // docker run: it could not run
    }
    // CLI11 2.1 keeps the "--" that separates the container's command.
    if (!command.empty() && command.front() == "--") command.erase(command.begin());
    if (detach && remove) {
      std::cerr << "berthctl: run: --rm and -d do not go together (berthctl rm TASK removes a "
                   "stopped task)\n";
      return 125;  // docker run: it could not run
    }
    berthctl::ContainerRun container_run{.image = run_image,
                                         .command = command,
                                         .env = env,
                                         .entrypoint = std::nullopt,
                                         .working_dir = workdir,
                                         .user = user,
                                         .name = name,
                                         .stop_timeout = stop_timeout,
                                         .network = network,
                                         .detach = detach,
                                         .remove = remove,
                                         .pull_missing = pull_missing,
                                         .interactive = run_stdin,
                                         .tty = run_tty};
    if (entrypoint_opt->count() > 0) container_run.entrypoint = entrypoint;
    if (detach) return berthctl::run_detached(*stub, container_run, json);
    return berthctl::run_foreground(*stub, container_run);
  }
  return 0;
}
