// ShardSet: all shards plus the store-wide state shared by the Store's files
// (internal to storage).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "record/record.h"
#include "storage/shard.h"

namespace syncached::storage {

// All shards plus the store-wide memory account.
class ShardSet {
 public:
  explicit ShardSet(uint32_t n) : shards(n) {}
  Arena arena;  // before shards: their pages live here
  std::vector<Shard> shards;
  std::atomic<int64_t> used{0};  // slab chunks carved + large items + tables
  std::atomic<uint64_t> max_bytes{0};
  std::atomic<uint64_t> flush_cas{0};  // items with cas below this are flushed
  std::atomic<uint32_t> pending_flush_at{0};
  std::mutex flush_mu;  // one flush walk at a time
  std::atomic<uint64_t> too_large{0}, no_memory{0};
  std::vector<uint32_t> class_sizes;
  std::vector<uint8_t> class_of_small;  // (size + 7) / 8 -> class id, sizes < 128 KiB
  std::atomic<bool> crawler_enabled{true};
  uint32_t crawl_shard = 0;  // only the maintenance thread touches it
  // Replicated nodes: peer changes older than the newest flush are refused.
  std::mutex floor_mu;
  record::Version flush_floor;
  std::atomic<bool> has_floor{false};
  std::atomic<uint64_t> tombstone_count{0};
  // The newest version (HLC) of a tombstone of our own that was purged: a peer's copy
  // of our deletes from before it is no longer complete.
  std::atomic<uint64_t> purged_own_hlc{0};
};

}  // namespace syncached::storage
