// A connection to containerd's native gRPC API in one containerd namespace.
//
// Every call carries the "containerd-namespace" metadata, and, when work must
// be protected from containerd's garbage collector, "containerd-lease".
//
// The gRPC stubs live behind ContainerdStubs (runtime/containerd_stubs.h),
// which only runtime's own sources include: the generated containerd API
// is a large part of any translation unit that sees it.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace berth::runtime {

struct ContainerdStubs;

inline constexpr std::string_view kSnapshotter = "overlayfs";
inline constexpr std::string_view kRuntimeName = "io.containerd.runc.v2";
// The oldest containerd whose API and behaviour berth has been written for.
inline constexpr int kMinContainerdMajor = 1;
inline constexpr int kMinContainerdMinor = 6;

// Parses "v1.6.20", "1.6.20~ds1" into {major, minor}; nullopt when it can't.
std::optional<std::pair<int, int>> parse_containerd_version(std::string_view version);

class Containerd {
 public:
  struct Version {
    std::string version;
    std::string revision;
  };

  // Connects to containerd at a unix socket path and checks that it answers
  // and is new enough; the error says which of these failed.
  static Result<std::unique_ptr<Containerd>> connect(const std::string& socket_path, std::string ns,
                                                     std::chrono::seconds timeout);
  Containerd(const Containerd&) = delete;
  Containerd& operator=(const Containerd&) = delete;
  ~Containerd();

  const std::string& ns() const { return ns_; }
  const std::string& socket_path() const { return socket_path_; }
  const Version& version() const { return version_; }

  // A context for one call: namespace (and lease) metadata and a deadline.
  // A zero timeout means no deadline (streams that live as long as needed).
  std::unique_ptr<grpc::ClientContext> context(
      std::chrono::milliseconds timeout = std::chrono::seconds(60),
      std::string_view lease = {}) const;

  // One stub per containerd service (runtime/containerd_stubs.h).
  ContainerdStubs& stubs() { return *stubs_; }

  // Asks containerd for its version: the cheapest liveness probe.
  Result<Version> query_version();
  // Whether the connection to containerd is up, or comes up within
  // `timeout` (0: only whether it is up now). Makes no call, so it is cheap
  // enough to poll while containerd is away.
  bool reachable(std::chrono::milliseconds timeout);

 private:
  Containerd(std::string socket_path, std::string ns, std::shared_ptr<grpc::Channel> channel);

  std::string socket_path_;
  std::string ns_;
  Version version_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ContainerdStubs> stubs_;
};

// A containerd lease: while it exists, content, ingests and snapshots created
// under it are safe from garbage collection. Deleting it (synchronously, so
// that what it alone protected is collected at once) is the owner's job.
class Lease {
 public:
  static Result<Lease> create(Containerd& containerd, std::string_view purpose);
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&&) = delete;
  Lease(const Lease&) = delete;
  ~Lease();

  const std::string& id() const { return id_; }
  // Protects an existing resource ("content", "snapshots/overlayfs") too.
  Status add_resource(std::string_view type, std::string_view resource_id);
  // Deletes the lease now; the destructor then does nothing.
  Status release();

 private:
  Lease(Containerd& containerd, std::string id) : containerd_(&containerd), id_(std::move(id)) {}
  Containerd* containerd_;
  std::string id_;
};

// Deletes every lease berth created ("berth-..."). Only for start-up, when
// no operation of this process holds one: what a killed berthd left behind
// would otherwise pin content and snapshots until the lease expires.
// Returns how many were deleted.
Result<int> remove_berth_leases(Containerd& containerd);

// A unique, containerd-valid identifier: prefix-<time>-<random>.
std::string unique_id(std::string_view prefix);

}  // namespace berth::runtime
