#include "runtime/events.h"

#include <google/protobuf/wrappers.pb.h>

#include "github.com/containerd/containerd/api/events/task.pb.h"
#include "runtime/containerd_stubs.h"

namespace berth::runtime {

namespace {
constexpr std::string_view kExitType = "containerd.events.TaskExit";
constexpr std::string_view kOomType = "containerd.events.TaskOOM";
// A topic of berth's own, published to itself to detect a live subscription.
constexpr std::string_view kSyncTopic = "/berth/sync";
// Retries of a failed subscription: 100 ms, doubling, at most a second
// apart, so that a containerd that comes back is followed again quickly.
constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{1000};
// How often a wait for containerd's return checks for stop().
constexpr std::chrono::milliseconds kPollInterval{100};

// containerd's typeurl uses the bare message name; tolerate a prefix.
bool type_is(const google::protobuf::Any& any, std::string_view name) {
  std::string_view url = any.type_url();
  return url == name || (url.ends_with(name) && url[url.size() - name.size() - 1] == '/');
}
}  // namespace

EventMonitor::EventMonitor(Containerd& containerd, ContainerService& containers)
    : containerd_(containerd), containers_(containers) {}

EventMonitor::~EventMonitor() { stop(); }

void EventMonitor::set_sink(EventSink* sink) {
  std::lock_guard lock(sink_mu_);
  sink_ = sink;
}

void EventMonitor::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void EventMonitor::stop() {
  stopping_ = true;
  {
    std::lock_guard lock(mu_);
    if (stream_ctx_) stream_ctx_->TryCancel();
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void EventMonitor::watch(const std::string& container_id) {
  std::lock_guard lock(mu_);
  watches_[container_id] = Watch{};
}

void EventMonitor::unwatch(const std::string& container_id) {
  std::lock_guard lock(mu_);
  watches_.erase(container_id);
}

std::optional<ExitStatus> EventMonitor::wait_exit(const std::string& container_id,
                                                  std::chrono::steady_clock::time_point deadline,
                                                  bool* oom) {
  std::unique_lock lock(mu_);
  bool done = cv_.wait_until(lock, deadline, [&] {
    auto it = watches_.find(container_id);
    return it == watches_.end() || it->second.exit.has_value();
  });
  auto it = watches_.find(container_id);
  if (!done || it == watches_.end()) return std::nullopt;
  if (oom) *oom = it->second.oom;
  return it->second.exit;
}

bool EventMonitor::wait_subscriptions(int count, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return cv_.wait_until(lock, deadline, [&] { return subscriptions_.load() >= count; });
}

void EventMonitor::deliver(const TaskEvent& event) {
  {
    std::lock_guard lock(sink_mu_);
    if (sink_) sink_->on_task_event(event);
  }
  std::lock_guard lock(mu_);
  auto it = watches_.find(event.container_id);
  if (it == watches_.end()) return;
  if (event.kind == TaskEvent::Kind::kOom) {
    it->second.oom = true;
  } else if (event.exec_id.empty() || event.exec_id == event.container_id) {
    it->second.exit = ExitStatus{event.exit_status, event.exited_at_unix_nanos};
  }
  cv_.notify_all();
}

void EventMonitor::report_connection(bool connected, const std::string& detail) {
  if (reported_connected_ == connected) return;
  reported_connected_ = connected;
  std::lock_guard lock(sink_mu_);
  if (sink_) sink_->on_connection(connected, detail);
}

void EventMonitor::reconcile() {
  std::vector<std::string> pending;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, watch] : watches_) {
      if (!watch.exit) pending.push_back(id);
    }
  }
  for (const auto& id : pending) {
    auto task = containers_.task_status(id);
    if (task && task->state == ProcessState::kStopped) {
      deliver(TaskEvent{TaskEvent::Kind::kExit, id, "", task->exit.code,
                        task->exit.exited_at_unix_nanos, task->pid});
    }
  }
}

