// A fixed set of threads running blocking jobs. The engine keeps two: a
// control pool for short steps (create, start, signal, teardown, network
// and cgroup steps) and a slow pool for long ones (pulls, health checks,
// image GC), so that a stalled registry never delays a stop. The engine
// hands a pool no more jobs than it has threads (busy() says how many run),
// so nothing waits in a queue behind a long job.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace berth::agent {

class WorkerPool {
 public:
  WorkerPool(std::string name, size_t threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void start();
  // Lets the running jobs finish and drops the queued ones.
  void stop();
  void submit(std::function<void()> job);

  size_t threads() const { return threads_; }
  const std::string& name() const { return name_; }

 private:
  void loop();

  std::string name_;
  size_t threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace berth::agent
