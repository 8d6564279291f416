// Eviction: making room under -m for a store, from the shard's own clocks (second chance
// for active items, whole slab pages for another size) and from other shards'
// large items, so what survives follows age across the store (docs/ARCHITECTURE.md).
#include <algorithm>
#include <cstdint>
#include <mutex>

#include "storage/shard.h"
#include "storage/shard_set.h"
#include "storage/storage.h"

namespace syncached::storage {

namespace {
constexpr int kMaxEvictionsPerPut = 64;
// Active items the hand passes over per eviction call; past this the candidate goes
// whatever it is, so a store never fails because everything was read lately.
constexpr int kMaxSecondChances = 64;
// Other shards looked at per eviction for an older large item: at least this many, and
// one more per this many bytes the store needs, so the search costs about as much as
// copying the value does (a 512 KB value looks at every shard of a small cache).
constexpr size_t kMinEvictionProbes = 4;
constexpr size_t kEvictionProbeBytes = 2048;

// Recency across classes and shards: last access (seconds), then CAS, which within one
// second orders stores as they happened (the clock behind it is strictly increasing).
bool LessRecent(const Item* a, const Item* b) {
  return a->atime != b->atime ? a->atime < b->atime : a->cas < b->cas;
}

uint64_t NextRandom() {
  thread_local uint64_t x = reinterpret_cast<uintptr_t>(&x) | 1;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}
}  // namespace

// Makes room for an item of allocation class `cls` that would newly charge `need`
// bytes: done when the class has a free chunk or `need` fits under -m. Each step
// evicts from whichever class in this shard has the least recent candidate (ours on a
// tie): our own frees exactly the chunk we need; a large item frees its bytes; another
// slab class gives up the whole page holding its tail, so memory follows the size mix
// (memcached's slab rebalancing, done inline). Then other shards (try_lock only,
// never blocking while holding our lock). `keep` (the item being replaced, whose value
// an append may still read) is never evicted.
bool Store::MakeRoomLocked(Shard* s, uint8_t cls, size_t need, uint32_t now, const Item* keep) {
  auto over = [&] {
    return shards_->used.load(std::memory_order_relaxed) + static_cast<int64_t>(need) >
           static_cast<int64_t>(shards_->max_bytes.load(std::memory_order_relaxed));
  };
  auto fits = [&] { return s->HasFreeChunk(cls) || !over(); };
  int second_chances = 0;
  for (int i = 0; i < kMaxEvictionsPerPut && !fits(); ++i) {
    if (EvictOlderElsewhereLocked(s, cls, need, now, keep)) continue;
    if (!EvictOneLocked(s, cls, now, keep, &second_chances)) break;
  }
  if (fits()) return true;
  size_t n = shards_->shards.size();
  size_t self = static_cast<size_t>(s - shards_->shards.data());
  for (size_t i = 1; i < n && over(); ++i) {
    Shard* o = &shards_->shards[(self + i) % n];
    if (!o->mu.try_lock()) continue;
    second_chances = 0;
    for (int j = 0; j < kMaxEvictionsPerPut && over(); ++j) {
      if (!EvictOneLocked(o, kNoClass, now, nullptr, &second_chances)) break;
    }
    o->mu.unlock();
  }
  return fits();
}

// Each shard's clock follows recency, but a key's shard is chance: shards hold different
// numbers of items, and if each made room only from its own clock those that filled up with
// fewer would keep fewer for good, so across the store eviction would follow chance,
// not age (with few items per shard, as large values give, nearly at random). So a
// store that must evict also looks at the large-item candidates of other shards (a run
// from a random one, try_lock only, more for larger values) and evicts the least recent
// of them instead of its own candidate when that one is older: sampling that keeps the
// shards' horizons together. Only large items (malloc'd) are taken this way: they free
// exactly their bytes, where another shard's slab item would free a chunk only that
// shard can use.
bool Store::EvictOlderElsewhereLocked(Shard* s, uint8_t cls, size_t need, uint32_t now,
                                      const Item* keep) {
  size_t n = shards_->shards.size();
  if (!options_.evict || n < 2) return false;
  size_t probes = std::min(n - 1, std::max(kMinEvictionProbes, need / kEvictionProbeBytes));
  const Item* own = nullptr;
  if (uint8_t v = s->OldestClassLocked(cls, keep); v != kNoClass) own = s->Candidate(v, keep);
  Shard* best = nullptr;
  Item* victim = nullptr;
  size_t start = static_cast<size_t>(NextRandom() % n);
  for (size_t i = 0; i < probes; ++i) {
    Shard* o = &shards_->shards[(start + i) % n];
    if (o == s) o = &shards_->shards[(start + probes) % n];
    if (o == s || !o->mu.try_lock()) continue;
    Item* t = o->Candidate(kLargeClass, nullptr);
    if (t && (!victim || LessRecent(t, victim)) && (!own || LessRecent(t, own))) {
      if (best) best->mu.unlock();
      best = o;
      victim = t;
    } else {
      o->mu.unlock();
    }
  }
  if (!best) return false;
  bool flushed;
  if ((victim->bits & kActive) && !IsDead(best, victim, now, &flushed)) {
    // Used since it last reached the tail: one more round, as in its own shard.
    victim->bits &= static_cast<uint8_t>(~kActive);
    best->PassLocked(kLargeClass, victim);
  } else {
    EvictItemLocked(best, victim, now);
  }
  best->mu.unlock();
  return true;
}

// One eviction step (see MakeRoomLocked); false when the shard has nothing to give.
// Hits only mark items active (MarkFetched, Bump), as memcached's ITEM_ACTIVE: an active
// candidate loses the mark and the hand passes it once, and the choice is made again.
// `*second_chances` bounds these per MakeRoomLocked pass; past it the candidate goes
// whatever it is, so a store never fails because everything was read lately. The hand
// moves past what it evicts before the chunk is freed, so the store that takes the
// chunk is the last the hand comes back to.
bool Store::EvictOneLocked(Shard* s, uint8_t prefer, uint32_t now, const Item* keep,
                           int* second_chances) {
  if (!options_.evict) return EvictDeadLocked(s, prefer, now, keep);
  for (;;) {
    uint8_t v = s->OldestClassLocked(prefer, keep);
    if (v == kNoClass) return false;
    Item* victim = s->Candidate(v, keep);
    s->PassLocked(v, victim);
    if ((victim->bits & kActive) && *second_chances < kMaxSecondChances) {
      bool flushed;
      if (!IsDead(s, victim, now, &flushed)) {
        victim->bits &= static_cast<uint8_t>(~kActive);
        ++*second_chances;
        continue;
      }
    }
    if (v == prefer || v == kLargeClass) {
      EvictItemLocked(s, victim, now);
    } else {
      EvictPageLocked(s, s->arena()->PageOf(victim), now, keep);
    }
    return true;
  }
}

// -M: only expired or flushed items may go; look at a few items from each class's hand.
bool Store::EvictDeadLocked(Shard* s, uint8_t prefer, uint32_t now, const Item* keep) {
  for (int pass = 0; pass < 2; ++pass) {
    for (uint8_t c = 0; c <= kLargeClass; ++c) {
      if ((pass == 0) != (c == prefer)) continue;
      Item* p = s->Candidate(c, nullptr);
      for (int j = 0; j < 5 && p; ++j, p = s->NextInClock(c, p)) {
        bool flushed;
        if (p != keep && IsDead(s, p, now, &flushed)) {
          if (j == 0) s->PassLocked(c, p);
          EvictItemLocked(s, p, now);
          return true;
        }
      }
    }
  }
  return false;
}

// Evicts every item in a slab page, which then goes back to the arena.
void Store::EvictPageLocked(Shard* s, uint32_t page, uint32_t now, const Item* keep) {
  uint32_t carved = s->arena()->info(page).carved;
  uint32_t live = s->arena()->info(page).live;
  s->RetirePageLocked(page);
  // Count down rather than re-read the page info: once the last item goes the page
  // belongs to the arena (and maybe another shard) again.
  for (uint32_t i = 0; i < carved && live > 0; ++i) {
    Item* it = s->PageChunk(page, i);
    if (it->bits & kFreeChunk) continue;
    if (it == keep) {
      --live;
      continue;
    }
    --live;
    EvictItemLocked(s, it, now);
  }
}

void Store::EvictItemLocked(Shard* s, Item* victim, uint32_t now) {
  bool flushed;
  bool dead = IsDead(s, victim, now, &flushed);
  auto& cls = s->Counters(ClassOfItem(victim));
  if (dead) {
    ++s->reclaimed;
    ++cls.reclaimed;
    if (!(victim->bits & kFetched)) ++s->expired_unfetched, ++cls.expired_unfetched;
  } else {
    ++s->evictions;
    ++cls.evicted;
    if (victim->exptime != 0) ++cls.evicted_nonzero;
    cls.evicted_time = now - victim->atime;
    if (!(victim->bits & kFetched)) ++s->evicted_unfetched, ++cls.evicted_unfetched;
    if (eviction_gate_->load(std::memory_order_relaxed) & eviction_bit_) [[unlikely]] {
      eviction_listener_->OnEviction(ItemRef(victim), now);
    }
    if (content_) content_->OnEvicted(victim->key(), now);
  }
  RemoveLocked(s, victim, HashKey(victim->key()));
}

}  // namespace syncached::storage
