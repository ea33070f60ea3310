#include "runtime/containerd.h"

#include <grpc/grpc.h>
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <charconv>
#include <ctime>
#include <random>

#include "runtime/containerd_stubs.h"

namespace berth::runtime {

std::optional<std::pair<int, int>> parse_containerd_version(std::string_view version) {
  if (!version.empty() && version.front() == 'v') version.remove_prefix(1);
  int major = 0;
  int minor = 0;
  const char* end = version.data() + version.size();
  auto [p1, e1] = std::from_chars(version.data(), end, major);
  if (e1 != std::errc() || p1 == end || *p1 != '.') return std::nullopt;
  auto [p2, e2] = std::from_chars(p1 + 1, end, minor);
  if (e2 != std::errc()) return std::nullopt;
  return std::pair{major, minor};
}

Containerd::Containerd(std::string socket_path, std::string ns,
                       std::shared_ptr<grpc::Channel> channel)
    : socket_path_(std::move(socket_path)),
      ns_(std::move(ns)),
      channel_(std::move(channel)),
      stubs_(std::make_unique<ContainerdStubs>(channel_)) {}

Containerd::~Containerd() = default;

Result<std::unique_ptr<Containerd>> Containerd::connect(const std::string& socket_path,
                                                        std::string ns,
                                                        std::chrono::seconds timeout) {
  struct stat st {};
  if (::stat(socket_path.c_str(), &st) != 0) {
    return fail(Error::from_errno("containerd socket '" + socket_path +
                                  "' is missing (is containerd installed and running?)"));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return fail(ErrorCode::kInvalidArgument,
                "containerd address '" + socket_path + "' is not a unix socket");
  }
  grpc::ChannelArguments args;
  // containerd's server accepts messages up to 16 MiB.
  args.SetMaxReceiveMessageSize(16 << 20);
  args.SetMaxSendMessageSize(16 << 20);
  // After containerd restarts (an upgrade, a crash), connect again within
  // about a second of its return, not after gRPC's default back-off, which
  // grows to two minutes while it is away.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto channel =
      grpc::CreateCustomChannel("unix://" + socket_path, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + timeout)) {
    return fail(ErrorCode::kUnavailable,
                "containerd at '" + socket_path + "' does not accept connections (is it running?)");
  }
  std::unique_ptr<Containerd> client(new Containerd(socket_path, std::move(ns), channel));
  auto version = client->query_version();
  if (!version) {
    return fail(version.error().with_context("containerd at '" + socket_path + "'"));
  }
  auto parsed = parse_containerd_version(version->version);
  if (!parsed) {
    return fail(ErrorCode::kFailedPrecondition, "containerd at '" + socket_path +
                                                    "' reports an unreadable version '" +
                                                    version->version + "'");
  }
  if (*parsed < std::pair{kMinContainerdMajor, kMinContainerdMinor}) {
    return fail(ErrorCode::kFailedPrecondition, "containerd " + version->version + " at '" +
                                                    socket_path +
                                                    "' is too old: berth needs 1.6 or newer");
  }
  client->version_ = *version;
  return client;
}

std::unique_ptr<grpc::ClientContext> Containerd::context(std::chrono::milliseconds timeout,
                                                         std::string_view lease) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("containerd-namespace", ns_);
  if (!lease.empty()) ctx->AddMetadata("containerd-lease", std::string(lease));
  if (timeout.count() > 0) ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

Result<Containerd::Version> Containerd::query_version() {
  auto ctx = context(std::chrono::seconds(10));
  google::protobuf::Empty request;
  containerd::services::version::v1::VersionResponse response;
  auto status = stubs_->version->Version(ctx.get(), request, &response);
  if (!status.ok()) return fail(grpc_error(status, "version"));
  return Version{response.version(), response.revision()};
}

bool Containerd::reachable(std::chrono::milliseconds timeout) {
  // true: an idle channel starts connecting.
  if (channel_->GetState(true) == GRPC_CHANNEL_READY) return true;
  return channel_->WaitForConnected(std::chrono::system_clock::now() + timeout);
}

std::string unique_id(std::string_view prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[64];
  std::snprintf(buf, sizeof buf, "-%lx-%08lx", static_cast<long>(std::time(nullptr)),
                static_cast<unsigned long>(rng() & 0xffffffffUL));
  return std::string(prefix) + buf;
}

Result<Lease> Lease::create(Containerd& containerd, std::string_view purpose) {
  cd_leases::CreateRequest request;
  request.set_id(unique_id(std::string("berth-") + std::string(purpose)));
  // If berthd dies holding the lease, containerd drops it after a day.
  std::time_t expire = std::time(nullptr) + std::time_t{24} * 3600;
  char when[32];
  std::tm tm{};
  gmtime_r(&expire, &tm);
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  (*request.mutable_labels())["containerd.io/gc.expire"] = when;
  cd_leases::CreateResponse response;
  auto ctx = containerd.context();
  auto status = containerd.stubs().leases->Create(ctx.get(), request, &response);
  if (!status.ok()) return fail(grpc_error(status, "create lease"));
  return Lease(containerd, response.lease().id());
}

Lease::Lease(Lease&& other) noexcept
    : containerd_(other.containerd_), id_(std::exchange(other.id_, {})) {}

// A lease not deleted here expires by itself (gc.expire, a day).
Lease::~Lease() { (void)release(); }

Result<int> remove_berth_leases(Containerd& containerd) {
  cd_leases::ListRequest request;
  cd_leases::ListResponse response;
  {
    auto ctx = containerd.context(std::chrono::seconds(30));
    auto status = containerd.stubs().leases->List(ctx.get(), request, &response);
    if (!status.ok()) return fail(grpc_error(status, "list leases"));
  }
  int removed = 0;
  for (const auto& lease : response.leases()) {
    if (!lease.id().starts_with("berth-")) continue;
    cd_leases::DeleteRequest remove;
    remove.set_id(lease.id());
    remove.set_sync(true);
    google::protobuf::Empty empty;
    auto ctx = containerd.context(std::chrono::seconds(30));
    auto status = containerd.stubs().leases->Delete(ctx.get(), remove, &empty);
    if (!status.ok() && status.error_code() != grpc::StatusCode::NOT_FOUND) {
      return fail(grpc_error(status, "delete lease '" + lease.id() + "'"));
    }
    ++removed;
  }
  return removed;
}

Status Lease::add_resource(std::string_view type, std::string_view resource_id) {
  cd_leases::AddResourceRequest request;
  request.set_id(id_);
  request.mutable_resource()->set_type(std::string(type));
  request.mutable_resource()->set_id(std::string(resource_id));
  google::protobuf::Empty response;
  auto ctx = containerd_->context();
  auto status = containerd_->stubs().leases->AddResource(ctx.get(), request, &response);
  if (!status.ok()) {
    return fail(grpc_error(status, "lease '" + id_ + "': add " + std::string(type) + " '" +
                                       std::string(resource_id) + "'"));
  }
  return {};
}

Status Lease::release() {
  if (id_.empty()) return {};
  cd_leases::DeleteRequest request;
  request.set_id(id_);
  // Synchronous, so that resources only this lease held are gone on return.
  request.set_sync(true);
  google::protobuf::Empty response;
  auto ctx = containerd_->context(std::chrono::seconds(120));
  auto status = containerd_->stubs().leases->Delete(ctx.get(), request, &response);
  std::string id = std::exchange(id_, {});
  if (!status.ok() && status.error_code() != grpc::StatusCode::NOT_FOUND) {
    return fail(grpc_error(status, "delete lease '" + id + "'"));
  }
  return {};
}

}  // namespace berth::runtime
