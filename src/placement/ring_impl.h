// The ring kinds behind Ring. Internal to placement.
#pragma once

#include <memory>

#include "placement/placement.h"

namespace syncached::placement {

class Ring::Impl {
 public:
  virtual ~Impl() = default;
  // key is what the client hashes (prefix already stripped); alive may be null.
  virtual std::vector<NodeId> Owners(std::string_view key, size_t r, const Alive* alive) const = 0;
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
