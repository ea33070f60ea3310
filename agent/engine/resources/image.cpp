#include "agent/engine/resources/image.h"

#include <chrono>
#include <thread>

namespace berth::agent {

namespace {
constexpr int kPullAttempts = 5;
}

Result<StepOutput> ImageResource::ensure(const StepInput& input) {
  BERTH_TRY(failpoint(failpoints_, "image.pull.before"));
  const auto began = std::chrono::steady_clock::now();
  auto pulled = pull(input.image);
  if (metrics_) {
    metrics_->observe_image_pull(
        pulled ? "ok" : "error",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
  }
  auto digest = BERTH_TRY(std::move(pulled));
  // A pulled image is nothing to undo: no task holds it yet.
  BERTH_TRY(failpoint(failpoints_, "image.pull.after"));
  StepOutput out;
  out.image_digest = std::move(digest);
  return out;
}

Result<std::string> ImageResource::pull(const std::string& reference) {
  PullLock* lock = nullptr;
  {
    std::lock_guard guard(pulls_mu_);
    auto& slot = pulls_[reference];
    if (!slot) slot = std::make_unique<PullLock>();
    ++slot->users;
    lock = slot.get();
  }
  struct Leave {
    ImageResource& self;
    const std::string& reference;
    ~Leave() {
      std::lock_guard guard(self.pulls_mu_);
      auto it = self.pulls_.find(reference);
      if (it != self.pulls_.end() && --it->second->users == 0) self.pulls_.erase(it);
    }
  } leave{*this, reference};
  std::lock_guard pulling(lock->mu);
  std::shared_lock gate(gc_.gate());
  auto resolved = images_.resolve(reference);
  if (resolved) return resolved->target_digest;
  if (resolved.error().code() != ErrorCode::kNotFound) return fail(resolved.error());
  // containerd keeps an ingest locked for a moment after its writer died (a
  // berthd killed mid-pull) and says so with UNAVAILABLE: such a pull is
  // retried, with a growing pause. (The engine tells a containerd that is
  // away from a locked ingest by asking containerd itself.)
  for (int attempt = 1;; ++attempt) {
    auto pulled = images_.pull(reference, {}, nullptr);
    if (pulled) return pulled->target.digest;
    if (pulled.error().code() != ErrorCode::kUnavailable || attempt == kPullAttempts) {
      return fail(pulled.error());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500) * attempt);
  }
}

Status ImageResource::release(const StepInput&) {
  // The image stays for other tasks; image GC decides when it goes. (It
  // runs on the engine's owner thread: it must touch nothing.)
  return {};
}

std::vector<RecoveredResource> ImageResource::recover(const std::vector<OwnedResource>& owned,
                                                      const RecoveryScope&,
                                                      std::vector<std::string>& notes) {
  // No pull of this process runs yet: every berth lease is a killed pull's,
  // and would pin its content until it expires.
  if (auto leases = runtime::remove_berth_leases(containerd_); !leases) {
    notes.push_back(leases.error().message() + ", ignoring");
  } else if (*leases > 0) {
    notes.push_back("removed " + std::to_string(*leases) + " lease(s) left by an earlier berthd");
  }
  std::vector<RecoveredResource> out;
  for (const auto& resource : owned) {
    if (resource.phase == Phase::kCreating) {
      out.push_back({resource.task_id, {resource.resource, Recovery::kRolledBack}});
    }
  }
  return out;
}

Status ImageResource::purge(const std::string&) { return {}; }

}  // namespace berth::agent
