// storage: the in-memory item store. A hash table split into shards, each guarded by
// its own mutex (striped locking: see docs/ARCHITECTURE.md for why not per-thread
// partitions), with incremental table growth, a memory limit counted per item
// (header + key + value + allocator overhead) plus table bytes, per-shard CLOCK
// eviction (an LRU with second chance, without links), lazy and background reclaim of expired
// items, 64-bit CAS, and one record::ChangeView per successful mutation published to a
// record::Sink.
//
// The store knows nothing of protocols or sockets. Command semantics (add vs set,
// cas checks, incr parsing...) live in engine, which runs them inside Access(), where
// the key's shard is locked for the duration of the callback.
//
// Threads: every public member is safe to call from any thread. An Accessor and the
// ItemRef it hands out are valid only inside the Access() callback that produced them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "record/record.h"

namespace syncached::storage {

// Internal to storage (item.h, shard.h, shard_set.h); named here only as pointers.
class Item;
class Shard;
class ShardSet;

class Store;

struct Options {
  uint64_t max_bytes = 64ull << 20;   // -m
  bool evict = true;                  // false with -M
  uint32_t item_size_max = 1u << 20;  // -I: largest key + value + header we store
  bool cas_enabled = true;            // false with -C: CAS uniques read as 0
  uint32_t shard_bits = 8;            // 2^shard_bits shards
  uint32_t initial_hash_power = 10;   // per shard, buckets = 2^power (grows as needed)
  uint16_t node_id = 0;               // stamped into every version
  uint32_t slab_chunk_min = 96;       // size classes reported as memcached's -n/-f would
  double slab_growth_factor = 1.25;
  // Replicated node: deletes leave tombstones, touch gives a new version (so replicas
  // apply it), and Apply() takes peers' changes last-writer-wins.
  bool replicated = false;
  uint32_t tombstone_ttl = 3600;       // seconds a delete marker is kept
  uint64_t max_tombstones = 4u << 20;  // over this, the oldest go first
};

// Outcome of an allocation-bearing operation.
enum class PutStatus { kOk, kTooLarge, kNoMemory };

// Read-only view of a live item, valid inside the Access() callback. Its accessors are
// out of line so the item layout stays inside storage.
class ItemRef {
 public:
  ItemRef() = default;
  explicit ItemRef(Item* it) : it_(it) {}
  explicit operator bool() const { return it_ != nullptr; }
  std::string_view key() const;
  std::string_view value() const;
  uint32_t flags() const;
  uint32_t exptime() const;      // absolute unix seconds, 0 = never
  uint32_t last_access() const;  // unix seconds of the last store or hit
  uint64_t cas() const;          // engine reports 0 when -C
  record::Version version() const;
  bool fetched() const;  // read since stored
  bool stale() const;    // meta invalidation (I flag)
  bool win_token_sent() const;
  bool key_binary() const;  // key came base64 (meta b)

