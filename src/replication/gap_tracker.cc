#include "replication/gap_tracker.h"

#include <algorithm>

namespace syncached::replication {

void GapTracker::Reset(uint64_t run, uint64_t next_seq) {
  following_ = true;
  run_ = run;
  next_ = known_end_ = next_seq;
  held_.clear();
  bytes_ = 0;
  ready_.clear();
}

GapTracker::Verdict GapTracker::OnBatch(uint64_t run, uint64_t first, uint32_t count,
                                        std::string payload) {
  if (!following_ || run != run_) return Verdict::kOtherRun;
  uint64_t end = first + count;
  if (end <= next_ || count == 0) {
    ++duplicates_;
    return Verdict::kDuplicate;
  }
  known_end_ = std::max(known_end_, end);
  if (first <= next_) {
    // In order (or overlapping what was applied: applying a change twice is harmless,
    // the newer version wins either way).
    ready_.push_back(std::move(payload));
    next_ = end;
    Drain();
    return Verdict::kReady;
  }
  ++gaps_;
  if (held_.count(first)) {
    ++duplicates_;
    return Verdict::kDuplicate;
  }
  if (bytes_ + payload.size() > max_bytes_) {
    ++overflows_;
    return Verdict::kOverflow;
  }
  bytes_ += payload.size();
  held_.emplace(first, Held{count, std::move(payload)});
  return Verdict::kBuffered;
}

bool GapTracker::AcceptInOrder(uint64_t run, uint64_t first, uint32_t count) {
  uint64_t end = first + count;
  if (!following_ || run != run_ || count == 0 || !ready_.empty() || first > next_ ||
      end <= next_) {
    return false;
  }
  known_end_ = std::max(known_end_, end);
  next_ = end;
  Drain();
  return true;
}

void GapTracker::Drain() {
  while (!held_.empty() && held_.begin()->first <= next_) {
    auto it = held_.begin();
    uint64_t end = it->first + it->second.count;
    bytes_ -= it->second.payload.size();
    if (end > next_) {
      ready_.push_back(std::move(it->second.payload));
      next_ = end;
    } else {
      ++duplicates_;
    }
    held_.erase(it);
  }
}

void GapTracker::OnHeartbeat(uint64_t run, uint64_t end) {
  if (following_ && run == run_) known_end_ = std::max(known_end_, end);
}

std::vector<std::string> GapTracker::TakeReady() {
  std::vector<std::string> out;
  out.swap(ready_);
  return out;
}

bool GapTracker::Missing(uint64_t* from, uint64_t* to) const {
  if (!following_ || known_end_ <= next_) return false;
  *from = next_;
  *to = held_.empty() ? known_end_ : held_.begin()->first;
  return true;
}

}  // namespace syncached::replication
