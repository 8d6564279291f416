// The store's counters summed over shards (`stats`, `stats items`, `stats slabs`), their
// reset, and the memory limit.
#include <algorithm>
#include <cstdint>
#include <mutex>
#include <vector>

#include "storage/shard.h"
#include "storage/shard_set.h"
#include "storage/storage.h"

namespace syncached::storage {

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
    if (const ClassGauge* gauges = s.gauges()) {
      for (size_t i = 0; i < out.size() && i < kMaxStatClasses; ++i) {
        out[i].items += gauges[i].items;
        out[i].bytes += gauges[i].bytes;
      }
    }
    for (size_t i = 0; i < out.size() && i < s.counters().size(); ++i) {
      const auto& c = s.counters()[i];
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
      const Item* it = s.Peek(k);  // about the class's least recently used
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
    s.ResetCounters();
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
