#include "storage/shard.h"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
// Inlined (header-only form of the same XXH3): every request hashes one short key, and the
// library call plus its length dispatch cost as much as the hash.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstdlib>

namespace syncached::storage {

uint64_t HashKey(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

// Drepper, "Futexes Are Tricky", mutex 3: whoever finds the word non-zero marks it 2
// before sleeping, so the holder's unlock knows to wake someone.
void ShardMutex::LockSlow() {
  for (int i = 0; i < 64; ++i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    uint32_t c = 0;
    if (state_.load(std::memory_order_relaxed) == 0 &&
        state_.compare_exchange_weak(c, 1, std::memory_order_acquire, std::memory_order_relaxed)) {
      return;
    }
  }
  while (state_.exchange(2, std::memory_order_acquire) != 0) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), FUTEX_WAIT_PRIVATE, 2, nullptr,
            nullptr, 0);
  }
}

void ShardMutex::Wake() {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr,
          0);
}

namespace {
// Tables of a page or more are mapped directly: a table freed after growth then goes
// back to the kernel, where from the malloc heap it would stay resident (~3 B/item).
constexpr size_t kMapTableBytes = 4096;

uint32_t* NewTable(uint32_t power) {
  size_t bytes = sizeof(uint32_t) << power;
  if (bytes < kMapTableBytes) return static_cast<uint32_t*>(calloc(1, bytes));
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint32_t*>(p);
}

void FreeTable(uint32_t* table, uint32_t power) {
  size_t bytes = sizeof(uint32_t) << power;
  if (!table) return;
  if (bytes < kMapTableBytes)
    free(table);
  else
    munmap(table, bytes);
}
}  // namespace

Shard::~Shard() {
  // Items are freed by the store, which knows how to release them.
  FreeTable(table_, power_);
  FreeTable(old_table_, old_power_);
}

void Shard::InitLocked(uint32_t power, size_t nclasses, Arena* arena, std::atomic<int64_t>* used) {
  power_ = power;
  table_ = NewTable(power);
  if (!table_) abort();
  if (nclasses > kMaxStatClasses) abort();
  stat_classes_ = nclasses;
  arena_ = arena;
  used_ = used;
}

size_t Shard::table_bytes() const {
  size_t b = (size_t{1} << power_) * sizeof(uint32_t);
  if (old_table_) b += (size_t{1} << old_power_) * sizeof(uint32_t);
  return b;
}

uint32_t* Shard::BucketLocked(uint64_t hash) {
  if (old_table_) {
    uint64_t ob = hash & ((uint64_t{1} << old_power_) - 1);
    if (ob >= migrate_pos_) return &old_table_[ob];
  }
  return &table_[hash & (buckets() - 1)];
}

Item* Shard::FindLocked(std::string_view key, uint64_t hash) {
  for (Item* it = Ptr(*BucketLocked(hash)); it; it = Ptr(it->h_next)) {
    if (it->klen == key.size() && memcmp(it->key_data(), key.data(), key.size()) == 0) return it;
  }
  return nullptr;
}

void Shard::LinkLocked(Item* it, uint64_t hash) {
  uint32_t* b = BucketLocked(hash);
  uint32_t ref = RefOf(it);
  it->h_next = *b;
  *b = ref;
  it->bits |= kLinked;
  ++count_;
  if (it->exptime) ++ttl_items_;
  CountLinked(it, 1);
}

// Chains are walked with a predecessor rather than a uint32_t* because h_next is a
// member of a packed struct (its address may not be taken).
void Shard::UnlinkLocked(Item* it, uint64_t hash) {
  uint32_t* head = BucketLocked(hash);
  uint32_t ref = RefOf(it);
  if (*head == ref) {
    *head = it->h_next;
  } else {
    for (Item* p = Ptr(*head); p; p = Ptr(p->h_next)) {
      if (p->h_next == ref) {
        p->h_next = it->h_next;
        break;
      }
    }
  }
  it->bits &= static_cast<uint8_t>(~kLinked);
  --count_;
  if (it->exptime) --ttl_items_;
  CountLinked(it, -1);
}

