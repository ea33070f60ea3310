// Client::watch: one Watch stream for one key or prefix.
#include <grpcpp/grpcpp.h>

#include <optional>

#include "common/grpc/status.h"
#include "controlplane/etcd/client.h"
#include "controlplane/etcd/stubs.h"

namespace berth::etcd {

Status Client::watch(const std::string& key, bool prefix, int64_t start_revision,
                     const OnEvents& on_events, WatchCanceller& canceller, int64_t* compacted_to) {
  const size_t index = current_.load() % channels_->endpoints.size();
  Endpoint& endpoint = channels_->endpoints[index];
  const std::string where = "etcd watch '" + key + "' at " + endpoint.url;
  auto ctx = context(std::chrono::milliseconds(0));
  if (!canceller.attach(ctx.get())) return fail(ErrorCode::kCancelled, where + ": cancelled");
  struct Detach {
    WatchCanceller& canceller;
    ~Detach() { canceller.detach(); }
  } detach{canceller};

  auto stream = endpoint.watch->Watch(ctx.get());
  pb::WatchRequest request;
  auto* create = request.mutable_create_request();
  create->set_key(key);
  if (prefix) create->set_range_end(prefix_end(key));
  create->set_start_revision(start_revision);
  std::optional<Error> ended;
  if (stream->Write(request)) {
    pb::WatchResponse response;
    std::vector<WatchEvent> events;
    while (stream->Read(&response)) {
      if (response.canceled()) {
        if (response.compact_revision() > 0) {
          if (compacted_to != nullptr) *compacted_to = response.compact_revision();
          ended = Error(ErrorCode::kFailedPrecondition,
                        where + ": revision " + std::to_string(start_revision) +
                            " was compacted (the oldest kept is " +
                            std::to_string(response.compact_revision()) + ")");
        } else {
          const std::string& reason = response.cancel_reason();
          ended = Error(reason.find("permission denied") != std::string::npos
                            ? ErrorCode::kPermissionDenied
                            : ErrorCode::kInternal,
                        where + ": cancelled by etcd: " + reason);
        }
        break;
      }
      if (response.created() && response.events_size() == 0) continue;
      events.clear();
      for (const auto& event : response.events()) {
        WatchEvent out;
        out.type = event.type() == mvccpb::Event::DELETE ? WatchEvent::Type::kDelete
                                                         : WatchEvent::Type::kPut;
        const auto& kv = event.kv();
        out.kv = {kv.key(),          kv.value(),   kv.create_revision(),
                  kv.mod_revision(), kv.version(), kv.lease()};
        events.push_back(std::move(out));
      }
      on_events(response.header().revision(), events);
    }
  }
  if (ended) {
    ctx->TryCancel();
    (void)stream->Finish();
    return fail(std::move(*ended));
  }
  ctx->TryCancel();
  grpc::Status status = stream->Finish();
  if (canceller.cancelled()) return fail(ErrorCode::kCancelled, where + ": cancelled");
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED && !options_.user.empty()) {
    // The token expired: the next watch authenticates first.
    BERTH_TRY_CTX(authenticate(), where);
  }
  next_endpoint(index);
  Error error = status.ok() ? Error(ErrorCode::kUnavailable, where + ": the stream ended")
                            : grpc_error(status, where);
  return fail(Error(ErrorCode::kUnavailable, error.message()));
}

}  // namespace berth::etcd
