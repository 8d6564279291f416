// The ring kinds behind Ring. Internal to placement.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "placement/placement.h"

namespace syncached::placement {

// Which of a ring's n servers a lookup already met: a word for the usual few servers,
// a vector beyond (a lookup per key must not allocate).
class SeenSet {
 public:
  explicit SeenSet(size_t n) {
    if (n > 64) big_.assign(n, false);
  }
  // True the first time i is seen.
  bool Insert(size_t i) {
    if (big_.empty()) {
      uint64_t bit = uint64_t{1} << i;
      bool fresh = (small_ & bit) == 0;
      small_ |= bit;
      return fresh;
    }
    bool fresh = !big_[i];
    big_[i] = true;
    return fresh;
  }

 private:
  uint64_t small_ = 0;
  std::vector<bool> big_;
};

class Ring::Impl {
 public:
  virtual ~Impl() = default;
  // key is what the client hashes (prefix already stripped); alive may be null. Appends
  // to out, which the caller cleared (lookups per key in bulk allocate nothing).
  virtual void Owners(std::string_view key, size_t r, const Alive* alive,
                      std::vector<NodeId>* out) const = 0;
};

// libmemcached's ketama continuum. libketama_compatible: MD5 key hash and weighted
// MD5 points (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED); else one-at-a-time
// (MEMCACHED_BEHAVIOR_KETAMA), whose points turn weighted once any weight is > 1.
std::unique_ptr<Ring::Impl> MakeKetamaRing(const Members& members, bool libketama_compatible);
// pecl/memcache's consistent strategy with crc32; `session`: as its session handler
// places sessions and their locks (RingKind::kMemcacheSession).
std::unique_ptr<Ring::Impl> MakeMemcacheRing(const Members& members, unsigned max_failover_attempts,
                                             bool session);

}  // namespace syncached::placement
