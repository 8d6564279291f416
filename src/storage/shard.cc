#include "storage/shard.h"

#include <linux/futex.h>
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
Item** NewTable(uint32_t power) {
  return static_cast<Item**>(calloc(size_t{1} << power, sizeof(Item*)));
}
}  // namespace

Shard::~Shard() {
  // Items are freed by the store, which knows how to release them.
  free(table_);
  free(old_table_);
}

void Shard::InitLocked(uint32_t power, size_t nclasses) {
  power_ = power;
  table_ = NewTable(power);
  if (!table_) abort();
  classes.resize(nclasses);
}

size_t Shard::table_bytes() const {
  size_t b = (size_t{1} << power_) * sizeof(Item*);
  if (old_table_) b += (size_t{1} << old_power_) * sizeof(Item*);
  return b;
}

Item** Shard::BucketLocked(uint64_t hash) {
  if (old_table_) {
    uint64_t ob = hash & ((uint64_t{1} << old_power_) - 1);
    if (ob >= migrate_pos_) return &old_table_[ob];
  }
  return &table_[hash & (buckets() - 1)];
}

Item* Shard::FindLocked(std::string_view key, uint64_t hash) {
  for (Item* it = *BucketLocked(hash); it; it = it->h_next) {
    if (it->klen == key.size() && memcmp(it->key_data(), key.data(), key.size()) == 0) return it;
  }
  return nullptr;
}

void Shard::LinkLocked(Item* it, uint64_t hash) {
  Item** b = BucketLocked(hash);
  it->h_next = *b;
  *b = it;
  it->bits |= kLinked;
  ++count_;
  if (it->exptime) ++ttl_items_;
  LruPushFrontLocked(it);
}

// Chains are walked with a predecessor rather than an Item** because h_next is a
// member of a packed struct (its address may not be taken).
void Shard::UnlinkLocked(Item* it, uint64_t hash) {
  Item** head = BucketLocked(hash);
  if (*head == it) {
    *head = it->h_next;
  } else {
    for (Item* p = *head; p; p = p->h_next) {
      if (p->h_next == it) {
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
  Item** head = BucketLocked(hash);
  it->h_next = old_it->h_next;
  if (*head == old_it) {
    *head = it;
  } else {
    for (Item* p = *head; p; p = p->h_next) {
      if (p->h_next == old_it) {
        p->h_next = it;
        break;
      }
    }
  }
  old_it->bits &= static_cast<uint8_t>(~kLinked);
  it->bits |= kLinked;
  ExptimeChangedLocked(old_it->exptime, it->exptime);
  LruUnlinkLocked(old_it);
  LruPushFrontLocked(it);
}

void Shard::LruBumpLocked(Item* it) {
  if (lru_head_ == it) return;
  LruUnlinkLocked(it);
  LruPushFrontLocked(it);
}

void Shard::LruUnlinkLocked(Item* it) {
  if (it->lru_prev)
    it->lru_prev->lru_next = it->lru_next;
  else
    lru_head_ = it->lru_next;
  if (it->lru_next)
    it->lru_next->lru_prev = it->lru_prev;
  else
    lru_tail_ = it->lru_prev;
  it->lru_prev = it->lru_next = nullptr;
}

void Shard::LruPushFrontLocked(Item* it) {
  it->lru_prev = nullptr;
  it->lru_next = lru_head_;
  if (lru_head_) lru_head_->lru_prev = it;
  lru_head_ = it;
  if (!lru_tail_) lru_tail_ = it;
}

size_t Shard::StartGrowLocked() {
  Item** bigger = NewTable(power_ + 1);
  if (!bigger) return 0;  // stay at this size; chains get longer but nothing breaks
  old_table_ = table_;
  old_power_ = power_;
  table_ = bigger;
  power_ += 1;
  migrate_pos_ = 0;
  return buckets() * sizeof(Item*);
}

size_t Shard::MigrateLocked(uint32_t n) {
  if (!old_table_) return 0;
  uint64_t old_buckets = uint64_t{1} << old_power_;
  for (uint32_t i = 0; i < n && migrate_pos_ < old_buckets; ++i, ++migrate_pos_) {
    Item* it = old_table_[migrate_pos_];
    while (it) {
      Item* next = it->h_next;
      Item** b = &table_[HashKey(it->key()) & (buckets() - 1)];
      it->h_next = *b;
      *b = it;
      it = next;
    }
    old_table_[migrate_pos_] = nullptr;
  }
  if (migrate_pos_ < old_buckets) return 0;
  free(old_table_);
  old_table_ = nullptr;
  return old_buckets * sizeof(Item*);
}

}  // namespace syncached::storage
