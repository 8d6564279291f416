// Shard memory: slab chunks from arena pages for small items, malloc for large ones.
// Every byte either path takes is charged to the store-wide account here, so -m sees
// carved chunks (live or free) and malloc blocks, not just live items.
#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "storage/shard.h"

namespace syncached::storage {

namespace {
// A large item's block: [lru prev][lru next][slot][charge][Item...], so a large item
// knows its reference and its charge without a call into malloc (whose size word may
// sit on another line), and keeps its place in the large items' LRU (Shard).
constexpr size_t kLargePrefix = 16;
// glibc's size word in front of every chunk, plus the slot table entry (an Item*).
constexpr size_t kLargeOverhead = 8 + sizeof(Item*);  // NOLINT(bugprone-sizeof-expression)

uint32_t* PrefixOf(const Item* it) {
  return reinterpret_cast<uint32_t*>(const_cast<char*>(reinterpret_cast<const char*>(it)) -
                                     kLargePrefix);
}
uint32_t& LruPrevOf(const Item* it) { return PrefixOf(it)[0]; }
uint32_t& LruNextOf(const Item* it) { return PrefixOf(it)[1]; }
uint32_t& SlotOf(const Item* it) { return PrefixOf(it)[2]; }
uint32_t& LargeChargeOf(const Item* it) { return PrefixOf(it)[3]; }
// malloc's usable size of a large item's block (the prefix included).
size_t LargeBlockSize(const Item* it) { return LargeChargeOf(it) - kLargeOverhead; }

// A free chunk's list links live where its cas was (offset 0: prev, 4: next).
enum FreeLinkSlot { kPrev = 0, kNext = 4 };
uint32_t FreeLink(const Item* chunk, FreeLinkSlot slot) {
  uint32_t v;
  memcpy(&v, reinterpret_cast<const char*>(chunk) + slot, sizeof v);
  return v;
}
void SetFreeLink(Item* chunk, FreeLinkSlot slot, uint32_t v) {
  memcpy(reinterpret_cast<char*>(chunk) + slot, &v, sizeof v);
}
}  // namespace

void Shard::LargeLruPushLocked(Item* it) {
  uint32_t ref = RefOf(it);
  LruPrevOf(it) = 0;
  LruNextOf(it) = large_head_;
  if (large_head_) LruPrevOf(Ptr(large_head_)) = ref;
  large_head_ = ref;
  if (!large_tail_) large_tail_ = ref;
}

void Shard::LargeLruUnlinkLocked(Item* it) {
  uint32_t prev = LruPrevOf(it), next = LruNextOf(it);
  if (prev)
    LruNextOf(Ptr(prev)) = next;
  else
    large_head_ = next;
  if (next)
    LruPrevOf(Ptr(next)) = prev;
  else
    large_tail_ = prev;
  LruPrevOf(it) = LruNextOf(it) = 0;
}

Item* Shard::LargeLruPrev(const Item* it) const { return Ptr(LruPrevOf(it)); }

uint32_t Shard::RefOf(const Item* it) const {
  return arena_->Contains(it) ? arena_->RefOf(it) : (SlotOf(it) | Arena::kLargeBit);
}

size_t Shard::ChargeOf(const Item* it) const {
  if (arena_->Contains(it)) return ChunkSize(AllocClassOf(it));
  return LargeChargeOf(it);
}

size_t Shard::NewChargeFor(uint8_t cls, size_t total) const {
  if (cls < kSlabClasses) return Slab(cls).free_head ? 0 : ChunkSize(cls);
  return ((total + kLargePrefix + 8 + 15) & ~size_t{15}) + sizeof(Item*);  // NOLINT: a slot
}

Item* Shard::AllocLocked(uint8_t cls, size_t total) {
  if (cls < kSlabClasses) {
    SlabClass& c = Slab(cls);
    size_t size = ChunkSize(cls);
    if (c.free_head) {
      Item* chunk = Ptr(c.free_head);
      FreeListRemove(cls, chunk);
      ++arena_->info(arena_->PageOf(chunk)).live;
      return chunk;
    }
    if (c.cur_page == Arena::kNoPage ||
        (arena_->info(c.cur_page).carved + 1) * size > Arena::kPageBytes) {
      c.cur_page = arena_->AllocPage(cls);
      if (c.cur_page != Arena::kNoPage) PageRingInsert(cls, c.cur_page);
    }
    if (c.cur_page != Arena::kNoPage) {
      Arena::PageInfo& info = arena_->info(c.cur_page);
      char* chunk = arena_->PageStart(c.cur_page) + info.carved * size;
      ++info.carved;
      ++info.live;
      *used_ += static_cast<int64_t>(size);
      return reinterpret_cast<Item*>(chunk);
    }
    // The arena's address range is used up: this item goes to malloc like a large one.
  }
  char* block = static_cast<char*>(malloc(kLargePrefix + total));
  if (!block) return nullptr;
  uint32_t slot;
  if (!large_free_.empty()) {
    slot = large_free_.back();
    large_free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(large_.size());
    large_.push_back(nullptr);
  }
  Item* it = reinterpret_cast<Item*>(block + kLargePrefix);
  SlotOf(it) = slot;
  LargeChargeOf(it) = static_cast<uint32_t>(malloc_usable_size(block) + kLargeOverhead);
  large_[slot] = it;
  *used_ += static_cast<int64_t>(ChargeOf(it));
  return it;
}

bool Shard::FitsInPlace(const Item* it, uint8_t cls, size_t total) const {
  if (arena_->Contains(it)) return cls < kSlabClasses && AllocClassOf(it) == cls;
  if (cls != kLargeClass) return false;  // a small item goes back to a slab chunk
  size_t room = LargeBlockSize(it) - kLargePrefix;
  // Keeping a block much larger than the item would hold memory nothing uses.
  return total <= room && room - total <= std::max<size_t>(64, total / 8);
}

bool Shard::Overlaps(const Item* it, const char* p, size_t n) const {
  if (n == 0) return false;
  const char* start = reinterpret_cast<const char*>(it);
  size_t len;
  if (arena_->Contains(it)) {
    len = ChunkSize(AllocClassOf(it));
  } else {
    start -= kLargePrefix;
    len = LargeBlockSize(it);
  }
  return p < start + len && start < p + n;
}

void Shard::FreeLocked(Item* it) {
  if (!arena_->Contains(it)) {
    uint32_t slot = SlotOf(it);
    *used_ -= static_cast<int64_t>(ChargeOf(it));
    large_[slot] = nullptr;
    large_free_.push_back(slot);
    free(reinterpret_cast<char*>(it) - kLargePrefix);
    return;
  }
  uint32_t page = arena_->PageOf(it);
  Arena::PageInfo& info = arena_->info(page);
  it->bits = kFreeChunk;
  FreeListPush(info.cls, it);
  if (--info.live == 0 && Slab(info.cls).cur_page != page) ReleasePageLocked(page);
}

Item* Shard::PageChunk(uint32_t page, uint32_t i) const {
  size_t size = ChunkSize(arena_->info(page).cls);
  return reinterpret_cast<Item*>(arena_->PageStart(page) + i * size);
}

void Shard::RetirePageLocked(uint32_t page) {
  Arena::PageInfo& info = arena_->info(page);
  SlabClass& c = Slab(info.cls);
  if (c.cur_page != page) return;
  c.cur_page = Arena::kNoPage;
  if (info.live == 0) ReleasePageLocked(page);
}

// All chunks of the page are free: take them off the free list and give the page back.
void Shard::ReleasePageLocked(uint32_t page) {
  Arena::PageInfo& info = arena_->info(page);
  uint8_t cls = info.cls;
  for (uint32_t i = 0; i < info.carved; ++i) FreeListRemove(cls, PageChunk(page, i));
  *used_ -= static_cast<int64_t>(info.carved * ChunkSize(cls));
  PageRingRemove(cls, page);
  arena_->FreePage(page);
}

void Shard::FreeLargeLocked() {
  for (Item* it : large_) {
    if (it) free(reinterpret_cast<char*>(it) - kLargePrefix);
  }
  large_.clear();
  large_free_.clear();
}

void Shard::FreeListPush(uint8_t cls, Item* chunk) {
  SlabClass& c = Slab(cls);
  uint32_t ref = arena_->RefOf(chunk);
  SetFreeLink(chunk, kPrev, 0);
  SetFreeLink(chunk, kNext, c.free_head);
  if (c.free_head) SetFreeLink(Ptr(c.free_head), kPrev, ref);
  c.free_head = ref;
}

void Shard::FreeListRemove(uint8_t cls, Item* chunk) {
  SlabClass& c = Slab(cls);
  uint32_t prev = FreeLink(chunk, kPrev), next = FreeLink(chunk, kNext);
  if (prev)
    SetFreeLink(Ptr(prev), kNext, next);
  else
    c.free_head = next;
  if (next) SetFreeLink(Ptr(next), kPrev, prev);
}

}  // namespace syncached::storage
