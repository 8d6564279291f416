#include "record/hybrid_clock.h"

#include <algorithm>
#include <cassert>

namespace syncached::record {

HybridClock::HybridClock(const Clock* clock, uint16_t node, uint64_t max_drift_millis)
    : clock_(clock), node_(node), max_drift_millis_(max_drift_millis) {
  assert(clock != nullptr);
}

Version HybridClock::Next() {
  // The packed layout makes the HLC send rule one max(): a wall clock ahead of us resets
  // the logical counter to 0; otherwise last + 1 bumps the counter, and a counter at
  // 0xffff carries into the millisecond part, which is the overflow rule we want.
  const uint64_t wall = MakeHlc(std::min(clock_->NowMillis(), kHlcMaxMillis), 0);
  uint64_t old = last_.load(std::memory_order_acquire);
  uint64_t next;
  do {
    // Observe() refuses readings near the top of the range, so old + 1 cannot wrap.
    next = std::max(wall, old + 1);
  } while (!last_.compare_exchange_weak(old, next, std::memory_order_acq_rel,
                                        std::memory_order_acquire));
  return Version{next, node_};
}

bool HybridClock::Observe(uint64_t remote_hlc) {
  const uint64_t now_ms = clock_->NowMillis();
  const uint64_t limit_ms =
      now_ms > UINT64_MAX - max_drift_millis_ ? UINT64_MAX : now_ms + max_drift_millis_;
  // The second test only matters with a huge configured drift; it keeps Next()'s
  // last + 1 from ever wrapping to 0.
  if (HlcMillis(remote_hlc) > limit_ms || HlcMillis(remote_hlc) >= kHlcMaxMillis) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // Receive rule: last = max(last, remote). Next() then adds the +1 and the wall clock,
  // so nothing else is needed here.
  uint64_t old = last_.load(std::memory_order_acquire);
  while (old < remote_hlc &&
         !last_.compare_exchange_weak(old, remote_hlc, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
  }
  return true;
}

}  // namespace syncached::record
