// pecl/memcache 3.x-8.x's consistent strategy with crc32 (its consistent hash and its
// pool's failover), reimplemented. Each server has weight * 160 points named
// "host:port-i" (always with the port); the ring is quantised into 1024 buckets, the
// owner of bucket b being the first point >= b * (0xffffffff / 1024), wrapping; a key
// goes to bucket crc32(key) % 1024. Dead servers stay on the ring: failover rehashes
// "key-0", "key-1", ... up to memcache.max_failover_attempts. Its session handler asks
// for "sid-0", "sid-1", ... from the start and sends the lock "sid.lock" to the
// session's servers.
#include <algorithm>
#include <array>
#include <cstdio>
#include <string>

#include "placement/hashes.h"
#include "placement/ring_impl.h"

namespace syncached::placement {
namespace {

constexpr uint32_t kPoints = 160;    // MMC_CONSISTENT_POINTS
constexpr uint32_t kBuckets = 1024;  // MMC_CONSISTENT_BUCKETS

class MemcacheRing : public Ring::Impl {
 public:
  MemcacheRing(const Members& members, unsigned max_attempts, bool session)
      : max_attempts_(max_attempts), session_(session) {
    struct Point {
      uint32_t value;
      uint32_t index;
    };
    std::vector<Point> points;
    for (const auto& m : members.nodes()) {
      auto idx = static_cast<uint32_t>(ids_.size());
      ids_.push_back(m.id);
      std::string stem = m.host + ":" + std::to_string(m.port) + "-";
      for (uint32_t i = 0; i < m.weight * kPoints; ++i) {
        points.push_back({Crc32(stem + std::to_string(i)), idx});
      }
    }
    // pecl sorts with qsort on the value alone; equal values (rare) may order differently.
    std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) {
      return a.value != b.value ? a.value < b.value : a.index < b.index;
    });
    const uint32_t step = 0xffffffffu / kBuckets;
    for (uint32_t b = 0; b < kBuckets; ++b) {
      uint32_t target = step * b;
      auto it = std::lower_bound(points.begin(), points.end(), target,
                                 [](const Point& p, uint32_t t) { return p.value < t; });
      buckets_[b] = (it == points.end() ? points.front() : *it).index;
    }
  }

  void Owners(std::string_view key, size_t r, const Ring::Alive* alive,
              std::vector<NodeId>* out) const override {
    size_t want = out->size() + std::min(r, ids_.size());
    if (r == 0 || ids_.empty()) return;
    SeenSet seen(ids_.size());
    auto consider = [&](uint32_t idx) {
      if (seen.Insert(idx) && (!alive || (*alive)(ids_[idx]))) out->push_back(ids_[idx]);
    };
    if (session_) {
      constexpr std::string_view kLock = ".lock";
      if (key.size() > kLock.size() && key.substr(key.size() - kLock.size()) == kLock) {
        key.remove_suffix(kLock.size());
      }
    } else {
      consider(Find(key));
    }
    thread_local std::string probe;  // reused: a lookup per key allocates nothing
    probe.assign(key);
    probe += '-';
    size_t base = probe.size();
    char digits[16];
    for (unsigned i = 0; i < max_attempts_ && out->size() < want; ++i) {
      probe.resize(base);
      probe.append(digits, static_cast<size_t>(std::snprintf(digits, sizeof digits, "%u", i)));
      consider(Find(probe));
    }
    if (out->size() > want) out->resize(want);
  }

 private:
  uint32_t Find(std::string_view key) const {
    if (ids_.size() == 1) return 0;
    return buckets_[Crc32(key) % kBuckets];
  }

  unsigned max_attempts_;
  bool session_;
  std::vector<NodeId> ids_;
  std::array<uint32_t, kBuckets> buckets_{};
};

}  // namespace

std::unique_ptr<Ring::Impl> MakeMemcacheRing(const Members& members, unsigned max_failover_attempts,
                                             bool session) {
  return std::make_unique<MemcacheRing>(members, max_failover_attempts, session);
}

}  // namespace syncached::placement