void Shard::ReplaceLocked(Item* old_it, Item* it, uint64_t hash) {
  uint32_t* head = BucketLocked(hash);
  uint32_t old_ref = RefOf(old_it), ref = RefOf(it);
  it->h_next = old_it->h_next;
  if (*head == old_ref) {
    *head = ref;
  } else {
    for (Item* p = Ptr(*head); p; p = Ptr(p->h_next)) {
      if (p->h_next == old_ref) {
        p->h_next = ref;
        break;
      }
    }
  }
  old_it->bits &= static_cast<uint8_t>(~kLinked);
  it->bits |= kLinked;
  ExptimeChangedLocked(old_it->exptime, it->exptime);
  CountLinked(old_it, -1);
  CountLinked(it, 1);
}

void Shard::CountLinked(Item* it, int delta) {
  uint8_t cls = AllocClassOf(it);
  if (cls == kLargeClass) {
    if (delta > 0)
      LargeLruPushLocked(it);
    else
      LargeLruUnlinkLocked(it);
  }
  SlabClass& c = Slab(cls);
  c.items = static_cast<uint32_t>(static_cast<int64_t>(c.items) + delta);
  if (c.items)
    nonempty_[cls / 64] |= uint64_t{1} << (cls % 64);
  else
    nonempty_[cls / 64] &= ~(uint64_t{1} << (cls % 64));
}

// A new page joins the ring just behind the hand: its items are the newest.
void Shard::PageRingInsert(uint8_t cls, uint32_t page) {
  SlabClass& c = Slab(cls);
  Arena::PageInfo& info = arena_->info(page);
  ++c.pages;
  if (!c.hand) {
    info.prev = info.next = page;
    c.hand = page;
    c.hand_chunk = 0;
    return;
  }
  uint32_t before = arena_->info(c.hand).prev;
  info.prev = before;
  info.next = c.hand;
  arena_->info(before).next = page;
  arena_->info(c.hand).prev = page;
}

void Shard::PageRingRemove(uint8_t cls, uint32_t page) {
  SlabClass& c = Slab(cls);
  Arena::PageInfo& info = arena_->info(page);
  --c.pages;
  if (info.next == page) {
    c.hand = 0;
  } else {
    arena_->info(info.prev).next = info.next;
    arena_->info(info.next).prev = info.prev;
    if (c.hand == page) c.hand = info.next, c.hand_chunk = 0;
  }
  info.prev = info.next = 0;
}

Item* Shard::At(uint32_t page, uint32_t chunk) const {
  if (chunk >= arena_->info(page).carved) return nullptr;
  Item* it = PageChunk(page, chunk);
  return (it->bits & kFreeChunk) ? nullptr : it;
}

bool Shard::Step(uint32_t* page, uint32_t* chunk) const {
  if (!*page) return false;
  if (++*chunk >= arena_->info(*page).carved) {
    *page = arena_->info(*page).next;
    *chunk = 0;
  }
  return true;
}

Item* Shard::Candidate(uint8_t cls, const Item* keep) {
  SlabClass& c = Slab(cls);
  if (!c.items) return nullptr;
  if (cls == kLargeClass) {
    Item* t = Ptr(large_tail_);
    return t == keep && t ? LargeLruPrev(t) : t;
  }
  if (!c.hand) return nullptr;
  // Free chunks the hand reaches are passed for good; `keep` keeps its place. At most
  // one turn around the ring.
  uint64_t limit = uint64_t{c.pages} * (Arena::kPageBytes / ChunkSize(cls));
  uint32_t page = c.hand, chunk = c.hand_chunk;
  bool at_hand = true;
  for (uint64_t n = 0; n <= limit; ++n) {
    Item* it = At(page, chunk);
    if (it && it != keep) return it;
    if (it) at_hand = false;  // keep: look past it without moving the hand
    if (!Step(&page, &chunk)) return nullptr;
    if (at_hand) c.hand = page, c.hand_chunk = chunk;
  }
  return nullptr;
}