void EventMonitor::run() {
  auto backoff = kFirstBackoff;
  while (!stopping_) {
    Outcome outcome = subscribe_once();
    if (stopping_) break;
    report_connection(false, outcome.detail);
    if (outcome.established) backoff = kFirstBackoff;
    pause_before_retry(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

EventMonitor::Outcome EventMonitor::subscribe_once() {
  Outcome outcome;
  cd_events::SubscribeRequest request;
  request.add_filters("namespace==" + containerd_.ns() + ",topic~=|^/tasks/|");
  request.add_filters("namespace==" + containerd_.ns() + ",topic==\"" + std::string(kSyncTopic) +
                      "\"");
  auto ctx = containerd_.context(std::chrono::milliseconds(0));
  grpc::ClientContext* raw_ctx = ctx.get();
  {
    std::lock_guard lock(mu_);
    if (stopping_) return outcome;
    stream_ctx_ = std::move(ctx);
  }
  auto stream = containerd_.stubs().events->Subscribe(raw_ctx, request);

  // containerd sends nothing until an event arrives, so prove that the
  // subscription is live with an event of our own; only then reconcile, so
  // that no exit can fall between the reconcile and the subscription.
  std::string token = unique_id("sync");
  std::atomic<bool> established{false};
  std::atomic<bool> stream_done{false};
  std::thread prober([&] {
    auto wait = std::chrono::milliseconds(50);
    for (int attempt = 0; attempt < 100 && !established && !stream_done && !stopping_; ++attempt) {
      cd_events::PublishRequest publish;
      publish.set_topic(std::string(kSyncTopic));
      // A type every containerd client can decode, so that other
      // subscribers (ctr events) see it without complaint.
      google::protobuf::StringValue value;
      value.set_value(token);
      publish.mutable_event()->set_type_url("google.protobuf.StringValue");
      publish.mutable_event()->set_value(value.SerializeAsString());
      google::protobuf::Empty empty;
      auto pctx = containerd_.context(std::chrono::seconds(5));
      // A failed publish is retried; a broken stream ends the loop.
      (void)containerd_.stubs().events->Publish(pctx.get(), publish, &empty);
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, wait, [&] { return established || stream_done || stopping_; });
      wait = std::min(wait * 2, std::chrono::milliseconds(1000));
    }
  });

  containerd::services::events::v1::Envelope envelope;
  while (stream->Read(&envelope)) {
    const auto& any = envelope.event();
    if (envelope.topic() == kSyncTopic) {
      google::protobuf::StringValue value;
      if (!established && value.ParseFromString(any.value()) && value.value() == token) {
        established = true;
        reconcile();
        bool first = subscriptions_++ == 0;
        report_connection(true, first ? "subscribed to containerd's task events"
                                      : "subscribed again to containerd's task events, watched "
                                        "tasks reconciled");
        std::lock_guard lock(mu_);
        cv_.notify_all();
      }
    } else if (type_is(any, kExitType)) {
      containerd::events::TaskExit exit;
      if (exit.ParseFromString(any.value())) {
        std::string exec_id = exit.id() == exit.container_id() ? "" : exit.id();
        deliver(TaskEvent{TaskEvent::Kind::kExit, exit.container_id(), exec_id, exit.exit_status(),
                          exit.exited_at().seconds() * 1000000000LL + exit.exited_at().nanos(),
                          exit.pid()});
      }
    } else if (type_is(any, kOomType)) {
      containerd::events::TaskOOM oom;
      if (oom.ParseFromString(any.value())) {
        deliver(TaskEvent{TaskEvent::Kind::kOom, oom.container_id(), "", 0, 0});
      }
    }
  }
  grpc::Status finished = stream->Finish();
  {
    std::lock_guard lock(mu_);
    stream_done = true;
    stream_ctx_.reset();
    cv_.notify_all();
  }
  prober.join();
  outcome.established = established;
  outcome.detail = finished.ok() ? "containerd ended the event stream"
                                 : grpc_error(finished, "event stream").message();
  return outcome;
}

void EventMonitor::pause_before_retry(std::chrono::milliseconds backoff) {
  auto until = std::chrono::steady_clock::now() + backoff;
  // While containerd is away, stop waiting as soon as the channel is
  // connected again (which its own back-off bounds to a second), so that a
  // restarted containerd's events are followed again at once. If it is up
  // and the subscription failed for another reason, wait the whole back-off.
  const bool up = containerd_.reachable(std::chrono::milliseconds(0));
  while (!stopping_) {
    auto left =
        std::chrono::ceil<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    // Short slices, so that stop() is not kept waiting.
    auto slice = std::min(left, kPollInterval);
    if (up) {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, slice, [&] { return stopping_.load(); });
    } else if (containerd_.reachable(slice)) {
      return;
    }
  }
}

}  // namespace berth::runtime
