// Image GC: every interval, images of berth's containerd namespace that no
// task record names (running or stopped, until the task is removed), that
// no container uses, and that have been unused for a minimum age are
// removed; containerd then collects their content and snapshots.
//
// Pulls and container creates hold the gate shared while they run; the GC
// holds it alone while it checks and removes, so it never removes an image
// that a task admitted meanwhile is about to use.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "agent/state/record.h"
#include "common/clock.h"
#include "runtime/containers.h"
#include "runtime/images.h"

namespace berth::agent {

class ImageGc {
 public:
  ImageGc(runtime::ImageService& images, runtime::ContainerService& containers,
          std::chrono::seconds min_age, const Clock& clock)
      : images_(images), containers_(containers), min_age_(min_age), clock_(clock) {}

  // Held shared by pulls and creates.
  std::shared_mutex& gate() { return gate_; }
  // Counts a task's images in (+1) or out (-1) of use.
  void note(const TaskRecord& record, int delta);
  // One collection (on a worker); returns one line per image removed and
  // per failure, then a summary, for the caller to log.
  std::vector<std::string> collect();

 private:
  struct Use {
    int tasks = 0;            // task records naming the image
    int64_t released_ms = 0;  // when the last one went
  };
  runtime::ImageService& images_;
  runtime::ContainerService& containers_;
  std::chrono::seconds min_age_;
  const Clock& clock_;
  std::shared_mutex gate_;
  std::mutex mu_;                           // guards use_ and seen_ms_
  std::map<std::string, Use> use_;          // by containerd image name
  std::map<std::string, int64_t> seen_ms_;  // first seen, for images berth never used
};

}  // namespace berth::agent
