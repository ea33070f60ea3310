#include "agent/engine/image_gc.h"

namespace berth::agent {

void ImageGc::note(const TaskRecord& record, int delta) {
  int64_t now = clock_.wall_ms();
  std::lock_guard lock(mu_);
  for (const auto& c : record.containers) {
    auto name = runtime::ImageService::image_name(c.image);
    if (!name) continue;
    Use& use = use_[*name];
    use.tasks += delta;
    if (use.tasks <= 0) {
      use.tasks = 0;
      use.released_ms = now;
    }
  }
}

std::vector<std::string> ImageGc::collect() {
  std::vector<std::string> notes;
  auto images = images_.list();
  if (!images) return {"image GC: " + images.error().message()};
  auto in_containers = containers_.image_names();
  if (!in_containers) return {"image GC: " + in_containers.error().message()};
  int64_t min_age_ms = std::chrono::duration_cast<std::chrono::milliseconds>(min_age_).count();
  std::unique_lock gc(gate_);
  int64_t now = clock_.wall_ms();
  std::map<std::string, int64_t> seen;
  size_t removed_count = 0;
  for (const auto& image : *images) {
    std::lock_guard lock(mu_);
    // An image berthd never saw used counts from when it first saw it.
    auto first_seen = seen_ms_.find(image.name);
    int64_t first = seen[image.name] = first_seen != seen_ms_.end() ? first_seen->second : now;
    if (in_containers->contains(image.name) || now - first < min_age_ms) continue;
    auto use = use_.find(image.name);
    if (use != use_.end()) {
      if (use->second.tasks > 0 || now - use->second.released_ms < min_age_ms) continue;
      use_.erase(use);
    }
    if (auto removed = images_.remove(image.name); !removed) {
      notes.push_back("image GC: " + removed.error().message());
      continue;
    }
    seen.erase(image.name);
    ++removed_count;
    notes.push_back("image GC: removed '" + image.name + "' (" + std::to_string(image.size) +
                    " bytes), unused for " + std::to_string(min_age_ms / 1000) + " s or more");
  }
  std::lock_guard lock(mu_);
  seen_ms_ = std::move(seen);
  notes.push_back("image GC: " + std::to_string(images->size()) + " image(s), " +
                  std::to_string(removed_count) + " removed");
  return notes;
}

}  // namespace berth::agent
