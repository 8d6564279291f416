// Latency histogram with log-linear buckets, in the manner of HdrHistogram:
// values below 2^kSubBits are exact, above that each power of two is split into
// 2^(kSubBits-1) equal buckets, so a reported value is within 1/128 (0.8%) of
// the true one over the whole 64-bit range, in a fixed 58 KiB array.
//
// One histogram per loadgen thread, recorded without locks; merged after the
// threads have joined. Not thread-safe.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace syncached::bench {

class Histogram {
 public:
  static constexpr int kSubBits = 8;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  static constexpr uint64_t kHalf = kSub / 2;
  static constexpr size_t kBuckets = kSub + (64 - kSubBits) * kHalf;

  void Record(uint64_t v) {
    ++counts_[Index(v)];
    ++count_;
    sum_ += v;
    max_ = std::max(max_, v);
    min_ = std::min(min_, v);
  }

  void Merge(const Histogram& o) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
  }

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }

  // Smallest recorded value v such that at least p percent of the values are
  // <= v, reported as the middle of its bucket (clamped to [min, max]).
  uint64_t Percentile(double p) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<uint64_t>(p / 100.0 * static_cast<double>(count_) + 0.5);
    rank = std::clamp<uint64_t>(rank, 1, count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        uint64_t lo = Lower(i);
        uint64_t hi = i + 1 < kBuckets ? Lower(i + 1) - 1 : std::numeric_limits<uint64_t>::max();
        return std::clamp(lo + (hi - lo) / 2, min(), max_);
      }
    }
    return max_;
  }

  static size_t Index(uint64_t v) {
    if (v < kSub) return static_cast<size_t>(v);
    int msb = 63 - std::countl_zero(v);  // >= kSubBits
    int shift = msb - (kSubBits - 1);    // >= 1
    uint64_t top = v >> shift;           // in [kHalf, kSub)
    return static_cast<size_t>(kSub + static_cast<uint64_t>(msb - kSubBits) * kHalf +
                               (top - kHalf));
  }

  static uint64_t Lower(size_t i) {
    if (i < kSub) return i;
    size_t j = i - kSub;
    int msb = static_cast<int>(j / kHalf) + kSubBits;
    uint64_t top = j % kHalf + kHalf;
    return top << (msb - (kSubBits - 1));
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = std::numeric_limits<uint64_t>::max();
};

}  // namespace syncached::bench
