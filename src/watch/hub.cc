#include <sys/time.h>

#include <algorithm>
#include <cassert>
#include <cinttypes>
#include <cstdio>

#include "watch/watch.h"

namespace syncached::watch {
namespace {
// memcached asks for room for the line plus 128 bytes, so a "skipped=N" notice always fits
// in front of the next line kept (logger_thread_write_entry).
constexpr size_t kSkipNoticeRoom = 128;
// Each producer thread formats into its own buffer (allocated once per thread).
thread_local std::string t_line;
}  // namespace

Watcher::Watcher(Hub* hub, uint32_t kinds, uint64_t min_gid, size_t limit,
                 std::function<void()> wake)
    : hub_(hub), kinds_(kinds), min_gid_(min_gid), limit_(limit), wake_(std::move(wake)) {
  buf_.reserve(limit_);
  spare_.reserve(limit_);
}

Watcher::~Watcher() { hub_->Remove(this); }

bool Watcher::Offer(std::string_view line) {
  std::lock_guard lock(mu_);
  if (buf_.size() + line.size() + kSkipNoticeRoom > limit_) {
    ++skipped_;
    hub_->skipped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (skipped_ > 0) {
    char notice[40];
    int n = snprintf(notice, sizeof notice, "skipped=%" PRIu64 "\n", skipped_);
    buf_.append(notice, static_cast<size_t>(n));
    skipped_ = 0;
  }
  buf_.append(line);
  hub_->sent_.fetch_add(1, std::memory_order_relaxed);
  if (wake_pending_) return false;
  wake_pending_ = true;
  return true;
}

size_t Watcher::Drain(std::string* out) {
  {
    // O(1) under the lock: producers never wait for the copy below. Both strings keep
    // their reserved capacity, so producers never allocate.
    std::lock_guard lock(mu_);
    buf_.swap(spare_);
    wake_pending_ = false;
  }
  size_t n = spare_.size();
  out->append(spare_);
  spare_.clear();
  return n;
}

Hub::~Hub() { assert(watchers_.empty()); }

std::unique_ptr<Watcher> Hub::Add(uint32_t kinds, std::function<void()> wake) {
  std::unique_lock lock(mu_);
  if (watchers_.size() >= static_cast<size_t>(kMaxWatchers)) return nullptr;
  uint64_t min_gid = gid_.fetch_add(1, std::memory_order_relaxed) + 1;
  std::unique_ptr<Watcher> w(new Watcher(this, kinds, min_gid, limit_, std::move(wake)));
  watchers_.push_back(w.get());
  mask_.store(mask_.load(std::memory_order_relaxed) | kinds, std::memory_order_relaxed);
  return w;
}

void Hub::Remove(Watcher* w) {
  std::unique_lock lock(mu_);
  watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), w), watchers_.end());
  uint32_t mask = 0;
  for (const Watcher* o : watchers_) mask |= o->kinds_;
  mask_.store(mask, std::memory_order_relaxed);
}

Stamp Hub::Next() {
  Stamp st;
  st.gid = gid_.fetch_add(1, std::memory_order_relaxed) + 1;
  timeval tv;
  gettimeofday(&tv, nullptr);
  st.sec = tv.tv_sec;
  st.usec = static_cast<int32_t>(tv.tv_usec);
  written_.fetch_add(1, std::memory_order_relaxed);
  return st;
}

// Lines from different threads may reach a watcher out of gid order (memcached's note in
// doc/protocol.txt "Watchers"); lines of one connection's requests are in order.
void Hub::Deliver(uint32_t kind, uint64_t gid, std::string_view line) {
  std::shared_lock lock(mu_);
  for (Watcher* w : watchers_) {
    if (!(w->kinds_ & kind) || gid < w->min_gid_) continue;
    if (w->Offer(line)) w->wake_();
  }
}

#define SYNCACHED_HUB_LOG(Name, Event, kind, Format) \
  void Hub::Log##Name(const Event& e) {              \
    if (!Wants(kind)) return;                        \
    Stamp st = Next();                               \
    t_line.clear();                                  \
    Format(st, e, &t_line);                          \
    Deliver(kind, st.gid, t_line);                   \
  }
SYNCACHED_HUB_LOG(ItemGet, ItemGet, kFetchers, FormatItemGet)
SYNCACHED_HUB_LOG(ItemStore, ItemStore, kMutations, FormatItemStore)
SYNCACHED_HUB_LOG(Eviction, Eviction, kEvictions, FormatEviction)
SYNCACHED_HUB_LOG(Deletion, Deletion, kDeletions, FormatDeletion)
SYNCACHED_HUB_LOG(ConnNew, ConnEvent, kConnEvents, FormatConnNew)
SYNCACHED_HUB_LOG(ConnClose, ConnEvent, kConnEvents, FormatConnClose)
#undef SYNCACHED_HUB_LOG

HubStats Hub::Stats() const {
  HubStats s;
  {
    std::shared_lock lock(mu_);
    s.watchers = watchers_.size();
  }
  s.sent = sent_.load(std::memory_order_relaxed);
  s.skipped = skipped_.load(std::memory_order_relaxed);
  s.written = written_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace syncached::watch
