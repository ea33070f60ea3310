// A client of etcd's v3 gRPC API: KV, Lease, Watch and Auth.
//
// It holds one channel per endpoint and uses one at a time; a call that
// finds its endpoint unavailable (or without a leader) moves to the next
// and is tried there, so a cluster that loses a member keeps answering. With
// a user and password it authenticates (etcd's Authenticate) and sends the
// token in the "token" metadata of every call, authenticating again when
// etcd says the token is no longer valid. TLS: a CA file to verify the
// members, and a client certificate and key when etcd asks for one.
//
// It never logs: every failure is an Error that names the call, the key and
// the endpoint.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"

namespace grpc {
class ClientContext;
class Status;
}  // namespace grpc

namespace berth::etcd {

struct Options {
  std::vector<std::string> endpoints;  // http://HOST:PORT or https://HOST:PORT
  std::string ca_file;                 // PEM; "" = the system's roots (https only)
  std::string cert_file;               // client certificate and key (PEM), both or neither
  std::string key_file;
  std::string user;  // "" = no authentication
  std::string password;
  std::chrono::milliseconds call_timeout{5000};  // each attempt of a unary call
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  int64_t revision = 0;  // the store's revision when read
};

// A condition of a transaction.
struct Compare {
  enum class Target { kVersion, kCreateRevision, kModRevision, kValue };
  enum class Op { kEqual, kGreater, kLess, kNotEqual };
  std::string key;
  Target target = Target::kVersion;
  Op op = Op::kEqual;
  int64_t number = 0;   // version or revision
  std::string value;    // kValue
  bool prefix = false;  // every key that starts with `key`
};

// One operation of a transaction.
struct Operation {
  enum class Kind { kPut, kDelete, kGet };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;
  int64_t lease = 0;
  bool prefix = false;  // kDelete, kGet
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  std::vector<RangeResult> gets;  // one per kGet of the branch taken
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for kDelete: the key and mod_revision only
};

// Cancels a running watch from another thread.
class WatchCanceller {
 public:
  void cancel();
  bool cancelled() const;

 private:
  friend class Client;
  bool attach(grpc::ClientContext* context);  // false: already cancelled
  void detach();

  mutable std::mutex mu_;
  grpc::ClientContext* context_ = nullptr;
  bool cancelled_ = false;
};

// etcd's permission types for a role.
enum class Permission { kRead, kWrite, kReadWrite };

struct Channels;
struct Endpoint;

class Client {
 public:
  // Checks the options (files readable, endpoints well-formed) and, with a
  // user, authenticates: a wrong password or an unreachable cluster is an
  // error here, not at the first call.
  static Result<std::unique_ptr<Client>> connect(Options options);
  // Checks the options and makes the channels, without a call: for a
  // caller that must start while etcd is away (check() it later).
  static Result<std::unique_ptr<Client>> create(Options options);
  // Authenticates (with a user) or makes one cheap call: whether the
  // cluster answers and takes these credentials.
  Status check();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  const Options& options() const { return options_; }
  // The endpoint in use.
  std::string endpoint() const;

  // KV.
  Result<RangeResult> get(const std::string& key, bool prefix = false);
  // Returns the revision of the put.
  Result<int64_t> put(const std::string& key, const std::string& value, int64_t lease = 0);
  // Returns how many keys were deleted.
  Result<int64_t> remove(const std::string& key, bool prefix = false);
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<Operation>& success,
                        const std::vector<Operation>& failure = {});

  // Lease.
  Result<int64_t> grant_lease(std::chrono::seconds ttl);
  // Refreshes a lease; returns its TTL in seconds. kNotFound: it expired.
  Result<int64_t> keep_alive(int64_t lease);
  Status revoke_lease(int64_t lease);

  // Watch: the keys at `key` (or under it, with prefix) from
  // `start_revision` (0: from now). Blocks, calling `on_events` with each
  // batch and the revision it brings the watcher to, until the canceller
  // is used (then kCancelled), the stream breaks (kUnavailable), or etcd
  // cancels the watch (its reason: kPermissionDenied for a key the user
  // may not read). A start revision etcd has already compacted gives
  // kFailedPrecondition and sets `compacted_to` to the oldest revision it
  // still has: the caller must list again.
  using OnEvents = std::function<void(int64_t revision, const std::vector<WatchEvent>& events)>;
  Status watch(const std::string& key, bool prefix, int64_t start_revision,
               const OnEvents& on_events, WatchCanceller& canceller,
               int64_t* compacted_to = nullptr);

  // Auth administration (the root user's work).
  Status add_user(const std::string& name, const std::string& password);
  Status delete_user(const std::string& name);
  Status change_password(const std::string& name, const std::string& password);
  Status add_role(const std::string& name);
  Status delete_role(const std::string& name);
  // `key` alone, or every key under it with prefix.
  Status grant_permission(const std::string& role, const std::string& key, bool prefix,
                          Permission permission);
  Status grant_role(const std::string& user, const std::string& role);
  Status enable_auth();

 private:
  explicit Client(Options options);
  Status authenticate();
  // Runs one unary call, moving to the next endpoint while this one is
  // unavailable and authenticating again once when the token is refused.
  using Call = std::function<grpc::Status(Endpoint&, grpc::ClientContext&)>;
  Status invoke(const char* what, const std::string& subject, const Call& call,
                bool with_token = true);
  std::unique_ptr<grpc::ClientContext> context(std::chrono::milliseconds timeout,
                                               bool with_token = true) const;
  void next_endpoint(size_t failed);

  Options options_;
  std::unique_ptr<Channels> channels_;
  std::atomic<size_t> current_{0};
  mutable std::mutex token_mu_;
  std::string token_;
};

// The end of the range of keys that start with `prefix` (etcd's range_end).
std::string prefix_end(const std::string& prefix);

}  // namespace berth::etcd