 private:
  Item* it_ = nullptr;
};

struct PutArgs {
  std::string_view value;  // value = prefix + value + suffix (append/prepend)
  std::string_view prefix;
  std::string_view suffix;
  uint32_t flags = 0;
  uint32_t exptime = 0;  // absolute unix seconds, 0 = never
  uint64_t cas = 0;      // 0: assign a fresh CAS; else use this one (meta E)
  bool key_binary = false;
  bool stale = false;
  bool win_token_sent = false;
  const record::Version* version = nullptr;  // a peer's version to keep (Apply)
};

// What Apply() did with a peer's change.
enum class ApplyResult { kApplied, kStale };

// How Apply treats a change older than what the key holds.
//   kNewer:   a peer's change, last writer wins: older ones are refused (replication).
//   kRestore: this node's own history replayed in the order it happened (loading a
//             snapshot and journal from disk): always taken, because a single node's
//             touch keeps the version and a meta E CAS may go backwards, and the log's
//             order per key is the order the mutations were made.
enum class ApplyMode { kNewer, kRestore };

// Why the last Find() came back empty.
enum class Miss : uint8_t { kNone, kFlushed, kExpired };

// Told of each eviction of a live item (expired ones reclaimed are not evictions), with the
// item's shard locked: must be quick and must not call back into the store. Set once,
// before the store is shared (SetEvictionListener).
class EvictionListener {
 public:
  virtual ~EvictionListener() = default;
  virtual void OnEviction(const ItemRef& victim, uint32_t now) = 0;
};

// Told of every change to what the store holds under a key, item or tombstone, live or
// not yet reclaimed (anti-entropy keeps digests of it: docs/REPAIR.md), with the key's
// shard locked: must be quick, thread-safe across shards, and must not call back into the
// store. Set once, before the store is shared (SetContentListener).
class ContentListener {
 public:
  virtual ~ContentListener() = default;
  // The store now holds (`held`) or no longer holds this version of the key.
  virtual void OnContent(std::string_view key, record::Version version, bool tombstone,
                         bool held) = 0;
  // The key's item was evicted under memory pressure at `now` (unix seconds; OnContent
  // told of its removal).
  virtual void OnEvicted(std::string_view key, uint32_t now) = 0;
};

// Operations on one key while its shard is locked. Every mutation publishes one
// change record. Returned ItemRefs die when the callback returns or the item changes.
class Accessor {
 public:
  // The live item under the key, or empty. Expired or flushed items are unlinked on
  // the way (counted as get_expired / get_flushed when `count_miss_reason`).
  ItemRef Find(bool count_miss_reason = true);
  // Find(false) for a store, which reuses a dead item's memory: a dead item found is
  // counted reclaimed (as memcached's allocation counts it, whatever the store's outcome).
  ItemRef FindForStore();
  // After an empty Find(): whether an item was there but dead (memcached's item_get status).
  Miss miss() const { return miss_; }
  // Replace (or create) the item. `out` receives the new item when kOk.
  PutStatus Put(const PutArgs& args, ItemRef* out);
  // Unlink the item; publishes a delete record.
  void Delete();
  // Mutations that keep the value: new exptime (touch/gat), stale/win bits, CAS.
  // SetExptime and MarkStale publish a change; the bits below are local hints.
  void SetExptime(uint32_t exptime);
  void MarkStale(bool stale);  // new CAS, clears win_token_sent
  void SetWinTokenSent();
  // Sets fetched and last_access, and marks the item active: the eviction clock passes
  // an active item once instead of evicting it (second chance).
  void MarkFetched();
  void Bump();  // active + last_access only
  std::string_view key() const { return key_; }

 private:
  friend class Store;
  Accessor(Shard* shard, std::string_view key, uint64_t hash, Store* store)
      : shard_(shard), key_(key), hash_(hash), store_(store) {}
  // The item linked under key_, looked up once per Access and kept current by every
  // mutation made through this Accessor (a get finds, then marks fetched: one chain walk).
  Item* Current();
  Item* Classify();
  void CountDead(Item* it, bool reclaimed);
  ItemRef FindImpl(bool count_miss_reason, bool for_store);
  bool Reads(const PutArgs& a, const Item* it) const;
  void Fill(Item* it, const PutArgs& a, size_t vlen, uint32_t now);
  PutStatus Overwrite(const PutArgs& a, Item* it, size_t vlen, uint32_t now, ItemRef* out);
  PutStatus Stored(Item* it, ItemRef* out);
  // The clock, read once per Access: a request needs one "now", not one per step.
  uint32_t Now();
  Shard* shard_;
  std::string_view key_;
  uint64_t hash_;
  Store* store_;
  Item* item_ = nullptr;
  bool item_known_ = false;
  bool item_live_ = false;  // Find() returned item_: not expired or flushed at Now()
  bool now_known_ = false;
  Miss miss_ = Miss::kNone;
  uint32_t now_ = 0;
};

// Counters the store keeps (summed over shards when read).
struct StoreStats {
  uint64_t curr_items = 0;
  uint64_t total_items = 0;
  uint64_t bytes = 0;        // item bytes charged (memcached's "bytes")
  uint64_t table_bytes = 0;  // hash table bytes (hash_bytes)
  uint64_t evictions = 0;
  uint64_t reclaimed = 0;  // expired items removed by a store into their place or crawler
  uint64_t expired_unfetched = 0;
  uint64_t evicted_unfetched = 0;
  uint64_t get_expired = 0;
  uint64_t get_flushed = 0;
  uint64_t crawler_reclaimed = 0;
  uint64_t store_too_large = 0;
  uint64_t store_no_memory = 0;
  bool hash_is_expanding = false;
  uint32_t hash_power_level = 0;  // of the largest shard table, log2(buckets * shards)
};

// Per size class figures for `stats items` / `stats slabs`.
struct ClassStats {
  uint32_t id = 0;
  uint32_t chunk_size = 0;
  uint64_t items = 0;
  uint64_t bytes = 0;
  uint64_t evicted = 0;
  uint64_t evicted_nonzero = 0;  // evicted while they still had a TTL
  uint64_t evicted_unfetched = 0;
  uint64_t expired_unfetched = 0;
  uint64_t reclaimed = 0;
  uint64_t crawler_reclaimed = 0;
  uint64_t outofmemory = 0;
  uint32_t oldest_access = 0;  // unix seconds of the least recently used item
  uint32_t evicted_time = 0;   // seconds since last access of the last evicted item
};

class Store {
 public:
  Store(const Options& options, const Clock* clock);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Subscribe the one sink that sees every local mutation (may be null).
  void SetSink(record::Sink* sink) { sink_ = sink; }
  // The listener told of evictions while (*gate & bit) != 0: the gate is one relaxed load
  // per eviction, so an unwatched store pays nothing else. Both must outlive the store.
  void SetEvictionListener(EvictionListener* l, const std::atomic<uint32_t>* gate, uint32_t bit) {
    eviction_listener_ = l;
    eviction_gate_ = gate ? gate : &kNoEvictionWatch;
    eviction_bit_ = bit;
  }

