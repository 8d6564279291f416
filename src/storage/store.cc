#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "storage/shard.h"
#include "storage/shard_set.h"
#include "storage/storage.h"

namespace syncached::storage {

namespace {
constexpr uint32_t kMigrateBucketsPerOp = 4;
constexpr int kMaxEvictionsPerPut = 64;
// Active items found at the LRU tail and moved to the head per eviction call; past this the
// tail goes whatever it is, so a store never fails because everything was read lately.
constexpr int kMaxSecondChances = 64;
constexpr uint32_t kMaxKeyLength = 250;
// Other shards looked at per eviction for an older large item: at least this many, and
// one more per this many bytes the store needs, so the search costs about as much as
// copying the value does (a 512 KB value looks at every shard of a small cache).
constexpr size_t kMinEvictionProbes = 4;
constexpr size_t kEvictionProbeBytes = 2048;

// LRU order across shards: last access (seconds), then CAS, which within one second
// orders stores as they happened (the clock behind it is strictly increasing).
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

// memcached's item size (48 B header + 8 B CAS + key + 1 + flags suffix + value + 2), as
// protocol::MemcachedItemSize computes it, so an item lands in the class memcached would
// put it in.
size_t MemcachedItemSize(size_t key_len, size_t value_len, uint32_t flags) {
  return 56 + key_len + 1 + (flags ? 4 : 0) + value_len + 2;
}
}  // namespace

std::string_view ItemRef::key() const { return it_->key(); }
std::string_view ItemRef::value() const { return it_->value(); }
uint32_t ItemRef::flags() const { return it_->flags; }
uint32_t ItemRef::exptime() const { return it_->exptime; }
uint32_t ItemRef::last_access() const { return it_->atime; }
uint64_t ItemRef::cas() const { return it_->cas; }
record::Version ItemRef::version() const { return {it_->cas, it_->node}; }
bool ItemRef::fetched() const { return it_->bits & kFetched; }
bool ItemRef::stale() const { return it_->bits & kStale; }
bool ItemRef::win_token_sent() const { return it_->bits & kWinSent; }
bool ItemRef::key_binary() const { return it_->bits & kKeyBinary; }

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
  return SizeClassOf(it->klen, it->vlen, it->flags);
}

uint32_t Store::ClassChunkSize(uint32_t id) const {
  const auto& c = shards_->class_sizes;
  return id >= 1 && id <= c.size() ? c[id - 1] : 0;
}

size_t Store::ItemTotalSize(size_t key_len, size_t value_len) const {
  return sizeof(Item) + key_len + value_len;
}

uint64_t Store::NextCas() { return hlc_.Next().hlc; }

// A client-chosen CAS (meta E). On a replicated node the CAS is the item's version,
// which must be newer than anything before it for peers to take the change: an E value
// in the clock's past (or too far in its future) is ignored for a fresh version, which
// is consistent across the cluster anyway (docs/REPLICATION.md).
uint64_t Store::ChooseCas(uint64_t requested) {
  if (requested == 0) return NextCas();
  if (!options_.replicated) return requested;
  if (requested > hlc_.Last() && hlc_.Observe(requested)) return requested;
  return NextCas();
}

Accessor Store::Lock(std::string_view key) {
  uint64_t h = HashKey(key);
  Shard* s = &shards_->shards[options_.shard_bits ? h >> (64 - options_.shard_bits) : 0];
  s->mu.lock();
  if (s->growing()) shards_->used -= static_cast<int64_t>(s->MigrateLocked(kMigrateBucketsPerOp));
  return Accessor(s, key, h, this);
}

void Store::Unlock(Accessor& acc) {
  Shard* s = acc.shard_;
  if (s->NeedsGrowLocked()) shards_->used += static_cast<int64_t>(s->StartGrowLocked());
  s->mu.unlock();
}

void Store::Publish(const record::ChangeView& change) {
  if (sink_) sink_->OnChange(change);
}

bool Store::IsDead(const Shard* s, const Item* it, uint32_t now, bool* flushed) const {
  uint32_t pending = shards_->pending_flush_at.load(std::memory_order_relaxed);
  if (pending != 0 && pending <= now) const_cast<Store*>(this)->RunDueFlush(now);
  // A shard already walked for this boundary holds nothing from before it; what it holds
  // below it was stored since with a client-chosen CAS (meta E) and is live.
  uint64_t boundary = shards_->flush_cas.load(std::memory_order_relaxed);
  if (it->cas < boundary && s->flush_walked != boundary) {
    *flushed = true;
    return true;
  }
  *flushed = false;
  return it->exptime != 0 && it->exptime <= now;
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
    ++s->classes[ClassOfItem(it)].reclaimed;
    RemoveLocked(s, it, HashKey(it->key()));
  }
  s->flush_walked = boundary;
}

