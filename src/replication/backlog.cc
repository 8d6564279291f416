#include <algorithm>

#include "replication/core.h"

namespace syncached::replication {

void Backlog::Append(uint64_t first_seq, uint32_t count, uint64_t hlc, std::string msg,
                     BatchRouting routing) {
  bytes_ += msg.size();
  entries_.push_back({first_seq, count, hlc, std::move(msg), std::move(routing)});
  next_seq_ = first_seq + count;
  // Keep at least the newest batch even if it alone is over the bound.
  while (bytes_ > max_bytes_ && entries_.size() > 1 &&
         (entries_.front().first + entries_.front().count <= pin_ || bytes_ > hard_cap())) {
    bytes_ -= entries_.front().msg.size();
    entries_.pop_front();
  }
}

const std::string* Backlog::Find(uint64_t seq, uint64_t* first, uint32_t* count, uint64_t* hlc,
                                 const BatchRouting** routing) const {
  if (entries_.empty() || seq < entries_.front().first || seq >= next_seq_) return nullptr;
  auto it = std::upper_bound(entries_.begin(), entries_.end(), seq,
                             [](uint64_t s, const Entry& e) { return s < e.first; });
  --it;  // the last entry starting at or before seq
  *first = it->first;
  *count = it->count;
  *hlc = it->hlc;
  if (routing) *routing = &it->routing;
  return &it->msg;
}

}  // namespace syncached::replication
