// berthd: the berth node agent daemon.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>

#include "agent/api/listener.h"
#include "agent/api/server.h"
#include "agent/config/command_line.h"
#include "agent/config/config.h"
#include "agent/engine/engine.h"
#include "agent/engine/resources/cgroup.h"
#include "agent/engine/resources/container.h"
#include "agent/engine/resources/image.h"
#include "agent/engine/resources/network.h"
#include "agent/engine/resources/sandbox.h"
#include "agent/failpoints/failpoints.h"
#include "agent/metadata/endpoint.h"
#include "agent/metadata/introspection.h"
#include "agent/metrics/agent_metrics.h"
#include "agent/network/task_network.h"
#include "agent/shutdown/node_shutdown.h"
#include "agent/state/store.h"
#include "agent/static_tasks/static_tasks.h"
#include "agent/stats/scrape.h"
#include "agent/stats/usage.h"
#include "common/clock.h"
#include "common/http/server.h"
#include "controlplane/etcd/client.h"
#include "controlplane/join.h"
#include "controlplane/node/node_agent.h"
#include "runtime/debug_container.h"
#include "runtime/exec_process.h"
#include "runtime/manifest.h"
#include "runtime/sandbox.h"
#include "runtime/seccomp.h"
#include "systemd/cgroup_driver.h"
#include "systemd/journal.h"
#include "systemd/notify.h"
#include "systemd/shutdown_inhibitor.h"
#include "systemd/watchdog.h"

namespace {

constexpr const char* kVersion = "0.1.0";

std::string beside_self(const std::string& name) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? name : (self.parent_path() / name).string();
}

