// Shard: one stripe of the store. Its mutex guards everything in it: the bucket
// arrays, the slabs, the clocks and the counters. Functions ending in Locked expect it
// held.
//
// Memory: items up to kMaxSlabItem bytes take a chunk of their exact size rounded up to
// 4 bytes, from pages (Arena) this shard owns, one chunk size per page; freed chunks go
// to that size's free list, and a page whose last item goes is returned to the arena
// (unless it is the one being carved). Larger items are malloc'd and named through a
// slot table.
//
// Eviction: each chunk size is a CLOCK, as memcached's slab classes each have an LRU,
// so an eviction can free exactly the chunk a store needs. The hand sweeps the class's
// pages (a ring; a new page joins just behind the hand) chunk by chunk; an item read or
// written in place since the hand last passed (kActive) loses the bit and is passed
// over once. The hand moves past each item it evicts, and a store takes the chunk
// freed last, so when the class is full a new item sits just behind the hand: in that
// state CLOCK is exactly the LRU with second chance that linked lists gave, without 8
// bytes of links per item (bench/eviction_policies.py models both). Large (malloc'd)
// items keep an exact LRU linked through their blocks' prefix, 8 bytes next to 512 or
// more: eviction across shards compares their tails (eviction.cc), which a clock over
// slot numbers ordered too loosely.
//
// The table grows incrementally: when items exceed 1.5 x buckets a table twice the
// size is allocated and every later operation on the shard moves a few old buckets
// into it (Redis-style), so no request ever waits for a whole rehash.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "record/record.h"
#include "storage/arena.h"
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

// Per memcached size class: the two gauges every store and free moves, kept inline in the
// shard (a vector would cost a second cache line per request), and the rarer counters.
struct ClassGauge {
  uint64_t items = 0, bytes = 0;
};
constexpr size_t kMaxStatClasses = 64;  // memcached's MAX_NUMBER_OF_SLAB_CLASSES

struct ClassCounters {
  uint64_t evicted = 0, evicted_unfetched = 0, expired_unfetched = 0;
  uint64_t reclaimed = 0, outofmemory = 0, evicted_nonzero = 0, crawler_reclaimed = 0;
  uint32_t evicted_time = 0;
};

// One chunk size's slabs and clock in one shard.
struct SlabClass {
  uint32_t free_head = 0;              // free chunks, doubly linked through their cas
  uint32_t cur_page = Arena::kNoPage;  // the page new chunks are carved from
  uint32_t hand = 0;                   // the page the hand is on (0: no page)
  uint32_t hand_chunk = 0;             // the chunk of that page
  uint32_t items = 0;                  // linked items
  uint32_t pages = 0;                  // in the ring
};

constexpr size_t kMinChunk = sizeof(Item);
constexpr uint8_t kSlabClasses = (kMaxSlabItem - kMinChunk) / Arena::kGrain + 1;
constexpr uint8_t kLargeClass = kSlabClasses;  // malloc'd items: an LRU, no slabs
constexpr uint8_t kNoClass = 0xff;
static_assert(kLargeClass < 128, "nonempty bitmap holds 128 classes");

// A shard's state per size class, allocated when it first takes an item: idle, the
// 256 shards would hold about 1 MiB of it.
struct ShardClasses {
  SlabClass slabs[kSlabClasses];
  ClassGauge gauges[kMaxStatClasses];  // by memcached class id
};

class alignas(64) Shard {
 public:
  Shard() = default;
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // `used` is the store-wide memory account that slab pages and large items charge.
  void InitLocked(uint32_t power, size_t classes, Arena* arena, std::atomic<int64_t>* used);

