#include "controlplane/node/write_budget.h"

#include <algorithm>

namespace berth::controlplane {

double WriteBudget::tokens_at(const Bucket& bucket, Clock::time_point now) const {
  double refilled =
      std::chrono::duration<double>(now - bucket.at) / std::chrono::duration<double>(interval_);
  return std::min(burst_, bucket.tokens + std::max(0.0, refilled));
}

bool WriteBudget::take(const std::string& key, Clock::time_point now) {
  auto it = buckets_.find(key);
  double tokens = it == buckets_.end() ? burst_ : tokens_at(it->second, now);
  if (tokens < 1.0) return false;
  buckets_[key] = {tokens - 1.0, now};
  return true;
}

WriteBudget::Clock::time_point WriteBudget::next(const std::string& key,
                                                 Clock::time_point now) const {
  auto it = buckets_.find(key);
  if (it == buckets_.end()) return now;
  double tokens = tokens_at(it->second, now);
  if (tokens >= 1.0) return now;
  auto wait =
      std::chrono::ceil<Clock::duration>((1.0 - tokens) * std::chrono::duration<double>(interval_));
  return now + wait;
}

}  // namespace berth::controlplane