const Item* Shard::Peek(uint8_t cls) const {
  if (cls == kLargeClass) return Ptr(large_tail_);
  const SlabClass& c = Slab(cls);
  if (!c.items || !c.hand) return nullptr;
  uint32_t page = c.hand, chunk = c.hand_chunk;
  for (int n = 0; n < 256; ++n) {
    if (const Item* it = At(page, chunk)) return it;
    if (!Step(&page, &chunk)) break;
  }
  return nullptr;
}

void Shard::Position(uint8_t cls, const Item* it, uint32_t* page, uint32_t* chunk) const {
  *page = arena_->PageOf(it);
  *chunk = static_cast<uint32_t>((reinterpret_cast<const char*>(it) - arena_->PageStart(*page)) /
                                 ChunkSize(cls));
}

Item* Shard::NextInClock(uint8_t cls, const Item* it) const {
  if (cls == kLargeClass) return LargeLruPrev(it);
  uint32_t page, chunk;
  Position(cls, it, &page, &chunk);
  for (int n = 0; n < 256; ++n) {
    if (!Step(&page, &chunk)) return nullptr;
    Item* next = At(page, chunk);
    if (next == it) return nullptr;  // around the ring
    if (next) return next;
  }
  return nullptr;
}

void Shard::PassLocked(uint8_t cls, Item* it) {
  if (cls == kLargeClass) {  // back to the head: the LRU's second chance
    LargeLruUnlinkLocked(it);
    LargeLruPushLocked(it);
    return;
  }
  SlabClass& c = Slab(cls);
  uint32_t page, chunk;
  Position(cls, it, &page, &chunk);
  if (Step(&page, &chunk)) c.hand = page, c.hand_chunk = chunk;
}

uint8_t Shard::OldestClassLocked(uint8_t prefer, const Item* keep) {
  uint8_t best = kNoClass;
  uint32_t best_atime = 0;
  if (prefer != kNoClass) {
    if (const Item* t = Candidate(prefer, keep)) best = prefer, best_atime = t->atime;
  }
  for (int w = 0; w < 2; ++w) {
    for (uint64_t bits = nonempty_[w]; bits; bits &= bits - 1) {
      auto cls = static_cast<uint8_t>(w * 64 + __builtin_ctzll(bits));
      const Item* t = Candidate(cls, keep);
      if (t && (best == kNoClass || t->atime < best_atime)) best = cls, best_atime = t->atime;
    }
  }
  return best;
}

size_t Shard::StartGrowLocked() {
  uint32_t* bigger = NewTable(power_ + 1);
  if (!bigger) return 0;  // stay at this size; chains get longer but nothing breaks
  old_table_ = table_;
  old_power_ = power_;
  table_ = bigger;
  power_ += 1;
  migrate_pos_ = 0;
  return buckets() * sizeof(uint32_t);
}

size_t Shard::MigrateLocked(uint32_t n) {
  if (!old_table_) return 0;
  uint64_t old_buckets = uint64_t{1} << old_power_;
  for (uint32_t i = 0; i < n && migrate_pos_ < old_buckets; ++i, ++migrate_pos_) {
    uint32_t ref = old_table_[migrate_pos_];
    while (ref) {
      Item* it = Ptr(ref);
      uint32_t next = it->h_next;
      uint32_t* b = &table_[HashKey(it->key()) & (buckets() - 1)];
      it->h_next = *b;
      *b = ref;
      ref = next;
    }
    old_table_[migrate_pos_] = 0;
  }
  if (migrate_pos_ < old_buckets) return 0;
  FreeTable(old_table_, old_power_);
  old_table_ = nullptr;
  return old_buckets * sizeof(uint32_t);
}

}  // namespace syncached::storage
