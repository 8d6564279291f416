#include "storage/arena.h"

#include <sys/mman.h>

namespace syncached::storage {

namespace {
constexpr size_t kMaxReserve = size_t{Arena::kLargeBit} * Arena::kGrain;  // 8 GiB
}

Arena::Arena() {
  // Halve the reservation until the kernel grants it (ulimit -v, small address spaces).
  for (size_t want = kMaxReserve; want >= 64 * kPageBytes; want /= 2) {
    void* p = mmap(nullptr, want, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) {
      base_ = static_cast<char*>(p);
      reserved_ = want;
      break;
    }
  }
  page_limit_ = static_cast<uint32_t>(reserved_ / kPageBytes);
  // Mapped, not new'd: the kernel's zero pages are the entries of pages never used, so
  // the table costs RSS only as the arena grows (0.77 MiB for all of 8 GiB).
  if (page_limit_ == 0) return;  // no arena: every item is malloc'd
  void* p = mmap(nullptr, InfoBytes(), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {  // no arena then either
    munmap(base_, reserved_);
    base_ = nullptr;
    reserved_ = 0;
    page_limit_ = 0;
    return;
  }
  info_ = static_cast<PageInfo*>(p);
}

Arena::~Arena() {
  if (base_) munmap(base_, reserved_);
  if (info_) munmap(info_, InfoBytes());
}

uint32_t Arena::AllocPage(uint8_t cls) {
  std::lock_guard lock(mu_);
  uint32_t page;
  if (!free_pages_.empty()) {
    page = free_pages_.back();
    free_pages_.pop_back();
  } else {
    if (next_page_ >= page_limit_) return kNoPage;
    if (mprotect(PageStart(next_page_), kPageBytes, PROT_READ | PROT_WRITE) != 0) return kNoPage;
    page = next_page_++;
  }
  info_[page] = PageInfo{0, 0, cls};
  return page;
}

void Arena::FreePage(uint32_t page) {
  madvise(PageStart(page), kPageBytes, MADV_DONTNEED);
  std::lock_guard lock(mu_);
  info_[page] = PageInfo{};
  free_pages_.push_back(page);
}

size_t Arena::pages_in_use() const {
  std::lock_guard lock(mu_);
  return next_page_ - 1 - free_pages_.size();
}

}  // namespace syncached::storage