  Item* Ptr(uint32_t ref) const {
    if (ref & Arena::kLargeBit) return large_[ref & ~Arena::kLargeBit];
    return ref ? reinterpret_cast<Item*>(arena_->At(ref)) : nullptr;
  }
  uint32_t RefOf(const Item* it) const;
  static uint8_t ClassForSize(size_t total) {
    return total <= kMaxSlabItem
               ? static_cast<uint8_t>((std::max(total, kMinChunk) - kMinChunk + 3) / 4)
               : kLargeClass;
  }
  static size_t ChunkSize(uint8_t cls) { return kMinChunk + size_t{cls} * Arena::kGrain; }
  uint8_t AllocClassOf(const Item* it) const {
    return arena_->Contains(it) ? arena_->info(arena_->PageOf(it)).cls : kLargeClass;
  }
  // Memory an item holds: its chunk, or malloc's block + header + slot.
  size_t ChargeOf(const Item* it) const;
  // Bytes AllocLocked would newly charge for an item of `total` bytes (0: a free chunk).
  size_t NewChargeFor(uint8_t cls, size_t total) const;
  bool HasFreeChunk(uint8_t cls) const {
    return cls < kSlabClasses && classes_ && classes_->slabs[cls].free_head;
  }
  // An uninitialised item of `total` bytes, or null (out of address space or malloc).
  Item* AllocLocked(uint8_t cls, size_t total);
  void FreeLocked(Item* it);  // must be unlinked
  // Whether an item of `total` bytes and class `cls` may be written over `it`'s memory:
  // the same slab class, or a malloc block it fills to within an eighth.
  bool FitsInPlace(const Item* it, uint8_t cls, size_t total) const;
  // Whether [p, p + n) lies inside `it`'s chunk or block.
  bool Overlaps(const Item* it, const char* p, size_t n) const;

  // Eviction: the class whose candidate was least recently used (prefer wins ties), or
  // kNoClass. `keep` is never a candidate.
  uint8_t OldestClassLocked(uint8_t prefer, const Item* keep);
  // The class's next eviction candidate: the first item from its hand on (large: its
  // LRU tail), skipping `keep` (free chunks on the way are passed for good); null when
  // it holds none else.
  Item* Candidate(uint8_t cls, const Item* keep);
  // The first item from the hand on without moving it, within a short look (stats).
  const Item* Peek(uint8_t cls) const;
  // The item after `it` in the class's eviction order, or null.
  Item* NextInClock(uint8_t cls, const Item* it) const;
  // Moves the class's hand past `it` (a candidate: evicted or given its second chance);
  // large: moves it to its LRU's head.
  void PassLocked(uint8_t cls, Item* it);
  Arena* arena() const { return arena_; }
  // Page reclaim: chunk i of a page, and "carve no more from it" (so it is returned
  // to the arena when its last item goes, at once if it has none).
  Item* PageChunk(uint32_t page, uint32_t i) const;
  void RetirePageLocked(uint32_t page);
  // Frees the large items' blocks (the arena's pages go with the arena).
  void FreeLargeLocked();

