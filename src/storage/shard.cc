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
  classes.resize(nclasses);
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
  LruPushFrontLocked(it, ref);
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
  LruUnlinkLocked(it);
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
  LruUnlinkLocked(old_it);
  LruPushFrontLocked(it, ref);
}

void Shard::LruBumpLocked(Item* it) {
  uint32_t ref = RefOf(it);
  if (Slab(AllocClassOf(it)).lru_head == ref) return;
  LruUnlinkLocked(it);
  LruPushFrontLocked(it, ref);
}

void Shard::LruUnlinkLocked(Item* it) {
  uint8_t cls = AllocClassOf(it);
  SlabClass& c = Slab(cls);
  if (it->lru_prev)
    Ptr(it->lru_prev)->lru_next = it->lru_next;
  else
    c.lru_head = it->lru_next;
  if (it->lru_next)
    Ptr(it->lru_next)->lru_prev = it->lru_prev;
  else
    c.lru_tail = it->lru_prev;
  it->lru_prev = it->lru_next = 0;
  if (!c.lru_head) nonempty_[cls / 64] &= ~(uint64_t{1} << (cls % 64));
}

void Shard::LruPushFrontLocked(Item* it, uint32_t ref) {
  uint8_t cls = AllocClassOf(it);
  SlabClass& c = Slab(cls);
  it->lru_prev = 0;
  it->lru_next = c.lru_head;
  if (c.lru_head) Ptr(c.lru_head)->lru_prev = ref;
  c.lru_head = ref;
  if (!c.lru_tail) c.lru_tail = ref;
  nonempty_[cls / 64] |= uint64_t{1} << (cls % 64);
}

uint8_t Shard::OldestClassLocked(uint8_t prefer, const Item* keep) const {
  uint8_t best = kNoClass;
  uint32_t best_atime = 0;
  if (prefer != kNoClass && Slab(prefer).lru_tail) {
    if (const Item* t = VictimTail(prefer, keep)) best = prefer, best_atime = t->atime;
  }
  for (int w = 0; w < 2; ++w) {
    for (uint64_t bits = nonempty_[w]; bits; bits &= bits - 1) {
      auto cls = static_cast<uint8_t>(w * 64 + __builtin_ctzll(bits));
      const Item* t = VictimTail(cls, keep);
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
