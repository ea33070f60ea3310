#include "controlplane/etcd/client.h"

#include <grpcpp/grpcpp.h>

#include "common/file.h"
#include "common/grpc/status.h"
#include "controlplane/etcd/stubs.h"

namespace berth::etcd {

namespace {

// etcd's answers that mean "try another member": this one cannot reach
// the others, has no leader, or is going away.
bool another_member_may_answer(const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) return true;
  const std::string& message = status.error_message();
  return message.find("no leader") != std::string::npos ||
         message.find("leader changed") != std::string::npos ||
         message.find("request timed out") != std::string::npos;
}

bool token_refused(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAUTHENTICATED &&
         status.error_message().find("invalid auth token") != std::string::npos;
}

struct Target {
  std::string address;
  bool tls = false;
};

Result<Target> parse_endpoint(const std::string& url) {
  Target target;
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    target.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.find("://") != std::string_view::npos) {
    return fail(ErrorCode::kInvalidArgument,
                "etcd endpoint '" + url + "': the scheme must be http or https");
  }
  while (rest.ends_with('/')) rest.remove_suffix(1);
  auto colon = rest.rfind(':');
  if (rest.empty() || colon == std::string_view::npos || colon + 1 == rest.size() ||
      rest.find('/') != std::string_view::npos) {
    return fail(ErrorCode::kInvalidArgument,
                "etcd endpoint '" + url + "': expected http(s)://HOST:PORT");
  }
  target.address = std::string(rest);
  return target;
}

Result<std::string> read_pem(const std::string& path, const char* what) {
  auto text = read_file(path);
  if (!text)
    return fail(text.error().with_context(std::string("etcd ") + what + " '" + path + "'"));
  return std::move(*text);
}

}  // namespace

void WatchCanceller::cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  if (context_ != nullptr) context_->TryCancel();
}

bool WatchCanceller::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

bool WatchCanceller::attach(grpc::ClientContext* context) {
  std::lock_guard lock(mu_);
  if (cancelled_) return false;
  context_ = context;
  return true;
}

void WatchCanceller::detach() {
  std::lock_guard lock(mu_);
  context_ = nullptr;
}

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

Client::Client(Options options)
    : options_(std::move(options)), channels_(std::make_unique<Channels>()) {}

Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::connect(Options options) {
  auto client = BERTH_TRY(create(std::move(options)));
  BERTH_TRY(client->check());
  return client;
}

Status Client::check() {
  if (!options_.user.empty()) return authenticate();
  BERTH_TRY(get("/"));
  return {};
}

Result<std::unique_ptr<Client>> Client::create(Options options) {
  if (options.endpoints.empty()) {
    return fail(ErrorCode::kInvalidArgument, "no etcd endpoint given");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return fail(ErrorCode::kInvalidArgument,
                "etcd client certificate and key: give both or neither");
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.ca_file.empty())
    ssl.pem_root_certs = BERTH_TRY(read_pem(options.ca_file, "CA file"));
  if (!options.cert_file.empty()) {
    ssl.pem_cert_chain = BERTH_TRY(read_pem(options.cert_file, "client certificate"));
    ssl.pem_private_key = BERTH_TRY(read_pem(options.key_file, "client key"));
  }
  std::unique_ptr<Client> client(new Client(std::move(options)));
  grpc::ChannelArguments args;
  // A member that went away is tried again soon, and a connection that
  // died without a word is found within seconds (etcd lets clients ping
  // every 5 s). The minimum reconnect backoff is left alone: it is also how
  // long a connection attempt (TCP, TLS, HTTP/2) may take.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  for (const auto& url : client->options_.endpoints) {
    Target target = BERTH_TRY(parse_endpoint(url));
    auto credentials = target.tls ? grpc::SslCredentials(ssl) : grpc::InsecureChannelCredentials();
    Endpoint endpoint;
    endpoint.url = url;
    endpoint.channel = grpc::CreateCustomChannel(target.address, credentials, args);
    endpoint.kv = pb::KV::NewStub(endpoint.channel);
    endpoint.lease = pb::Lease::NewStub(endpoint.channel);
    endpoint.watch = pb::Watch::NewStub(endpoint.channel);
    endpoint.auth = pb::Auth::NewStub(endpoint.channel);
    client->channels_->endpoints.push_back(std::move(endpoint));
  }
  return client;
}

std::string Client::endpoint() const {
  return channels_->endpoints[current_.load() % channels_->endpoints.size()].url;
}

