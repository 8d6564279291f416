// The Store itself: construction, memcached's size classes and whole-store iteration.
// Its jobs live beside it: store_access.cc (the per-key path: Accessor, shard locking,
// CAS, freeing), eviction.cc, maintenance.cc (flush_all, Maintain, the crawler),
// store_stats.cc, and replica.cc (Apply, tombstones, snapshots).
#include <algorithm>
#include <memory>
#include <mutex>

#include "storage/shard.h"
#include "storage/shard_set.h"
#include "storage/storage.h"

namespace syncached::storage {

namespace {
// memcached's item size (48 B header + 8 B CAS + key + 1 + flags suffix + value + 2), as
// protocol::MemcachedItemSize computes it, so an item lands in the class memcached would
// put it in.
size_t MemcachedItemSize(size_t key_len, size_t value_len, uint32_t flags) {
  return 56 + key_len + 1 + (flags ? 4 : 0) + value_len + 2;
}
}  // namespace

Store::Store(const Options& options, const Clock* clock)
    : options_(options),
      clock_(clock),
      hlc_(clock, options.node_id),
      shards_(std::make_unique<ShardSet>(1u << options.shard_bits)) {
  // Size classes exactly as memcached's slabs_init computes them (-n, -f, chunks up to
  // half of -I, then one class for larger, chunked items), so class ids in `stats
  // items`/`stats slabs`, metadump's cls= and tools that read them match memcached.
  uint32_t chunk_max = options_.item_size_max / 2;
  uint32_t size = options_.slab_chunk_min;
  while (shards_->class_sizes.size() < 62 && size < chunk_max / options_.slab_growth_factor) {
    if (size % 8) size += 8 - size % 8;
    shards_->class_sizes.push_back(size);
    size = static_cast<uint32_t>(size * options_.slab_growth_factor);
  }
  shards_->class_sizes.push_back(chunk_max);
  // class_of_small[j] covers sizes 8j-7..8j: class bounds are multiples of 8 (all but
  // perhaps the last, which the table never reaches), so one lookup per step is exact.
  shards_->class_of_small.resize(std::min<size_t>(16384, chunk_max / 8));
  for (size_t j = 0; j < shards_->class_of_small.size(); ++j) {
    shards_->class_of_small[j] = static_cast<uint8_t>(SizeClassSearch(j * 8));
  }
  shards_->max_bytes = options_.max_bytes;
  // The initial bucket arrays are not charged (memcached's hash table is outside -m
  // too), only what growth adds to them: tables never shrink below their first size,
  // so `used` stays at least the items' memory.
  for (auto& s : shards_->shards) {
    std::lock_guard lock(s.mu);
    s.InitLocked(options_.initial_hash_power, shards_->class_sizes.size() + 1, &shards_->arena,
                 &shards_->used);
  }
}

Store::~Store() {
  for (auto& s : shards_->shards) {
    std::lock_guard lock(s.mu);
    s.FreeLargeLocked();
  }
}

uint32_t Store::SizeClassOf(size_t key_len, size_t value_len, uint32_t flags) const {
  return ClassOfSize(MemcachedItemSize(key_len, value_len, flags));
}

uint32_t Store::ClassOfSize(size_t total) const {
  // Per-request stats ask this for every hit: small sizes come from a table.
  size_t slot = (total + 7) / 8;
  if (slot < shards_->class_of_small.size()) return shards_->class_of_small[slot];
  return SizeClassSearch(total);
}

uint32_t Store::SizeClassSearch(size_t total) const {
  const auto& c = shards_->class_sizes;
  auto pos = std::lower_bound(c.begin(), c.end(),
                              static_cast<uint32_t>(std::min<size_t>(total, UINT32_MAX)));
  if (pos == c.end()) --pos;  // larger than a chunk: memcached chains chunks of the top class
  return static_cast<uint32_t>(pos - c.begin()) + 1;  // memcached numbers classes from 1
}

uint32_t Store::ClassOfItem(const Item* it) const {
  return SizeClassOf(it->klen, it->vlen, it->flags());
}

uint32_t Store::ClassChunkSize(uint32_t id) const {
  const auto& c = shards_->class_sizes;
  return id >= 1 && id <= c.size() ? c[id - 1] : 0;
}

void Store::ForEach(const std::function<void(const ItemRef&)>& fn) {
  for (size_t i = 0; i < shards_->shards.size(); ++i) ForEachInShard(i, fn);
}

void Store::ForEachInShard(size_t shard, const std::function<void(const ItemRef&)>& fn) {
  uint32_t now = clock_->NowSeconds();
  Shard& s = shards_->shards[shard];
  std::lock_guard lock(s.mu);
  s.ForEachLocked([&](Item* it) {
    bool flushed;
    if (!IsDead(&s, it, now, &flushed)) fn(ItemRef(it));
  });
}

}  // namespace syncached::storage