// "127.0.0.1:0" with the port the listener got.
std::string with_port(const std::string& address, uint16_t port) {
  return address.substr(0, address.rfind(':') + 1) + std::to_string(port);
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

// The etcd client of a node in a fleet, with its credentials: --etcd-user,
// or the identity a join token gave. No call is made but a join's (etcd may
// be away when berthd starts); bad options fail here. Sets the node's name
// when the identity names it.
berth::Result<std::unique_ptr<berth::etcd::Client>> fleet_client(berth::agent::AgentConfig& config,
                                                                 int64_t now_ms) {
  using namespace berth;
  etcd::Options options;
  options.endpoints = config.etcd_endpoints;
  options.ca_file = config.etcd_ca_file;
  options.cert_file = config.etcd_cert_file;
  options.key_file = config.etcd_key_file;
  if (auto colon = config.etcd_user.find(':'); colon != std::string::npos) {
    options.user = config.etcd_user.substr(0, colon);
    options.password = config.etcd_user.substr(colon + 1);
  } else {
    auto identity = BERTH_TRY(
        controlplane::node_identity(options, config.cluster, config.node_name, config.join_token,
                                    config.root + "/etcd-identity.json", now_ms));
    if (identity) {
      options.user = identity->user;
      options.password = identity->password;
      config.node_name = identity->node;
    }
  }
  if (config.node_name.empty()) config.node_name = host_name();
  return etcd::Client::create(std::move(options));
}

// Takes logind's shutdown lock for the engine's tasks (see
// agent/shutdown/node_shutdown.h); null, having said why, when it cannot.
std::unique_ptr<berth::systemd::ShutdownInhibitor> hold_shutdown_lock(
    berth::agent::Engine& engine, berth::systemd::ServiceNotifier* notifier, int64_t grace_seconds,
    const std::function<void()>& node_changed) {
  using namespace berth;
  // Read on the inhibitor's thread, cut to logind's limit below.
  auto grace_ms = std::make_shared<std::atomic<int64_t>>(grace_seconds * 1000);
  systemd::ShutdownInhibitor::Hooks hooks;
  hooks.shutting_down = [&engine, notifier, grace_ms, node_changed] {
    std::chrono::milliseconds grace(grace_ms->load());
    spdlog::info("the node is shutting down: stopping every task within {} ms", grace.count());
    if (notifier) (void)notifier->status("the node is shutting down: stopping every task");
    auto outcome = agent::stop_tasks_for_shutdown(engine, grace, node_changed);
    spdlog::info("node shutdown: {} task(s) asked to stop, {} not stopped in time ({} ms)",
                 outcome.asked, outcome.left, outcome.took.count());
  };
  hooks.cancelled = [&engine, node_changed](const Status& relocked) {
    spdlog::info("the node's shutdown was called off: taking tasks again");
    if (!relocked)
      spdlog::warn("no graceful node shutdown from now: {}", relocked.error().message());
    engine.end_shutdown();
    node_changed();
  };
  auto taken = systemd::ShutdownInhibitor::take("berthd", "stopping tasks before the node goes",
                                                std::move(hooks));
  if (!taken) {
    spdlog::warn("no graceful node shutdown: {}", taken.error().message());
    return nullptr;
  }
  auto max_delay = std::chrono::duration_cast<std::chrono::milliseconds>((*taken)->max_delay());
  if (max_delay.count() < grace_ms->load()) {
    // A second's margin, so the tasks are down before logind gives up.
    auto cut =
        max_delay > std::chrono::seconds(2) ? max_delay - std::chrono::seconds(1) : max_delay / 2;
    spdlog::warn(
        "logind waits at most {} ms for a shutdown lock (InhibitDelayMaxSec), less than "
        "shutdown_grace_seconds ({} s): tasks get {} ms; raise it in /etc/systemd/logind.conf.d/",
        max_delay.count(), grace_seconds, cut.count());
    grace_ms->store(cut.count());
  }
  spdlog::info("systemd: holding a logind shutdown lock ({} ms for tasks)", grace_ms->load());
  return std::move(*taken);
}

int run(berth::agent::AgentConfig config) {
  using namespace berth;
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  if (config.logger_path.empty()) config.logger_path = beside_self("berth-logger");
  spdlog::debug(
      "configuration: containerd '{}', namespace '{}', root '{}', state '{}', socket '{}', "
      "{} insecure registries, {} mirrors",
      config.containerd_address, config.ns, config.root, config.state, config.socket,
      config.insecure_registries.size(), config.registry_mirrors.size());
  if (::access(config.logger_path.c_str(), X_OK) != 0) {
    spdlog::critical("berth-logger '{}' is not an executable file", config.logger_path);
    return 1;
  }
  // The cgroup driver, checked before anything is made.
  bool use_systemd_cgroups =
      config.cgroup_driver == "systemd" || (config.cgroup_driver.empty() && systemd::booted());
  if (config.cgroup_driver == "systemd" && !systemd::booted()) {
    spdlog::critical(
        "cgroup-driver: systemd asked for, but systemd is not this host's init system (no "
        "/run/systemd/system); use --cgroup-driver cgroupfs");
    return 2;
  }
  if (auto prefix = systemd::slice_prefix(config.ns); use_systemd_cgroups && !prefix) {
    spdlog::critical("cgroup-driver systemd: {}", prefix.error().message());
    return 2;
  }
  std::string armed;
  auto failpoints = agent::failpoints_from_environment(&armed);
  if (failpoints) spdlog::warn("failpoints armed: {}", armed);

  agent::Paths paths(config.root, config.state);
  std::error_code ec;
  for (const auto& dir : {config.root, config.state, paths.log_dir(),
                          std::filesystem::path(config.socket).parent_path().string()}) {
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      spdlog::critical("create directory '{}': {}", dir, ec.message());
      return 1;
    }
  }
  ::chmod(config.root.c_str(), 0700);

  std::unique_ptr<etcd::Client> etcd_client;
  if (!config.etcd_endpoints.empty()) {
    SystemClock wall;
    auto client = fleet_client(config, wall.wall_ms());
    if (!client) {
      spdlog::critical("{}", client.error().message());
      return 1;
    }
    etcd_client = std::move(*client);
  }
  auto registry = config.registry_config();
  if (!registry) {
    spdlog::critical("{}", registry.error().message());
    return 1;
  }
  auto containerd =
      runtime::Containerd::connect(config.containerd_address, config.ns, std::chrono::seconds(10));
  if (!containerd) {
    spdlog::critical("{}", containerd.error().message());
    return 1;
  }
  spdlog::info("connected to containerd {} at '{}', namespace '{}'",
               (*containerd)->version().version, config.containerd_address, config.ns);

  runtime::ImageService images(**containerd, *registry, runtime::host_platform());
  runtime::ContainerRuntimeConfig runtime_config{config.logger_path, paths.log_dir(), config.state};
  // Task cgroups: the backend for the host's layout, under "/<namespace>",
  // or systemd's driver over it, under "<namespace>.slice". berthd itself
  // stays where its service manager put it: it never joins a task cgroup,
  // and every container is created in its task's.
  auto layout = cgroups::detect_host_layout();
  if (!layout) {
    spdlog::critical("cgroups: {}", layout.error().message());
    return 1;
  }
  auto driver =
      systemd::choose_cgroup_driver(*layout, config.ns, config.cgroup_driver, use_systemd_cgroups);
  if (!driver) {
    spdlog::critical("cgroups: {}", driver.error().message());
    return 1;
  }
  if (!driver->note.empty()) spdlog::warn("{}", driver->note);
  std::unique_ptr<cgroups::CgroupManager> cgroup_manager = std::move(driver->manager);
  if (driver->systemd) runtime_config.systemd_slice_prefix = *systemd::slice_prefix(config.ns);
  if (!config.seccomp_profile.empty()) {
    auto profile = runtime::load_seccomp_profile(config.seccomp_profile);
    if (!profile) {
      spdlog::critical(
          "{} (Debian's golang-github-containers-common ships it; seccomp_profile = "
          "\"\" runs containers without one)",
          profile.error().message());
      return 1;
    }
    runtime_config.seccomp_profile = std::make_shared<const nlohmann::json>(std::move(*profile));
  }
  runtime::ContainerService containers(**containerd, std::move(runtime_config));
  runtime::EventMonitor events(**containerd, containers);
  auto store = agent::CheckpointStore::open(paths, failpoints.get());
  if (!store) {
    spdlog::critical("{}", store.error().message());
    return 1;
  }
  runtime::ExecService exec(**containerd, paths.exec_dir());
  // What a killed berthd's health checks and sessions left running.
  if (int reaped = exec.reap_leftovers(); reaped > 0) {
    spdlog::info("ended {} exec process(es) left by an earlier berthd", reaped);
  }
  if (auto removed = runtime::remove_debug_leftovers(containers, paths.exec_dir()); !removed) {
    spdlog::warn("{}", removed.error().message());
  } else if (*removed > 0) {
    spdlog::info("removed {} debug container(s) left by an earlier berthd", *removed);
  }
  auto host = agent::host_resources();
  if (!host) {
    spdlog::critical("node resources: {}", host.error().message());
    return 1;
  }
  auto network_config = *config.network_config();  // validate() checked it
  agent::NetworkManager network(network_config, failpoints.get());
  runtime::SandboxService sandboxes(containers,
                                    {beside_self("berth-pause"), config.root, config.state});
  SystemClock clock;
  agent::ImageGc image_gc(images, containers, std::chrono::seconds(config.image_gc_min_age_seconds),
                          clock);

  // berthd's HTTP surfaces: /metrics, introspection and the task metadata
  // endpoint share one server (one I/O thread, two workers).
  metrics::AgentMetrics agent_metrics;
  std::unique_ptr<http::Server> http_server;
  if (!config.metrics_address.empty() || !config.introspection_address.empty() ||
      config.task_metadata_endpoint) {
    auto started = http::Server::start();
    if (!started) {
      spdlog::critical("http server: {}", started.error().message());
      return 1;
    }
    http_server = std::move(*started);
  }
  agent::metadata::NodeFacts facts;
  facts.cluster = config.cluster;
  facts.node = config.node_name.empty() ? host_name() : config.node_name;
  std::optional<agent::metadata::Endpoint> task_metadata;
  if (config.task_metadata_endpoint) {
    auto secret = agent::metadata::load_or_create_secret(config.root + "/task-metadata-secret");
    if (!secret) {
      spdlog::critical("{}", secret.error().message());
      return 1;
    }
    task_metadata.emplace(*http_server, std::move(*secret), facts);
  }

  agent::ImageResource image_resource(**containerd, images, image_gc, failpoints.get(),
                                      &agent_metrics);
  agent::NetworkResource task_network(agent::ResourceKind::kTaskNetwork, network);
  agent::NetworkResource container_network(agent::ResourceKind::kContainerNetwork, network);
  agent::CgroupResource cgroup(*cgroup_manager, static_cast<uint64_t>(config.task_pids_limit),
                               failpoints.get());
  agent::SandboxResource sandbox(sandboxes, containers, events, *cgroup_manager, failpoints.get());
  agent::ContainerResource container({paths, "/usr/bin/tini-static", "/etc/resolv.conf",
                                      task_metadata ? &*task_metadata : nullptr},
                                     containers, images, sandboxes, events, *cgroup_manager,
                                     image_gc, failpoints.get());

  agent::EngineConfig engine_config;
  engine_config.paths = paths;
  engine_config.policy.allow_privileged = config.allow_privileged;
  engine_config.policy.allowed_host_paths = config.allowed_host_paths;
  engine_config.policy.journal_available = systemd::journal_available();
  // validate() checked that it names a mode.
  engine_config.policy.default_network_mode =
      agent::parse_network_mode(config.default_network_mode).value_or(agent::NetworkMode::kBridge);
  engine_config.task_retention = std::chrono::seconds(config.task_retention_seconds);
  engine_config.image_gc_interval = std::chrono::seconds(config.image_gc_interval_seconds);
  engine_config.cgroup_layout = cgroups::layout_name(*layout);
  engine_config.node.total = *host;
  engine_config.node.reserved = {static_cast<uint64_t>(config.reserved_cpu_units),
                                 static_cast<uint64_t>(config.reserved_memory_mib) << 20};
  engine_config.eni_pool = network_config.eni_pool;
  spdlog::info("{}; {} for tasks: {} CPU units, {} MiB of memory", engine_config.cgroup_layout,
               cgroup_manager->name(), engine_config.node.allocatable().cpu_units,
               engine_config.node.allocatable().memory_bytes >> 20);

  agent::EngineParts parts;
  parts.resources = {{agent::ResourceKind::kImage, &image_resource},
                     {agent::ResourceKind::kTaskNetwork, &task_network},
                     {agent::ResourceKind::kContainerNetwork, &container_network},
                     {agent::ResourceKind::kTaskCgroup, &cgroup},
                     {agent::ResourceKind::kSandbox, &sandbox},
                     {agent::ResourceKind::kContainer, &container}};
  parts.containers = &container;
  parts.store = store->get();
  parts.image_gc = &image_gc;
  parts.cgroups = cgroup_manager.get();
  parts.containerd = containerd->get();
  parts.exec = &exec;
  parts.clock = &clock;
  parts.metrics = &agent_metrics;
  parts.failpoints = failpoints.get();
  agent::Engine engine(engine_config, parts);
  // Events go to the engine from now on; those that come while it
  // recovers wait in its queue.
  events.set_sink(&engine);
  events.start();
  if (auto started = engine.start(); !started) {
    spdlog::critical("start the task engine: {}", started.error().message());
    events.set_sink(nullptr);
    events.stop();
    return 1;
  }
  std::optional<agent::StaticTasks> static_tasks;
  std::optional<controlplane::NodeAgent> fleet;
  // Unsubscribes from the engine when it goes: reset before engine.stop().
  std::optional<agent::UsageSampler> sampler;
  // Every way out from here: the HTTP surfaces first (their handlers use
  // the sampler and the engine), then what drives the engine. Tasks keep
  // running: the next berthd adopts them.
  auto shut_down = [&] {
    if (task_metadata) task_metadata->stop();
    if (http_server) http_server->stop();
    sampler.reset();
    if (fleet) fleet->stop();
    if (static_tasks) static_tasks->stop();
    events.set_sink(nullptr);
    engine.stop();
    events.stop();
  };
  if (!config.manifest_dir.empty()) {
    static_tasks.emplace(engine, config.manifest_dir,
                         std::chrono::seconds(config.manifest_check_seconds), engine_config.policy,
                         clock);
    static_tasks->start();
    spdlog::info("static tasks from '{}'", config.manifest_dir);
  }
  if (etcd_client) {
    controlplane::NodeAgentConfig fleet_config;
    fleet_config.cluster = config.cluster;
    fleet_config.node = config.node_name;  // fleet_client() set it
    fleet_config.version = kVersion;
    for (const auto& attribute : config.node_attributes) {
      auto eq = attribute.find('=');  // validate() checked it is there
      fleet_config.attributes[attribute.substr(0, eq)] = attribute.substr(eq + 1);
    }
    fleet_config.host_port_range = config.host_port_range;
    fleet_config.host_port_min = network_config.host_port_min;
    fleet_config.host_port_max = network_config.host_port_max;
    fleet_config.excluded_interfaces = {config.bridge_name};
    fleet_config.policy = engine_config.policy;
    fleet.emplace(engine, std::move(etcd_client), std::move(fleet_config), clock);
    fleet->start();
    spdlog::info("fleet: node '{}' of cluster '{}', etcd at {}", config.node_name, config.cluster,
                 fmt::join(config.etcd_endpoints, ","));
  }
  sampler.emplace(engine, *cgroup_manager, clock);
  if (task_metadata) task_metadata->start(engine, *sampler);
  std::string metrics_at;
  std::string introspection_at;
  if (!config.metrics_address.empty()) {
    agent::ScrapeSources sources{&engine, &*sampler, &agent_metrics, {}};
    if (fleet) {
      sources.more.emplace_back(
          [&fleet](metrics::Exposition& out) { agent::render_fleet(fleet->health(), out); });
    }
    if (task_metadata) {
      sources.more.emplace_back([&task_metadata](metrics::Exposition& out) {
        out.family("berth_task_metadata_listeners",
                   "Network namespaces where the task metadata endpoint is served.",
                   metrics::Type::kGauge);
        out.sample({}, static_cast<double>(task_metadata->listeners()));
      });
    }
    auto port = http_server->listen(config.metrics_address, [sources](const http::Request& r) {
      http::Response out;
      if (r.path != "/metrics") {
        out.status = 404;
        out.body = "not found: " + r.path + " (berthd serves /metrics)\n";
        return out;
      }
      out.content_type = std::string(metrics::kContentType);
      out.body = agent::scrape(sources);
      return out;
    });
    if (!port) {
      spdlog::critical("metrics-address: {}", port.error().message());
      shut_down();
      return 1;
    }
    metrics_at = with_port(config.metrics_address, *port);
    spdlog::info("metrics on http://{}/metrics", metrics_at);
  }
  if (!config.introspection_address.empty()) {
    agent::metadata::IntrospectionSources sources{&engine, facts, kVersion, nullptr};
    if (fleet) {
      sources.fleet = [&fleet] {
        auto health = fleet->health();
        return nlohmann::json{{"Registered", health.registered},
                              {"Sessions", health.sessions},
                              {"Endpoint", health.endpoint}};
      };
    }
    auto port = http_server->listen(
        config.introspection_address,
        [sources](const http::Request& r) { return agent::metadata::introspect(sources, r); });
    if (!port) {
      spdlog::critical("introspection-address: {}", port.error().message());
      shut_down();
      return 1;
    }
    introspection_at = with_port(config.introspection_address, *port);
    spdlog::info("introspection on http://{}/v1/metadata", introspection_at);
  }
  agent::ApiService service(**containerd, images, engine, paths, kVersion, &*sampler);
  service.set_http_addresses(metrics_at, introspection_at);
  auto audit_log = agent::AuditLog::open(paths.audit_log());
  if (!audit_log) {
    spdlog::critical("{}", audit_log.error().message());
    shut_down();
    return 1;
  }
  service.set_exec(*agent::parse_exec_policy(config.exec_policy), audit_log->get(), &containers);

  auto listener = agent::ApiListener::open(config.socket);
  if (!listener) {
    spdlog::critical("{}", listener.error().message());
    shut_down();
    return 1;
  }
  service.set_callers(listener->get());
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(16 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    spdlog::critical("cannot start the API server");
    shut_down();
    return 1;
  }
  (*listener)->serve(server.get());
  spdlog::info("berthd {} listening on '{}'", kVersion, config.socket);
  // Under systemd (Type=notify): ready now that the tasks are adopted and
  // the API answers; then a status line and, while the engine's owner loop
  // answers, the watchdog's keep-alive. containerd's state is reported, not
  // tested: a restart of berthd would not bring containerd back.
  auto notifier = systemd::ServiceNotifier::from_environment();
  // Graceful node shutdown: a logind delay lock, taken before READY=1 and
  // let go once every task has stopped (or the grace ran out). A stop of
  // berthd alone stops no task.
  std::unique_ptr<systemd::ShutdownInhibitor> inhibitor;
  if (config.shutdown_grace_seconds > 0 && systemd::booted()) {
    inhibitor = hold_shutdown_lock(engine, notifier.get(), config.shutdown_grace_seconds, [&fleet] {
      if (fleet) fleet->node_changed();
    });
  }
  std::optional<systemd::Watchdog> watchdog;
  if (notifier) {
    runtime::Containerd& cd = **containerd;
    auto check = [&]() -> systemd::Watchdog::Check {
      auto running = engine.running_tasks(std::chrono::seconds(5));
      std::string containerd_state =
          cd.reachable(std::chrono::milliseconds(0)) ? "reachable" : "unreachable";
      if (!running) {
        return {false, "the task engine does not answer (containerd " + containerd_state + ")"};
      }
      std::string line =
          std::to_string(*running) + " task(s) running; containerd " + containerd_state;
      if (fleet) line += fleet->health().registered ? "; etcd registered" : "; etcd not registered";
      return {true, line};
    };
    if (auto told = notifier->ready(check().status); !told) {
      spdlog::warn("systemd: {}", told.error().message());
    }
    watchdog.emplace(*notifier, systemd::watchdog_period(*notifier, std::chrono::seconds(10)),
                     check);
    if (notifier->watchdog_interval().count() > 0) {
      spdlog::info(
          "systemd: watchdog every {} ms",
          std::chrono::duration_cast<std::chrono::milliseconds>(notifier->watchdog_interval())
              .count());
    }
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  int signal = 0;
  sigwait(&signals, &signal);
  spdlog::info("received {}, shutting down", strsignal(signal));
  if (notifier) (void)notifier->stopping();
  inhibitor.reset();
  watchdog.reset();
  // Running calls are cancelled; foreground tasks they follow are stopped.
  (*listener)->stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(15));
  shut_down();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the shutdown signals in every thread; main waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // Every connection of the HTTP surfaces is a descriptor: take what the
  // hard limit allows, as containerd and dockerd do.
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }

  berth::agent::AgentConfig config;
  if (auto exit_code = berth::agent::parse_command_line(argc, argv, config)) return *exit_code;
  if (auto valid = berth::agent::validate(config); !valid) {
    spdlog::critical("{}", valid.error().message());
    return 2;
  }
  return run(std::move(config));
}