std::unique_ptr<grpc::ClientContext> Client::context(std::chrono::milliseconds timeout,
                                                     bool with_token) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (timeout.count() > 0) context->set_deadline(std::chrono::system_clock::now() + timeout);
  if (!with_token) return context;
  std::lock_guard lock(token_mu_);
  if (!token_.empty()) context->AddMetadata("token", token_);
  return context;
}

void Client::next_endpoint(size_t failed) {
  size_t next = (failed + 1) % channels_->endpoints.size();
  current_.compare_exchange_strong(failed, next);
}

Status Client::invoke(const char* what, const std::string& subject, const Call& call,
                      bool with_token) {
  const size_t count = channels_->endpoints.size();
  bool authenticated_again = false;
  grpc::Status last;
  std::string tried;
  for (size_t attempt = 0; attempt < count;) {
    size_t index = current_.load() % count;
    Endpoint& endpoint = channels_->endpoints[index];
    auto ctx = context(options_.call_timeout, with_token);
    grpc::Status status = call(endpoint, *ctx);
    if (status.ok()) return {};
    if (token_refused(status) && !authenticated_again && !options_.user.empty()) {
      authenticated_again = true;
      BERTH_TRY_CTX(authenticate(), std::string("etcd ") + what);
      continue;
    }
    std::string where = std::string("etcd ") + what +
                        (subject.empty() ? "" : " '" + subject + "'") + " at " + endpoint.url;
    if (!another_member_may_answer(status)) return fail(grpc_error(status, where));
    last = status;
    tried += (tried.empty() ? "" : ", ") + endpoint.url;
    next_endpoint(index);
    ++attempt;
  }
  Error error =
      grpc_error(last, std::string("etcd ") + what + (subject.empty() ? "" : " '" + subject + "'") +
                           ": no endpoint answered (" + tried + ")");
  return fail(Error(ErrorCode::kUnavailable, error.message()));
}

Status Client::authenticate() {
  pb::AuthenticateRequest request;
  request.set_name(options_.user);
  request.set_password(options_.password);
  pb::AuthenticateResponse response;
  // Other calls keep the old token until the new one is there.
  auto done = invoke(
      "authenticate", options_.user,
      [&](Endpoint& e, grpc::ClientContext& ctx) {
        return e.auth->Authenticate(&ctx, request, &response);
      },
      /*with_token=*/false);
  if (!done) {
    if (done.error().code() == ErrorCode::kInvalidArgument) {
      // etcd's answer to a wrong user or password.
      return fail(ErrorCode::kUnauthenticated, done.error().message());
    }
    return done;
  }
  std::lock_guard lock(token_mu_);
  token_ = response.token();
  return {};
}

namespace {

KeyValue from_pb(const mvccpb::KeyValue& kv) {
  return {kv.key(), kv.value(), kv.create_revision(), kv.mod_revision(), kv.version(), kv.lease()};
}

RangeResult from_pb(const pb::RangeResponse& response) {
  RangeResult result;
  result.revision = response.header().revision();
  for (const auto& kv : response.kvs()) result.kvs.push_back(from_pb(kv));
  return result;
}

void to_pb(const Operation& op, pb::RequestOp& out) {
  switch (op.kind) {
    case Operation::Kind::kPut: {
      auto* put = out.mutable_request_put();
      put->set_key(op.key);
      put->set_value(op.value);
      put->set_lease(op.lease);
      break;
    }
    case Operation::Kind::kDelete: {
      auto* del = out.mutable_request_delete_range();
      del->set_key(op.key);
      if (op.prefix) del->set_range_end(prefix_end(op.key));
      break;
    }
    case Operation::Kind::kGet: {
      auto* range = out.mutable_request_range();
      range->set_key(op.key);
      if (op.prefix) range->set_range_end(prefix_end(op.key));
      break;
    }
  }
}

void to_pb(const Compare& compare, pb::Compare& out) {
  out.set_key(compare.key);
  if (compare.prefix) out.set_range_end(prefix_end(compare.key));
  switch (compare.op) {
    case Compare::Op::kEqual:
      out.set_result(pb::Compare::EQUAL);
      break;
    case Compare::Op::kGreater:
      out.set_result(pb::Compare::GREATER);
      break;
    case Compare::Op::kLess:
      out.set_result(pb::Compare::LESS);
      break;
    case Compare::Op::kNotEqual:
      out.set_result(pb::Compare::NOT_EQUAL);
      break;
  }
  switch (compare.target) {
    case Compare::Target::kVersion:
      out.set_target(pb::Compare::VERSION);
      out.set_version(compare.number);
      break;
    case Compare::Target::kCreateRevision:
      out.set_target(pb::Compare::CREATE);
      out.set_create_revision(compare.number);
      break;
    case Compare::Target::kModRevision:
      out.set_target(pb::Compare::MOD);
      out.set_mod_revision(compare.number);
      break;
    case Compare::Target::kValue:
      out.set_target(pb::Compare::VALUE);
      out.set_value(compare.value);
      break;
  }
}

}  // namespace

