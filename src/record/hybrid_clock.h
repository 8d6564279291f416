// HybridClock: issues the versions of this node's mutations (HLC readings, see
// version.h) and merges the readings it sees from peers, so that a change made here
// after receiving a peer's change is always newer than it (docs/REPLICATION.md).
//
// Thread-safe and lock-free: worker threads call Next() concurrently on every mutation,
// replication threads call Observe(). The whole state is one atomic word updated with a
// CAS loop, so no thread ever waits on another holding a lock.
// The Clock passed in must outlive the HybridClock. Internal header: include
// "record/record.h".
#pragma once

#include <atomic>
#include <cstdint>

#include "common/clock.h"
#include "record/version.h"

namespace syncached::record {

class HybridClock {
 public:
  // A peer reading further ahead of our wall clock than this is refused: accepting it
  // would drag every later version (and CAS unique) of this node into the future.
  static constexpr uint64_t kDefaultMaxDriftMillis = 60'000;

  HybridClock(const Clock* clock, uint16_t node,
              uint64_t max_drift_millis = kDefaultMaxDriftMillis);
  HybridClock(const HybridClock&) = delete;
  HybridClock& operator=(const HybridClock&) = delete;

  // The version of a new local mutation. Strictly greater than every version this
  // object returned before and than every reading accepted by Observe(), even when the
  // wall clock steps back; never returns the same hlc twice (CAS uniques rely on it).
  Version Next();

  // Merges a peer's reading so that later Next() > remote_hlc. Returns false (and
  // counts it) if remote_hlc is more than max_drift ahead of our wall clock; the clock
  // is then left unchanged and the caller decides what to do with the change.
  bool Observe(uint64_t remote_hlc);

  // The latest reading issued or observed (0 before any). For stats and tests.
  uint64_t Last() const { return last_.load(std::memory_order_acquire); }
  uint16_t node() const { return node_; }
  uint64_t max_drift_millis() const { return max_drift_millis_; }
  // How many Observe() calls were refused for drift.
  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }

 private:
  const Clock* const clock_;
  const uint16_t node_;
  const uint64_t max_drift_millis_;
  // Invariant: never decreases. Next() publishes max(wall, last_ + 1) with a CAS, so
  // each successful CAS owns a distinct value.
  std::atomic<uint64_t> last_{0};
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace syncached::record
