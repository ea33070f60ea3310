#include "common/http/worker_pool.h"

#include <string>
#include <system_error>
#include <utility>

namespace berth::http {

Result<std::unique_ptr<WorkerPool>> WorkerPool::start(size_t threads) {
  if (threads == 0) return fail(ErrorCode::kInvalidArgument, "a worker pool needs a thread");
  std::unique_ptr<WorkerPool> pool(new WorkerPool());
  try {
    for (size_t i = 0; i < threads; ++i)
      pool->threads_.emplace_back([p = pool.get()] { p->run(); });
  } catch (const std::system_error& error) {
    pool->stop();
    return fail(Error(ErrorCode::kInternal, std::string("start worker thread: ") + error.what(),
                      error.code().value()));
  }
  return pool;
}

WorkerPool::~WorkerPool() { stop(); }

void WorkerPool::submit(Job job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
}

void WorkerPool::stop() {
  std::deque<Job> dropped;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  wake_.notify_all();
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

void WorkerPool::run() {
  while (true) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
  }
}

}  // namespace berth::http
