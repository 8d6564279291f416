// flush_all and the maintenance thread's work: delayed flushes, the walk that frees what a
// flush hid, table growth, and the crawler (memcached's LRU crawler) that reclaims
// expired items.
#include <cstdint>
#include <mutex>
#include <vector>

#include "storage/shard.h"
#include "storage/shard_set.h"
#include "storage/storage.h"

namespace syncached::storage {

void Store::FlushAll(uint32_t at) {
  uint32_t now = clock_->NowSeconds();
  record::Version v = hlc_.Next();
  if (at == 0 || at <= now) {
    shards_->pending_flush_at = 0;
    // Everything older than the flush's own version goes: the same rule every replica
    // applies to this record, so concurrent writes elsewhere survive alike everywhere.
    // Hiding is immediate and O(1); the memory comes back on the next Maintain pass
    // (within a second), so a flush of millions of items never stalls a worker, and a
    // get of a flushed key meanwhile counts get_flushed, as memcached's lazy flush does.
    RaiseFlushBoundary(v.hlc);
    at = 0;
  } else {
    shards_->pending_flush_at = at;
  }
  Publish(record::ChangeView{record::Kind::kFlush, v, {}, {}, 0, at});
}

// Hides items older than `boundary` (a HLC reading) at once; on replicated nodes also
// refuses peers' changes older than it from now on.
void Store::RaiseFlushBoundary(uint64_t boundary) {
  uint64_t cur = shards_->flush_cas.load();
  while (cur < boundary && !shards_->flush_cas.compare_exchange_weak(cur, boundary)) {
  }
  if (options_.replicated) RaiseFlushFloor({boundary, 0});
}

// A delayed flush that fell due: hide everything older right away (a cheap check in
// IsDead, safe under any shard lock); Maintain frees the memory soon after.
void Store::RunDueFlush(uint32_t now) {
  uint32_t pending = shards_->pending_flush_at.load();
  if (pending == 0 || pending > now) return;
  if (shards_->pending_flush_at.compare_exchange_strong(pending, 0)) {
    // The deadline itself is the boundary (not when we noticed it), so every replica
    // drops exactly the items written before it, whoever wrote them.
    RaiseFlushBoundary(record::MakeHlc(uint64_t{pending} * 1000, 0));
  }
}

// Frees every item the flush boundary hides, shard by shard, then lifts the boundary
// so items stored later with a client-chosen CAS (meta E) are not mistaken for flushed
// ones (replicated nodes keep refusing older peer changes through the flush floor).
void Store::WalkFlush() {
  std::lock_guard flush_lock(shards_->flush_mu);
  uint64_t boundary = shards_->flush_cas.load();
  if (boundary == 0) return;
  for (auto& s : shards_->shards) {
    std::lock_guard lock(s.mu);
    if (s.flush_walked != boundary) WalkFlushShardLocked(&s, boundary);
  }
  shards_->flush_cas.compare_exchange_strong(boundary, 0);
}

void Store::WalkFlushShardLocked(Shard* s, uint64_t boundary) {
  std::vector<Item*> dead;
  s->ForEachLocked([&](Item* it) {
    if (it->cas < boundary) dead.push_back(it);
  });
  for (Item* it : dead) {
    ++s->reclaimed;  // flushed memory given back counts as reclaimed, as in memcached
    ++s->Counters(ClassOfItem(it)).reclaimed;
    RemoveLocked(s, it, HashKey(it->key()));
  }
  s->flush_walked = boundary;
}

void Store::Maintain() {
  uint32_t now = clock_->NowSeconds();
  RunDueFlush(now);
  if (shards_->flush_cas.load() != 0) WalkFlush();
  if (options_.replicated) PurgeTombstones(now);
  // Crawl shards until about kCrawlItemsPerCall items were looked at (all of them in a
  // small cache): reclaim expired and flushed items so memory returns without waiting
  // for a get or the eviction clock (memcached's LRU crawler).
  constexpr uint64_t kCrawlItemsPerCall = 200000;
  size_t n = shards_->shards.size();
  uint64_t visited = 0;
  for (size_t i = 0; i < n && visited < kCrawlItemsPerCall; ++i) {
    Shard* s = &shards_->shards[shards_->crawl_shard++ % n];
    std::lock_guard lock(s->mu);
    if (s->ttl_items() == 0 || !shards_->crawler_enabled.load(std::memory_order_relaxed)) {
      if (s->growing()) shards_->used -= static_cast<int64_t>(s->MigrateLocked(1024));
      continue;
    }
    visited += s->count();
    CrawlShardLocked(s, now, ~uint64_t{0});
    if (s->growing()) shards_->used -= static_cast<int64_t>(s->MigrateLocked(1024));
  }
}

void Store::SetCrawlerEnabled(bool on) { shards_->crawler_enabled = on; }

uint64_t Store::Crawl(uint64_t classes) {
  uint32_t now = clock_->NowSeconds();
  uint64_t n = 0;
  for (auto& s : shards_->shards) {
    std::lock_guard lock(s.mu);
    n += CrawlShardLocked(&s, now, classes);
  }
  return n;
}

// Reclaims the shard's dead items in the chosen classes (counted as the crawler's).
uint64_t Store::CrawlShardLocked(Shard* s, uint32_t now, uint64_t classes) {
  std::vector<Item*> dead;
  s->ForEachLocked([&](Item* it) {
    bool flushed;
    uint32_t c = ClassOfItem(it);
    if (c < 64 && (classes >> c & 1) && IsDead(s, it, now, &flushed)) dead.push_back(it);
  });
  for (Item* it : dead) {
    ++s->crawler_reclaimed;
    ++s->reclaimed;
    auto& cls = s->Counters(ClassOfItem(it));
    ++cls.reclaimed;
    ++cls.crawler_reclaimed;
    if (!(it->bits & kFetched)) ++s->expired_unfetched, ++cls.expired_unfetched;
    RemoveLocked(s, it, HashKey(it->key()));
  }
  return dead.size();
}

}  // namespace syncached::storage
