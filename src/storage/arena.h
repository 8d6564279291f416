// Arena: one reserved address range carved into 64 KiB pages, which shards turn into
// slabs of one chunk size each (internal to storage).
//
// Items inside the arena are named by 32-bit references (offset / 4), which is what
// lets the hash chain link take 4 bytes instead of 8. The range is reserved
// PROT_NONE and made writable page by page, so untouched address space costs neither
// RSS nor commit charge. Page hand-out takes a mutex, but a page holds hundreds of
// items, so the hot path (a chunk from a shard's own slab) never touches it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace syncached::storage {

class Arena {
 public:
  static constexpr size_t kPageBytes = 64 << 10;
  static constexpr size_t kGrain = 4;  // reference unit; chunk sizes are multiples of it
  // References with this bit name large (malloc'd) items; the rest of the range, times
  // kGrain, bounds the arena to 8 GiB. Items beyond that fall back to malloc.
  static constexpr uint32_t kLargeBit = 1u << 31;
  static constexpr uint32_t kNoPage = UINT32_MAX;

  // Per page: which slab class it serves, chunks carved so far and chunks in use, and
  // its neighbours in its shard's ring of that class's pages (the clock's, Shard).
  struct PageInfo {
    uint16_t carved = 0;
    uint16_t live = 0;
    uint8_t cls = 0;
    uint32_t prev = 0, next = 0;
  };

  Arena();
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // A zeroed (or never used) page for slab class cls, or kNoPage when the range is full.
  uint32_t AllocPage(uint8_t cls);
  // Gives the page's memory back to the kernel and the page to the next AllocPage.
  void FreePage(uint32_t page);

  bool Contains(const void* p) const {
    auto a = reinterpret_cast<uintptr_t>(p), b = reinterpret_cast<uintptr_t>(base_);
    return a >= b && a < b + reserved_;
  }
  char* At(uint32_t ref) const { return base_ + size_t{ref} * kGrain; }
  uint32_t RefOf(const void* p) const {
    return static_cast<uint32_t>((static_cast<const char*>(p) - base_) / kGrain);
  }
  char* PageStart(uint32_t page) const { return base_ + size_t{page} * kPageBytes; }
  uint32_t PageOf(const void* p) const {
    return static_cast<uint32_t>((static_cast<const char*>(p) - base_) / kPageBytes);
  }
  PageInfo& info(uint32_t page) { return info_[page]; }
  size_t pages_in_use() const;

 private:
  char* base_ = nullptr;
  size_t reserved_ = 0;
  size_t InfoBytes() const { return sizeof(PageInfo) * page_limit_; }

  PageInfo* info_ = nullptr;  // page_limit_ entries
  mutable std::mutex mu_;
  uint32_t next_page_ = 1;  // page 0 is never used, so reference 0 means "none"
  uint32_t page_limit_ = 0;
  std::vector<uint32_t> free_pages_;
};

}  // namespace syncached::storage
