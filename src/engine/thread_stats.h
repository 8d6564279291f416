// ThreadStats: request counters of one worker thread, named as memcached names them.
// Only the owning thread writes (relaxed load+store, no lock prefix on the hot path);
// `stats` sums all threads with relaxed loads, which is exact enough for counters.
#pragma once

#include <atomic>
#include <cstdint>

namespace syncached::engine {

// One counter a line; clang-format does not settle on a layout for this list.
// clang-format off
#define SYNCACHED_THREAD_COUNTERS(X) \
  X(cmd_get) \
  X(cmd_set) \
  X(cmd_flush) \
  X(cmd_touch) \
  X(cmd_meta) \
  X(get_hits) \
  X(get_misses) \
  X(delete_misses) \
  X(delete_hits) \
  X(incr_misses) \
  X(incr_hits) \
  X(decr_misses) \
  X(decr_hits) \
  X(cas_misses) \
  X(cas_hits) \
  X(cas_badval) \
  X(touch_hits) \
  X(touch_misses) \
  X(store_too_large) \
  X(store_no_memory) \
  X(auth_cmds) \
  X(auth_errors) \
  X(conn_yields)
// clang-format on

class Counter {
 public:
  Counter() = default;
  Counter(const Counter& o) : v_(o.Get()) {}
  Counter& operator=(const Counter& o) {
    v_.store(o.Get(), std::memory_order_relaxed);
    return *this;
  }
  void Add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t Get() const { return v_.load(std::memory_order_relaxed); }
  void Reset() { v_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

struct ThreadStats {
#define SYNCACHED_DECLARE(name) Counter name;
  SYNCACHED_THREAD_COUNTERS(SYNCACHED_DECLARE)
#undef SYNCACHED_DECLARE
  // Per size class, for `stats slabs` (index = class id; 0 unused).
  static constexpr int kClasses = 64;
  struct PerClass {
    Counter get_hits, cmd_set, delete_hits, incr_hits, decr_hits, cas_hits, cas_badval, touch_hits;
  };
  PerClass per_class[kClasses];
  PerClass& Class(uint32_t id) { return per_class[id < kClasses ? id : kClasses - 1]; }
};

}  // namespace syncached::engine