void Store::FreeItemLocked(Shard* s, Item* it) {
  size_t charge = s->ChargeOf(it);
  ClassGauge& g = s->gauges[ClassOfItem(it)];
  g.items -= 1;
  g.bytes -= charge;
  s->bytes -= charge;
  s->FreeLocked(it);
}

void Store::RemoveLocked(Shard* s, Item* it, uint64_t hash) {
  s->UnlinkLocked(it, hash);
  FreeItemLocked(s, it);
}

// Makes room for an item of allocation class `cls` that would newly charge `need`
// bytes: done when the class has a free chunk or `need` fits under -m. Each step
// evicts from whichever class in this shard has the oldest LRU tail (ours on a tie):
// our own tail frees exactly the chunk we need; a large item frees its bytes; another
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

// Each shard's LRU is exact, but a key's shard is chance: shards hold different numbers
// of items, and if each made room only from its own LRU those that filled up with
// fewer would keep fewer for good, so across the store eviction would follow chance,
// not age (with few items per shard, as large values give, nearly at random). So a
// store that must evict also looks at the large-item LRU tails of other shards (a run
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
  if (uint8_t v = s->OldestClassLocked(cls, keep); v != kNoClass) own = s->VictimTail(v, keep);
  Shard* best = nullptr;
  Item* victim = nullptr;
  size_t start = static_cast<size_t>(NextRandom() % n);
  for (size_t i = 0; i < probes; ++i) {
    Shard* o = &shards_->shards[(start + i) % n];
    if (o == s) o = &shards_->shards[(start + probes) % n];
    if (o == s || !o->mu.try_lock()) continue;
    Item* t = o->ClassTail(kLargeClass);
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
    // Read since it last reached the tail: one more round, as in its own shard.
    victim->bits &= static_cast<uint8_t>(~kActive);
    best->LruBumpLocked(victim);
  } else {
    EvictItemLocked(best, victim, now);
  }
  best->mu.unlock();
  return true;
}

