// The per-key path: shard locking, the Accessor's lookups and mutations, CAS, and
// freeing items. Every request runs through here, so what it calls per request lives in
// this one file, where the compiler can inline it.
#include <algorithm>
#include <cstring>
#include <string>

#include "storage/shard.h"
#include "storage/shard_set.h"
#include "storage/storage.h"

namespace syncached::storage {

namespace {
constexpr uint32_t kMigrateBucketsPerOp = 4;
constexpr uint32_t kMaxKeyLength = 250;
}  // namespace

std::string_view ItemRef::key() const { return it_->key(); }
std::string_view ItemRef::value() const { return it_->value(); }
uint32_t ItemRef::flags() const { return it_->flags(); }
uint32_t ItemRef::exptime() const { return it_->exptime; }
uint32_t ItemRef::last_access() const { return it_->atime; }
uint64_t ItemRef::cas() const { return it_->cas; }
record::Version ItemRef::version() const { return {it_->cas, it_->node}; }
bool ItemRef::fetched() const { return it_->bits & kFetched; }
bool ItemRef::stale() const { return it_->bits & kStale; }
bool ItemRef::win_token_sent() const { return it_->bits & kWinSent; }
bool ItemRef::key_binary() const { return it_->bits & kKeyBinary; }

size_t Store::ItemTotalSize(size_t key_len, size_t value_len, uint32_t flags) const {
  return Item::TotalSize(key_len, value_len, flags);
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

size_t Store::ShardIndexOf(std::string_view key) const { return ShardIndexOfHash(HashKey(key)); }

Accessor Store::Lock(std::string_view key) {
  uint64_t h = HashKey(key);
  Shard* s = &shards_->shards[ShardIndexOfHash(h)];
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

void Store::FreeItemLocked(Shard* s, Item* it) {
  size_t charge = s->ChargeOf(it);
  ClassGauge& g = s->Gauge(ClassOfItem(it));
  g.items -= 1;
  g.bytes -= charge;
  s->bytes -= charge;
  s->FreeLocked(it);
}

void Store::NoteItem(const Item* it, bool held) {
  if (content_) content_->OnContent(it->key(), {it->cas, it->node}, false, held);
}

void Store::RemoveLocked(Shard* s, Item* it, uint64_t hash) {
  NoteItem(it, false);
  s->UnlinkLocked(it, hash);
  FreeItemLocked(s, it);
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
  auto& cls = shard_->Counters(store_->ClassOfItem(it));
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
  size_t total = store_->ItemTotalSize(key_.size(), vlen, a.flags);
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
    ++shard_->Counters(store_->SizeClassOf(key_.size(), vlen, a.flags)).outofmemory;
    return PutStatus::kNoMemory;
  }
  Item* it = shard_->AllocLocked(acls, total);
  if (!it) {
    ++store_->shards_->no_memory;
    return PutStatus::kNoMemory;
  }
  it->h_next = 0;
  Fill(it, a, vlen, now);

  size_t charge = shard_->ChargeOf(it);
  ClassGauge& g = shard_->Gauge(store_->ClassOfItem(it));
  g.items += 1;
  g.bytes += charge;
  shard_->bytes += charge;
  ++shard_->total_items;
  if (old_it) {
    store_->NoteItem(old_it, false);
    shard_->ReplaceLocked(old_it, it, hash_);
    store_->FreeItemLocked(shard_, old_it);
  } else {
    shard_->LinkLocked(it, hash_);
  }
  return Stored(it, out);
}

// Everything but the links. The key is written again over an item written in place,
// as whether flags are stored moves it.
void Accessor::Fill(Item* it, const PutArgs& a, size_t vlen, uint32_t now) {
  it->cas = a.version ? a.version->hlc : store_->ChooseCas(a.cas);
  it->exptime = a.exptime;
  it->atime = now;
  it->vlen = static_cast<uint32_t>(vlen);
  it->node = a.version ? a.version->node : store_->options_.node_id;
  it->bits =
      (a.key_binary ? kKeyBinary : 0) | (a.stale ? kStale : 0) | (a.win_token_sent ? kWinSent : 0);
  it->set_flags(a.flags);
  it->klen = static_cast<uint8_t>(key_.size());
  memcpy(it->key_data(), key_.data(), key_.size());
  char* v = it->value_data();
  if (!a.prefix.empty()) memcpy(v, a.prefix.data(), a.prefix.size()), v += a.prefix.size();
  if (!a.value.empty()) memcpy(v, a.value.data(), a.value.size()), v += a.value.size();
  if (!a.suffix.empty()) memcpy(v, a.suffix.data(), a.suffix.size());
}

// The new item is linked: what every store does last.
PutStatus Accessor::Stored(Item* it, ItemRef* out) {
  if (store_->options_.replicated && !shard_->tombstones.empty()) {
    auto t = shard_->tombstones.find(std::string(key_));
    if (t != shard_->tombstones.end()) {
      store_->NoteContent(key_, t->second.version, true, false);
      shard_->tombstones.erase(t);
      --store_->shards_->tombstone_count;
    }
  }
  store_->NoteItem(it, true);
  item_ = it;
  item_live_ = false;
  store_->Publish(record::ChangeView{
      PutKind(it), {it->cas, it->node}, it->key(), it->value(), it->flags(), it->exptime});
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
  store_->NoteItem(it, false);
  Fill(it, a, vlen, now);
  // Written again: one more turn of the clock before it can go, as a fresh item would
  // have at the head of an LRU.
  it->bits |= kLinked | kActive;
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
    store_->NoteItem(it, false);
    it->cas = store_->NextCas();
    it->node = store_->options_.node_id;
    store_->NoteItem(it, true);
  }
  store_->Publish(record::ChangeView{
      PutKind(it), {it->cas, it->node}, it->key(), it->value(), it->flags(), it->exptime});
}

void Accessor::MarkStale(bool stale) {
  Item* it = Current();
  if (!it) return;
  if (stale)
    it->bits |= kStale;
  else
    it->bits &= static_cast<uint8_t>(~kStale);
  it->bits &= static_cast<uint8_t>(~kWinSent);
  store_->NoteItem(it, false);
  it->cas = store_->NextCas();
  it->node = store_->options_.node_id;  // a new version of ours, so peers take it
  store_->NoteItem(it, true);
  store_->Publish(record::ChangeView{
      PutKind(it), {it->cas, it->node}, it->key(), it->value(), it->flags(), it->exptime});
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

}  // namespace syncached::storage
