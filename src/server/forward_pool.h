// Threads that run requests bound for another node (sharded nodes, docs/SHARDING.md),
// so a net worker never waits on another node: two workers forwarding to each other's
// nodes would otherwise each wait for the other, busy, one until the timeout.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace syncached::server {

class ForwardPool {
 public:
  ForwardPool(int threads, size_t max_queued);
  ~ForwardPool();
  ForwardPool(const ForwardPool&) = delete;
  ForwardPool& operator=(const ForwardPool&) = delete;

  // Queues task for a pool thread; false when max_queued tasks already wait (bounded:
  // the caller then runs it itself).
  bool Submit(std::function<void()> task);
  // Drops queued tasks, waits for running ones, joins. Idempotent.
  void Stop();

 private:
  void Run();

  size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace syncached::server