// One eviction step (see MakeRoomLocked); false when the shard has nothing to give.
// Hits only mark items active (MarkFetched, Bump), as memcached's ITEM_ACTIVE: an active
// item found at the tail of the chosen class goes back to the head of its class's LRU
// once, where a bump on every hit would have kept it, and the choice is made again.
// Relinking on each hit touched two neighbours' cache lines per get. `*second_chances`
// bounds these per MakeRoomLocked pass; past it the tail goes whatever it is, so a store
// never fails because everything was read lately.
bool Store::EvictOneLocked(Shard* s, uint8_t prefer, uint32_t now, const Item* keep,
                           int* second_chances) {
  if (!options_.evict) return EvictDeadLocked(s, prefer, now, keep);
  for (;;) {
    uint8_t v = s->OldestClassLocked(prefer, keep);
    if (v == kNoClass) return false;
    Item* victim = s->VictimTail(v, keep);
    if ((victim->bits & kActive) && *second_chances < kMaxSecondChances) {
      bool flushed;
      if (!IsDead(s, victim, now, &flushed)) {
        victim->bits &= static_cast<uint8_t>(~kActive);
        s->LruBumpLocked(victim);
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

// -M: only expired or flushed items may go; look a few items up each class's tail.
bool Store::EvictDeadLocked(Shard* s, uint8_t prefer, uint32_t now, const Item* keep) {
  for (int pass = 0; pass < 2; ++pass) {
    for (uint8_t c = 0; c <= kLargeClass; ++c) {
      if ((pass == 0) != (c == prefer)) continue;
      Item* p = s->ClassTail(c);
      for (int j = 0; j < 5 && p; ++j, p = s->LruPrev(p)) {
        bool flushed;
        if (p != keep && IsDead(s, p, now, &flushed)) {
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
  auto& cls = s->classes[ClassOfItem(victim)];
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
  }
  RemoveLocked(s, victim, HashKey(victim->key()));
}

Item* Accessor::Current() {
  if (!item_known_) {
    item_ = shard_->FindLocked(key_, hash_);
    item_known_ = true;
  }
  return item_;
}

uint32_t Accessor::Now() {
  if (!now_known_) {
    now_ = store_->clock_->NowSeconds();
    now_known_ = true;
  }
  return now_;
}

// The item under the key, if any, sorted into live (item_live_) or dead (miss_ says why).
Item* Accessor::Classify() {
  Item* it = Current();
  miss_ = Miss::kNone;
  item_live_ = false;
  if (!it) return nullptr;
  bool flushed;
  if (store_->IsDead(shard_, it, Now(), &flushed)) {
    miss_ = flushed ? Miss::kFlushed : Miss::kExpired;
  } else {
    item_live_ = true;
  }
  return it;
}

// A dead item's counters as it goes: reclaimed when a store takes its place (memcached
// counts the memory its allocation reuses), and unfetched if nobody ever read it.
void Accessor::CountDead(Item* it, bool reclaimed) {
  auto& cls = shard_->classes[store_->ClassOfItem(it)];
  if (reclaimed) ++shard_->reclaimed, ++cls.reclaimed;
  if (!(it->bits & kFetched)) ++shard_->expired_unfetched, ++cls.expired_unfetched;
}

ItemRef Accessor::Find(bool count_miss_reason) { return FindImpl(count_miss_reason, false); }

ItemRef Accessor::FindForStore() { return FindImpl(false, true); }

ItemRef Accessor::FindImpl(bool count_miss_reason, bool for_store) {
  Item* it = Classify();
  if (!it) return ItemRef();
  if (item_live_) return ItemRef(it);
  if (count_miss_reason) {
    if (miss_ == Miss::kFlushed)
      ++shard_->get_flushed;
    else
      ++shard_->get_expired;
  }
  CountDead(it, for_store);
  store_->RemoveLocked(shard_, it, hash_);
  item_ = nullptr;
  return ItemRef();
}

PutStatus Accessor::Put(const PutArgs& a, ItemRef* out) {
  size_t vlen = a.prefix.size() + a.value.size() + a.suffix.size();
  size_t total = store_->ItemTotalSize(key_.size(), vlen);
  if (key_.size() > kMaxKeyLength || total > store_->options_.item_size_max) {
    ++store_->shards_->too_large;
    return PutStatus::kTooLarge;
  }
  uint32_t now = Now();
  // A client-chosen CAS below a flush boundary not yet walked here would read as flushed:
  // free this shard's flushed items first, so what is stored now stays live (the walk
  // may free the key's own dead item, hence the fresh lookup).
  uint64_t boundary = store_->shards_->flush_cas.load(std::memory_order_relaxed);
  if (!a.version && a.cas != 0 && a.cas < boundary && shard_->flush_walked != boundary) {
    store_->WalkFlushShardLocked(shard_, boundary);
    item_known_ = false;
  }
  Item* old_it = Current();
  if (old_it && !item_live_) {
    bool flushed;
    if (store_->IsDead(shard_, old_it, now, &flushed)) CountDead(old_it, true);
  }
  uint8_t acls = Shard::ClassForSize(total);
  if (old_it && shard_->FitsInPlace(old_it, acls, total) && !Reads(a, old_it)) {
    return Overwrite(a, old_it, vlen, now, out);
  }
  // Make room before allocating, so eviction (not a new page) serves the store at -m.
  size_t need = shard_->NewChargeFor(acls, total);
  if (old_it && acls == kLargeClass && shard_->AllocClassOf(old_it) == kLargeClass) {
    need -= std::min(need, shard_->ChargeOf(old_it));  // freed right after
  }
  // old_it is MakeRoomLocked's `keep`: eviction never removes it, so item_ stays current.
  if (need > 0 && !store_->MakeRoomLocked(shard_, acls, need, now, old_it)) {
    ++store_->shards_->no_memory;
    ++shard_->classes[store_->ClassOfSize(total + 4)].outofmemory;
    return PutStatus::kNoMemory;
  }
  Item* it = shard_->AllocLocked(acls, total);
  if (!it) {
    ++store_->shards_->no_memory;
    return PutStatus::kNoMemory;
  }
  it->h_next = it->lru_prev = it->lru_next = 0;
  it->klen = static_cast<uint8_t>(key_.size());
  memcpy(it->key_data(), key_.data(), key_.size());
  Fill(it, a, vlen, now);

  size_t charge = shard_->ChargeOf(it);
  ClassGauge& g = shard_->gauges[store_->ClassOfItem(it)];
  g.items += 1;
  g.bytes += charge;
  shard_->bytes += charge;
  ++shard_->total_items;
  if (old_it) {
    shard_->ReplaceLocked(old_it, it, hash_);
    store_->FreeItemLocked(shard_, old_it);
  } else {
    shard_->LinkLocked(it, hash_);
  }
  return Stored(it, out);
}

// Everything but the links, key and length of key.
void Accessor::Fill(Item* it, const PutArgs& a, size_t vlen, uint32_t now) {
  it->cas = a.version ? a.version->hlc : store_->ChooseCas(a.cas);
  it->exptime = a.exptime;
  it->atime = now;
  it->flags = a.flags;
  it->vlen = static_cast<uint32_t>(vlen);
  it->node = a.version ? a.version->node : store_->options_.node_id;
  it->bits =
      (a.key_binary ? kKeyBinary : 0) | (a.stale ? kStale : 0) | (a.win_token_sent ? kWinSent : 0);
  char* v = it->value_data();
  if (!a.prefix.empty()) memcpy(v, a.prefix.data(), a.prefix.size()), v += a.prefix.size();
  if (!a.value.empty()) memcpy(v, a.value.data(), a.value.size()), v += a.value.size();
  if (!a.suffix.empty()) memcpy(v, a.suffix.data(), a.suffix.size());
}

// The new item is linked: what every store does last.
PutStatus Accessor::Stored(Item* it, ItemRef* out) {
  if (store_->options_.replicated && !shard_->tombstones.empty()) {
    shard_->tombstones.erase(std::string(key_));
  }
  item_ = it;
  item_live_ = false;
  store_->Publish(record::ChangeView{
      PutKind(it), {it->cas, it->node}, it->key(), it->value(), it->flags, it->exptime});
  if (out) *out = ItemRef(it);
  return PutStatus::kOk;
}

bool Accessor::Reads(const PutArgs& a, const Item* it) const {
  return shard_->Overlaps(it, a.prefix.data(), a.prefix.size()) ||
         shard_->Overlaps(it, a.value.data(), a.value.size()) ||
         shard_->Overlaps(it, a.suffix.data(), a.suffix.size());
}

// A store over a live or dead item whose memory fits the new one: written in place, as
// the key, bucket chain, chunk and charge stay the same. Saves a free and an allocation
// (for a large item, two calls into malloc) and the relinking; nothing outside the shard
// lock holds an item, so no reader can see the old version change under it.
PutStatus Accessor::Overwrite(const PutArgs& a, Item* it, size_t vlen, uint32_t now, ItemRef* out) {
  shard_->ExptimeChangedLocked(it->exptime, a.exptime);
  Fill(it, a, vlen, now);
  it->bits |= kLinked;
  shard_->LruBumpLocked(it);
  ++shard_->total_items;
  return Stored(it, out);
}

void Accessor::Delete() {
  Item* it = Current();
  if (!it) return;
  store_->RemoveLocked(shard_, it, hash_);
  item_ = nullptr;
  item_live_ = false;
  record::Version v = store_->hlc_.Next();
  if (store_->options_.replicated) store_->NoteTombstoneLocked(shard_, key_, v);
  store_->Publish(record::ChangeView{record::Kind::kDelete, v, key_, {}, 0, 0});
}

void Accessor::SetExptime(uint32_t exptime) {
  Item* it = Current();
  if (!it) return;
  shard_->ExptimeChangedLocked(it->exptime, exptime);
  it->exptime = exptime;
  // memcached's touch keeps the CAS; a replica needs a newer version to take it.
  if (store_->options_.replicated) {
    it->cas = store_->NextCas();
    it->node = store_->options_.node_id;
  }
  store_->Publish(record::ChangeView{
      PutKind(it), {it->cas, it->node}, it->key(), it->value(), it->flags, it->exptime});
}

void Accessor::MarkStale(bool stale) {
  Item* it = Current();
  if (!it) return;
  if (stale)
    it->bits |= kStale;
  else
    it->bits &= static_cast<uint8_t>(~kStale);
  it->bits &= static_cast<uint8_t>(~kWinSent);
  it->cas = store_->NextCas();
  it->node = store_->options_.node_id;  // a new version of ours, so peers take it
  store_->Publish(record::ChangeView{
      PutKind(it), {it->cas, it->node}, it->key(), it->value(), it->flags, it->exptime});
}

void Accessor::SetWinTokenSent() {
  if (Item* it = Current()) it->bits |= kWinSent;
}

void Accessor::MarkFetched() {
  if (Item* it = Current()) {
    it->bits |= kFetched | kActive;
    it->atime = Now();
  }
}

void Accessor::Bump() {
  if (Item* it = Current()) {
    it->atime = Now();
    it->bits |= kActive;
  }
}

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

void Store::Maintain() {
  uint32_t now = clock_->NowSeconds();
  RunDueFlush(now);
  if (shards_->flush_cas.load() != 0) WalkFlush();
  if (options_.replicated) PurgeTombstones(now);
  // Crawl shards until about kCrawlItemsPerCall items were looked at (all of them in a
  // small cache): reclaim expired and flushed items so memory returns without waiting
  // for a get or the LRU tail (memcached's LRU crawler).
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
    auto& cls = s->classes[ClassOfItem(it)];
    ++cls.reclaimed;
    ++cls.crawler_reclaimed;
    if (!(it->bits & kFetched)) ++s->expired_unfetched, ++cls.expired_unfetched;
    RemoveLocked(s, it, HashKey(it->key()));
  }
  return dead.size();
}

void Store::ForEach(const std::function<void(const ItemRef&)>& fn) {
  uint32_t now = clock_->NowSeconds();
  for (auto& s : shards_->shards) {
    std::lock_guard lock(s.mu);
    s.ForEachLocked([&](Item* it) {
      bool flushed;
      if (!IsDead(&s, it, now, &flushed)) fn(ItemRef(it));
    });
  }
}

StoreStats Store::Stats() const {
  StoreStats st;
  for (auto& s : shards_->shards) {
    std::lock_guard lock(const_cast<Shard&>(s).mu);
    st.curr_items += s.count();
    st.total_items += s.total_items;
    st.bytes += s.bytes;
    st.table_bytes += s.table_bytes();
    st.evictions += s.evictions;
    st.reclaimed += s.reclaimed;
    st.expired_unfetched += s.expired_unfetched;
    st.evicted_unfetched += s.evicted_unfetched;
    st.get_expired += s.get_expired;
    st.get_flushed += s.get_flushed;
    st.crawler_reclaimed += s.crawler_reclaimed;
    st.hash_is_expanding |= s.growing();
    st.hash_power_level = std::max(st.hash_power_level, s.power());
  }
  st.hash_power_level += options_.shard_bits;
  st.store_too_large = shards_->too_large;
  st.store_no_memory = shards_->no_memory;
  return st;
}

std::vector<ClassStats> Store::ClassStatsSnapshot() const {
  std::vector<ClassStats> out(shards_->class_sizes.size() + 1);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].id = static_cast<uint32_t>(i);
    out[i].chunk_size = ClassChunkSize(static_cast<uint32_t>(i));
  }
  for (auto& s : shards_->shards) {
    std::lock_guard lock(const_cast<Shard&>(s).mu);
    for (size_t i = 0; i < out.size() && i < s.classes.size(); ++i) {
      const auto& c = s.classes[i];
      out[i].items += s.gauges[i].items;
      out[i].bytes += s.gauges[i].bytes;
      out[i].evicted += c.evicted;
      out[i].evicted_nonzero += c.evicted_nonzero;
      out[i].evicted_unfetched += c.evicted_unfetched;
      out[i].expired_unfetched += c.expired_unfetched;
      out[i].reclaimed += c.reclaimed;
      out[i].crawler_reclaimed += c.crawler_reclaimed;
      out[i].outofmemory += c.outofmemory;
      out[i].evicted_time = std::max(out[i].evicted_time, c.evicted_time);
    }
    for (uint8_t k = 0; k <= kLargeClass; ++k) {
      const Item* it = s.ClassTail(k);
      if (!it) continue;
      auto& c = out[ClassOfItem(it)];
      if (c.oldest_access == 0 || it->atime < c.oldest_access) c.oldest_access = it->atime;
    }
  }
  out.erase(out.begin());  // class 0 does not exist
  return out;
}

void Store::ResetStats() {
  for (auto& s : shards_->shards) {
    std::lock_guard lock(s.mu);
    s.total_items = s.evictions = s.reclaimed = s.expired_unfetched = 0;
    s.evicted_unfetched = s.get_expired = s.get_flushed = s.crawler_reclaimed = 0;
    for (auto& c : s.classes) {
      c.evicted = c.evicted_unfetched = c.expired_unfetched = c.reclaimed = c.outofmemory = 0;
      c.crawler_reclaimed = 0;
    }
  }
  shards_->too_large = 0;
  shards_->no_memory = 0;
}

void Store::SetMaxBytes(uint64_t max_bytes) { shards_->max_bytes = max_bytes; }
uint64_t Store::max_bytes() const { return shards_->max_bytes; }
uint64_t Store::used_bytes() const {
  return static_cast<uint64_t>(std::max<int64_t>(0, shards_->used.load()));
}

}  // namespace syncached::storage