  void SetContentListener(ContentListener* l) { content_ = l; }
  // Tells `to` of everything held now (each item and tombstone, as OnContent would have
  // as it came), shard by shard with each locked, calling `replayed(i)` once shard i is
  // done, before it is unlocked: the digests of a new placement start from the store
  // as it is, while it serves.
  void ReplayContent(ContentListener* to, const std::function<void(size_t shard)>& replayed = {});
  // The shard `key` lives in (SnapshotShard's numbering).
  size_t ShardIndexOf(std::string_view key) const;

  // Runs fn(Accessor&) with the key's shard locked; returns what fn returns.
  template <typename F>
  auto Access(std::string_view key, F&& fn) {
    Accessor acc = Lock(key);
    struct Unlocker {
      Store* s;
      Accessor* a;
      ~Unlocker() { s->Unlock(*a); }
    } unlock{this, &acc};
    return fn(acc);
  }

  // flush_all: every item stored before now (delay 0) or before `at` dies.
  void FlushAll(uint32_t at_unix_seconds);
  // Background work: reclaim expired items, run due delayed flushes, grow tables.
  // Call about once a second from one maintenance thread; bounded work per call.
  void Maintain();
  // The background crawl (memcached's LRU crawler) runs only while enabled.
  void SetCrawlerEnabled(bool on);
  // `lru_crawler crawl`: reclaims now every expired or flushed item whose size class
  // (memcached's ids, below 64) has its bit in `classes`. Returns items reclaimed.
  uint64_t Crawl(uint64_t classes);

  // Visits every live item, one shard at a time with that shard locked. The callback
  // must not call back into the store. Items may change between shards.
  void ForEach(const std::function<void(const ItemRef&)>& fn);
  // The same over one shard (< shard_count()), its lock held.
  void ForEachInShard(size_t shard, const std::function<void(const ItemRef&)>& fn);

  // Replication. Apply takes a peer's change if its version is newer than what this
  // node holds for the key (item, tombstone, or a flush), so replicas converge
  // whatever the order of arrival. It publishes the change to the sink as well.
  ApplyResult Apply(const record::ChangeView& change, ApplyMode mode = ApplyMode::kNewer);
  size_t shard_count() const;
  size_t ShardIndexOfHash(uint64_t h) const {
    return options_.shard_bits ? h >> (64 - options_.shard_bits) : 0;
  }
  // Visits shard i's live items (as puts), and its tombstones and expired items not yet
  // reclaimed (as deletes of their versions) with that shard locked: one step of a full
  // copy. fn must not call back into the store.
  void SnapshotShard(size_t i, const std::function<void(const record::ChangeView&)>& fn);
  // What the key holds, as SnapshotShard would give it (a put, or a delete for a
  // tombstone or an expired item), with its shard locked; false (fn not called) if
  // nothing. Repair sends keys this way.
  bool SnapshotKey(std::string_view key, const std::function<void(const record::ChangeView&)>& fn);
  // The flush state a full copy of the store does not carry in its items: the newest
  // flush's version (replicated nodes refuse changes older than it) and a delayed
  // flush still to come, as kFlush changes (none if there is neither).
  void SnapshotFlushes(const std::function<void(const record::ChangeView&)>& fn);
  uint64_t conflicts() const;  // peer changes dropped as older (Apply kStale)
  uint64_t tombstones() const;
  // Whether every delete this node originated at or after `hlc` still has its
  // tombstone here (none was purged, by age or by number), so that a copy of our own
  // changes since `hlc` carries all of them.
  bool HoldsOwnDeletesSince(uint64_t hlc) const;
  // After a full copy from peer `node`, which carried every item it originated and
  // still holds: each item here of that origin, older than `before_hlc` (the peer's
  // clock when the copy ended; later ones the copy cannot vouch for), whose key the
  // copy did not carry (`carried` false) was deleted there (or evicted) while its
  // tombstone could not reach us. It gets a delete of that origin one step newer than
  // the item, through Apply (so it is journaled and refuses the item's older versions).
  // Returns how many.
  uint64_t SweepOrigin(uint16_t node, uint64_t before_hlc,
                       const std::function<bool(std::string_view key)>& carried);
  // A membership change committed: drops, here only (no change is published, so
  // neither peers nor the journal hear of it), every item and tombstone whose key
  // `keep` says this node no longer holds. Returns how many items.
  uint64_t DropKeys(const std::function<bool(std::string_view key)>& keep);
  record::HybridClock& hlc() { return hlc_; }