  // The item under key, or null. Moves a few buckets when the table is growing.
  Item* FindLocked(std::string_view key, uint64_t hash);
  void LinkLocked(Item* it, uint64_t hash);  // key must not be linked already
  void UnlinkLocked(Item* it, uint64_t hash);
  // Replaces `old_it` (linked) by `it` in the same bucket chain.
  void ReplaceLocked(Item* old_it, Item* it, uint64_t hash);

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
    if (old_table_) WalkLocked(old_table_, migrate_pos_, uint64_t{1} << old_power_, fn);
    WalkLocked(table_, 0, buckets(), fn);
  }

  // Buckets [from, to) in order, the items of a few buckets ahead prefetched: items lie
  // in hash order all over the arena, and a walk (a copy, a digest rebuild) would
  // otherwise wait on memory for each one.
  template <typename F>
  void WalkLocked(const uint32_t* table, uint64_t from, uint64_t to, F& fn) {
    constexpr uint64_t kAhead = 8;
    for (uint64_t b = from; b < to; ++b) {
      if (b + kAhead < to) {
        if (const Item* ahead = Ptr(table[b + kAhead])) {
          __builtin_prefetch(ahead);
          __builtin_prefetch(reinterpret_cast<const char*>(ahead) + 48);  // the key's end
        }
      }
      for (Item* it = Ptr(table[b]); it; it = Ptr(it->h_next)) fn(it);
    }
  }

  // Layout: what every lookup touches (lock, table, arena, large-item slots) shares the
  // first cache line and what every store touches the second. With hundreds of shards
  // these lines are rarely cached, so each one more is a memory access per request.
  ShardMutex mu;

 private:
  uint32_t power_ = 0;
  uint32_t* table_ = nullptr;
  uint32_t* old_table_ = nullptr;
  Arena* arena_ = nullptr;
  std::vector<Item*> large_;  // slot -> malloc'd item
  uint32_t old_power_ = 0;
  std::vector<uint32_t> large_free_;
  SlabClass large_class_;                     // kLargeClass's item count (no slabs)
  uint32_t large_head_ = 0, large_tail_ = 0;  // its LRU, most recent first
  uint64_t nonempty_[2] = {0, 0};             // bit per class that holds items
  std::atomic<int64_t>* used_ = nullptr;

 public:
  // Counters (guarded by mu).
  uint64_t bytes = 0;  // item bytes charged in this shard
  uint64_t total_items = 0;

 private:
  uint64_t count_ = 0;
  uint64_t ttl_items_ = 0;
  uint64_t migrate_pos_ = 0;

 public:
  uint64_t evictions = 0, reclaimed = 0, expired_unfetched = 0;
  uint64_t evicted_unfetched = 0, get_expired = 0, get_flushed = 0, crawler_reclaimed = 0;
  // Items and bytes by memcached class id; null before the shard took an item.
  ClassGauge& Gauge(size_t id) { return Classes().gauges[id]; }
  const ClassGauge* gauges() const { return classes_ ? classes_->gauges : nullptr; }
  // Evictions and reclaims by memcached class id: empty until the first is counted.
  ClassCounters& Counters(size_t id) {
    if (counters_.empty()) counters_.resize(stat_classes_);
    return counters_[id];
  }
  const std::vector<ClassCounters>& counters() const { return counters_; }
  void ResetCounters() { counters_.clear(); }
  // Replicated nodes only: delete markers, so a late older write cannot resurrect a key.
  struct Tombstone {
    record::Version version;
    uint32_t created;
  };
  std::unordered_map<std::string, Tombstone> tombstones;
  uint64_t conflicts = 0;
  uint64_t flush_walked = 0;  // the flush boundary this shard's items were last walked for

 private:
  uint32_t* BucketLocked(uint64_t hash);
  void CountLinked(Item* it, int delta);
  // The large items keep an exact LRU, linked through their malloc blocks' prefix (slab.cc):
  // 8 bytes next to 512 or more, and eviction across shards compares their tails.
  void LargeLruPushLocked(Item* it);
  void LargeLruUnlinkLocked(Item* it);
  Item* LargeLruPrev(const Item* it) const;
  void PageRingInsert(uint8_t cls, uint32_t page);
  void PageRingRemove(uint8_t cls, uint32_t page);
  // Slab classes' clocks: the position after (page, chunk), false without pages; the
  // item at a position (null: a free chunk or not carved yet).
  bool Step(uint32_t* page, uint32_t* chunk) const;
  Item* At(uint32_t page, uint32_t chunk) const;
  void Position(uint8_t cls, const Item* it, uint32_t* page, uint32_t* chunk) const;
  void FreeListPush(uint8_t cls, Item* chunk);
  void FreeListRemove(uint8_t cls, Item* chunk);
  void ReleasePageLocked(uint32_t page);
  ShardClasses& Classes() {
    if (!classes_) classes_ = std::make_unique<ShardClasses>();
    return *classes_;
  }
  SlabClass& Slab(uint8_t cls) { return cls == kLargeClass ? large_class_ : Classes().slabs[cls]; }
  const SlabClass& Slab(uint8_t cls) const {
    static const SlabClass kNone;
    if (cls == kLargeClass) return large_class_;
    return classes_ ? classes_->slabs[cls] : kNone;
  }

  std::unique_ptr<ShardClasses> classes_;
  std::vector<ClassCounters> counters_;
  size_t stat_classes_ = 0;
};

uint64_t HashKey(std::string_view key);

}  // namespace syncached::storage
