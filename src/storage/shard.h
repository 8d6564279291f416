// Shard: one stripe of the store. Its mutex guards everything in it: the bucket
// arrays, the LRU list and the counters. Functions ending in Locked expect it held.
//
// The table grows incrementally: when items exceed 1.5 x buckets a table twice the
// size is allocated and every later operation on the shard moves a few old buckets
// into it (Redis-style), so no request ever waits for a whole rehash.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "record/record.h"
#include "storage/item.h"

namespace syncached::storage {

// The shard lock: a futex word (0 free, 1 held, 2 held with sleepers). Every request takes
// one, nearly always uncontended; this costs a compare-exchange and an exchange where
// pthread_mutex_lock/unlock cost ~45 instructions more per request. Contended, it spins
// briefly (critical sections are a hash walk and a copy), then sleeps in the kernel.
class ShardMutex {
 public:
  void lock() {
    uint32_t c = 0;
    if (!state_.compare_exchange_strong(c, 1, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
      LockSlow();
    }
  }
  bool try_lock() {
    uint32_t c = 0;
    return state_.compare_exchange_strong(c, 1, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  void unlock() {
    if (state_.exchange(0, std::memory_order_release) == 2) Wake();
  }

 private:
  void LockSlow();
  void Wake();
  std::atomic<uint32_t> state_{0};
};

struct ClassCounters {
  uint64_t items = 0, bytes = 0, evicted = 0, evicted_unfetched = 0, expired_unfetched = 0;
  uint64_t reclaimed = 0, outofmemory = 0, evicted_nonzero = 0;
  uint32_t evicted_time = 0;
};

class alignas(64) Shard {
 public:
  Shard() = default;
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  void InitLocked(uint32_t power, size_t classes);

  // The item under key, or null. Moves a few buckets when the table is growing.
  Item* FindLocked(std::string_view key, uint64_t hash);
  void LinkLocked(Item* it, uint64_t hash);  // key must not be linked already
  void UnlinkLocked(Item* it, uint64_t hash);
  // Replaces `old_it` (linked) by `it` in the same bucket chain and LRU head.
  void ReplaceLocked(Item* old_it, Item* it, uint64_t hash);

  void LruBumpLocked(Item* it);
  Item* lru_tail() const { return lru_tail_; }

  bool NeedsGrowLocked() const { return old_table_ == nullptr && count_ > (buckets() * 3) / 2; }
  // Starts a grow; returns the bytes of the new table, which the caller charges.
  size_t StartGrowLocked();
  // Moves up to n old buckets; returns bytes freed when the old table is released.
  size_t MigrateLocked(uint32_t n);
  bool growing() const { return old_table_ != nullptr; }
  uint64_t buckets() const { return uint64_t{1} << power_; }
  uint32_t power() const { return power_; }
  uint64_t count() const { return count_; }
  // Items with an expiry: the crawler skips shards that have none.
  uint64_t ttl_items() const { return ttl_items_; }
  void ExptimeChangedLocked(uint32_t from, uint32_t to) { ttl_items_ += (to != 0) - (from != 0); }
  size_t table_bytes() const;

  // Visits items bucket by bucket (old table first while growing). fn may not unlink.
  template <typename F>
  void ForEachLocked(F&& fn) {
    if (old_table_) {
      for (uint64_t b = migrate_pos_; b < (uint64_t{1} << old_power_); ++b)
        for (Item* it = old_table_[b]; it; it = it->h_next) fn(it);
    }
    for (uint64_t b = 0; b < buckets(); ++b)
      for (Item* it = table_[b]; it; it = it->h_next) fn(it);
  }

  ShardMutex mu;
  // Counters (guarded by mu).
  uint64_t total_items = 0, evictions = 0, reclaimed = 0, expired_unfetched = 0;
  uint64_t evicted_unfetched = 0, get_expired = 0, get_flushed = 0, crawler_reclaimed = 0;
  uint64_t bytes = 0;  // item bytes charged in this shard
  std::vector<ClassCounters> classes;
  // Replicated nodes only: delete markers, so a late older write cannot resurrect a key.
  struct Tombstone {
    record::Version version;
    uint32_t created;
  };
  std::unordered_map<std::string, Tombstone> tombstones;
  uint64_t conflicts = 0;

 private:
  Item** BucketLocked(uint64_t hash);
  void LruUnlinkLocked(Item* it);
  void LruPushFrontLocked(Item* it);

  Item** table_ = nullptr;
  uint32_t power_ = 0;
  Item** old_table_ = nullptr;
  uint32_t old_power_ = 0;
  uint64_t migrate_pos_ = 0;
  uint64_t count_ = 0;
  uint64_t ttl_items_ = 0;
  Item* lru_head_ = nullptr;  // most recently used
  Item* lru_tail_ = nullptr;
};

uint64_t HashKey(std::string_view key);

}  // namespace syncached::storage
