// A fixed set of threads that run queued jobs (the server's handlers), so
// that a slow handler never holds up the I/O thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/error.h"

namespace berth::http {

class WorkerPool {
 public:
  using Job = std::move_only_function<void()>;

  // Starts `threads` threads (at least one).
  static Result<std::unique_ptr<WorkerPool>> start(size_t threads);
  ~WorkerPool();  // stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `job`; after stop() it is dropped unrun.
  void submit(Job job);
  // Drops the jobs not yet started, waits for the running ones, joins the
  // threads. Idempotent; not from a job.
  void stop();

 private:
  WorkerPool() = default;
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace berth::http