  StoreStats Stats() const;
  std::vector<ClassStats> ClassStatsSnapshot() const;
  void ResetStats();
  // Adjusts -m at run time (cache_memlimit); evicts lazily.
  void SetMaxBytes(uint64_t max_bytes);
  uint64_t max_bytes() const;
  uint64_t used_bytes() const;  // items + table growth, what -m limits

  const Clock* clock() const { return clock_; }
  // The size class (memcached's id, as `stats items` reports it) of an item with this
  // key, value and client flags.
  uint32_t SizeClassOf(size_t key_len, size_t value_len, uint32_t flags) const;

 private:
  friend class Accessor;
  // store.cc: memcached's size classes.
  uint32_t ClassOfSize(size_t total) const;
  uint32_t SizeClassSearch(size_t total) const;
  uint32_t ClassOfItem(const Item* it) const;
  uint32_t ClassChunkSize(uint32_t id) const;
  // store_access.cc: the per-key path.
  size_t ItemTotalSize(size_t key_len, size_t value_len, uint32_t flags) const;
  uint64_t NextCas();
  uint64_t ChooseCas(uint64_t requested);
  Accessor Lock(std::string_view key);
  void Unlock(Accessor& acc);
  void Publish(const record::ChangeView& change);
  bool IsDead(const Shard* s, const Item* it, uint32_t now, bool* flushed) const;
  void FreeItemLocked(Shard* s, Item* it);
  void RemoveLocked(Shard* s, Item* it, uint64_t hash);
  // eviction.cc
  bool MakeRoomLocked(Shard* s, uint8_t cls, size_t need, uint32_t now, const Item* keep);
  bool EvictOneLocked(Shard* s, uint8_t prefer, uint32_t now, const Item* keep,
                      int* second_chances);
  bool EvictDeadLocked(Shard* s, uint8_t prefer, uint32_t now, const Item* keep);
  bool EvictOlderElsewhereLocked(Shard* s, uint8_t cls, size_t need, uint32_t now,
                                 const Item* keep);
  void EvictPageLocked(Shard* s, uint32_t page, uint32_t now, const Item* keep);
  void EvictItemLocked(Shard* s, Item* victim, uint32_t now);
  // maintenance.cc: flushes and the crawler.
  void RunDueFlush(uint32_t now);
  // Frees what the flush boundary hides, all shards (Maintain, within a second of
  // flush_all) or one (a store with a client-chosen CAS below the boundary).
  void WalkFlush();
  void WalkFlushShardLocked(Shard* s, uint64_t boundary);
  void RaiseFlushBoundary(uint64_t boundary);
  uint64_t CrawlShardLocked(Shard* s, uint32_t now, uint64_t classes);
  // replica.cc: the flush floor and tombstones.
  void WalkFlushOlderThan(const record::Version& v);
  bool RaiseFlushFloor(const record::Version& v);  // false: not newer than the floor
  bool BelowFlushFloor(const record::Version& v) const;
  void PurgeTombstones(uint32_t now);
  void NoteTombstoneLocked(Shard* s, std::string_view key, const record::Version& v);

  void NoteContent(std::string_view key, record::Version v, bool tombstone, bool held) {
    if (content_) content_->OnContent(key, v, tombstone, held);
  }
  void NoteItem(const Item* it, bool held);

  Options options_;
  ContentListener* content_ = nullptr;
  const Clock* clock_;
  record::HybridClock hlc_;
  record::Sink* sink_ = nullptr;
  EvictionListener* eviction_listener_ = nullptr;
  const std::atomic<uint32_t>* eviction_gate_ = &kNoEvictionWatch;
  uint32_t eviction_bit_ = 0;
  static inline const std::atomic<uint32_t> kNoEvictionWatch{0};
  std::unique_ptr<ShardSet> shards_;
};

}  // namespace syncached::storage
