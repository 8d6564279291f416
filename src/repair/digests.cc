#include <xxhash.h>

#include <cassert>
#include <cstring>

#include "repair/repair.h"

namespace syncached::repair {

uint32_t BucketOf(std::string_view key, int bits) {
  return static_cast<uint32_t>(XXH3_64bits(key.data(), key.size()) >> (64 - bits));
}

uint64_t EntryHash(std::string_view key, record::Version version, bool tombstone) {
  // The key's hash, then that with the version: fixed-size input for the second step.
  unsigned char buf[19];
  uint64_t k = XXH3_64bits(key.data(), key.size());
  std::memcpy(buf, &k, 8);
  std::memcpy(buf + 8, &version.hlc, 8);
  std::memcpy(buf + 16, &version.node, 2);
  buf[18] = tombstone ? 1 : 0;
  return XXH3_64bits(buf, sizeof buf);
}

Digests::Digests(int bits)
    : bits_(bits),
      sums_(new std::atomic<uint64_t>[size_t{1} << bits]),
      counts_(new std::atomic<uint32_t>[size_t{1} << bits]) {
  assert(bits >= kMinBits && bits <= kMaxBits && bits % 4 == 0);
  Clear();
}

void Digests::Add(std::string_view key, record::Version version, bool tombstone) {
  uint32_t b = BucketOf(key, bits_);
  sums_[b].fetch_add(EntryHash(key, version, tombstone), std::memory_order_relaxed);
  counts_[b].fetch_add(1, std::memory_order_relaxed);
}

void Digests::Remove(std::string_view key, record::Version version, bool tombstone) {
  uint32_t b = BucketOf(key, bits_);
  sums_[b].fetch_sub(EntryHash(key, version, tombstone), std::memory_order_relaxed);
  counts_[b].fetch_sub(1, std::memory_order_relaxed);
}

void Digests::Clear() {
  for (uint32_t b = 0; b < buckets(); ++b) {
    sums_[b].store(0, std::memory_order_relaxed);
    counts_[b].store(0, std::memory_order_relaxed);
  }
}

Tree::Tree(const Digests& d) : bits_(d.bits()) {
  std::vector<uint64_t> leaves(d.buckets());
  std::vector<uint64_t> leaf_counts(d.buckets());
  for (uint32_t b = 0; b < d.buckets(); ++b) {
    leaves[b] = d.bucket(b);
    leaf_counts[b] = d.count(b);
  }
  levels_.push_back(std::move(leaves));
  counts_.push_back(std::move(leaf_counts));
  empty_.push_back(0);  // a bucket's sum over no entries
  while (levels_.back().size() > 1) {
    const std::vector<uint64_t>& below = levels_.back();
    const std::vector<uint64_t>& counts_below = counts_.back();
    std::vector<uint64_t> up(below.size() / kFanout);
    std::vector<uint64_t> counts_up(up.size());
    for (size_t i = 0; i < up.size(); ++i) {
      up[i] = XXH3_64bits(below.data() + i * kFanout, kFanout * sizeof(uint64_t));
      for (size_t c = i * kFanout; c < (i + 1) * kFanout; ++c) counts_up[i] += counts_below[c];
    }
    levels_.push_back(std::move(up));
    counts_.push_back(std::move(counts_up));
    std::vector<uint64_t> none(kFanout, empty_.back());
    empty_.push_back(XXH3_64bits(none.data(), kFanout * sizeof(uint64_t)));
  }
}

}  // namespace syncached::repair