Result<RangeResult> Client::get(const std::string& key, bool prefix) {
  pb::RangeRequest request;
  request.set_key(key);
  if (prefix) request.set_range_end(prefix_end(key));
  pb::RangeResponse response;
  BERTH_TRY(invoke("get", key, [&](Endpoint& e, grpc::ClientContext& ctx) {
    return e.kv->Range(&ctx, request, &response);
  }));
  return from_pb(response);
}

Result<int64_t> Client::put(const std::string& key, const std::string& value, int64_t lease) {
  pb::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  request.set_lease(lease);
  pb::PutResponse response;
  BERTH_TRY(invoke("put", key, [&](Endpoint& e, grpc::ClientContext& ctx) {
    return e.kv->Put(&ctx, request, &response);
  }));
  return response.header().revision();
}

Result<int64_t> Client::remove(const std::string& key, bool prefix) {
  pb::DeleteRangeRequest request;
  request.set_key(key);
  if (prefix) request.set_range_end(prefix_end(key));
  pb::DeleteRangeResponse response;
  BERTH_TRY(invoke("delete", key, [&](Endpoint& e, grpc::ClientContext& ctx) {
    return e.kv->DeleteRange(&ctx, request, &response);
  }));
  return response.deleted();
}

Result<TxnResult> Client::txn(const std::vector<Compare>& compares,
                              const std::vector<Operation>& success,
                              const std::vector<Operation>& failure) {
  pb::TxnRequest request;
  for (const auto& compare : compares) to_pb(compare, *request.add_compare());
  for (const auto& op : success) to_pb(op, *request.add_success());
  for (const auto& op : failure) to_pb(op, *request.add_failure());
  pb::TxnResponse response;
  std::string subject = compares.empty() ? std::string() : compares.front().key;
  BERTH_TRY(invoke("transaction", subject, [&](Endpoint& e, grpc::ClientContext& ctx) {
    return e.kv->Txn(&ctx, request, &response);
  }));
  TxnResult result;
  result.succeeded = response.succeeded();
  result.revision = response.header().revision();
  for (const auto& op : response.responses()) {
    if (op.has_response_range()) result.gets.push_back(from_pb(op.response_range()));
  }
  return result;
}

Result<int64_t> Client::grant_lease(std::chrono::seconds ttl) {
  pb::LeaseGrantRequest request;
  request.set_ttl(ttl.count());
  pb::LeaseGrantResponse response;
  BERTH_TRY(invoke("grant lease", "", [&](Endpoint& e, grpc::ClientContext& ctx) {
    return e.lease->LeaseGrant(&ctx, request, &response);
  }));
  if (!response.error().empty()) {
    return fail(ErrorCode::kInternal, "etcd grant lease: " + response.error());
  }
  return response.id();
}

Result<int64_t> Client::keep_alive(int64_t lease) {
  pb::LeaseKeepAliveRequest request;
  request.set_id(lease);
  pb::LeaseKeepAliveResponse response;
  std::string subject = std::to_string(lease);
  BERTH_TRY(invoke("keep lease alive", subject, [&](Endpoint& e, grpc::ClientContext& ctx) {
    // One refresh per stream: simple, and cheap at one call every few
    // seconds.
    auto stream = e.lease->LeaseKeepAlive(&ctx);
    if (stream->Write(request)) {
      if (!stream->Read(&response)) response.Clear();
    }
    stream->WritesDone();
    return stream->Finish();
  }));
  if (response.ttl() <= 0) {
    return fail(ErrorCode::kNotFound, "etcd lease " + subject + " has expired");
  }
  return response.ttl();
}

Status Client::revoke_lease(int64_t lease) {
  pb::LeaseRevokeRequest request;
  request.set_id(lease);
  pb::LeaseRevokeResponse response;
  return invoke("revoke lease", std::to_string(lease), [&](Endpoint& e, grpc::ClientContext& ctx) {
    return e.lease->LeaseRevoke(&ctx, request, &response);
  });
}

}  // namespace berth::etcd
