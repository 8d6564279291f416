// In-order delivery of one sender run's multicast batches (issue 23; internal to
// replication). PGM drops what falls out of its window without a word, so the
// stream's own sequence numbers find gaps: batches ahead of the next expected
// sequence wait (bounded in bytes) while the receiver asks the sender over TCP for
// the missing range from its backlog; batches already applied are dropped, which
// also drops replays. A heartbeat names the end of the sender's stream, so a lost
// tail is noticed too. Pure: the host feeds frames and repairs and applies what
// TakeReady returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace syncached::replication {

class GapTracker {
 public:
  explicit GapTracker(size_t max_buffered_bytes) : max_bytes_(max_buffered_bytes) {}

  // Follow `run` from `next_seq` (the TCP link's position), forgetting anything held.
  void Reset(uint64_t run, uint64_t next_seq);

  enum class Verdict : uint8_t {
    kReady,      // in order now (with whatever it unblocked): TakeReady
    kDuplicate,  // already applied, or a replay
    kBuffered,   // ahead of a gap: held until the gap is repaired
    kOverflow,   // ahead of a gap, and the buffer is full: dropped (repair covers it)
    kOtherRun,   // not the run followed (the host resets on the TCP link's word)
  };
  // A batch of seqs [first, first + count), from multicast or from a TCP repair.
  Verdict OnBatch(uint64_t run, uint64_t first, uint32_t count, std::string payload);
  // The usual case without a copy: if the batch is next in order (and nothing ready is
  // still to be taken), the position moves past it and true says the host applies it
  // itself, before what TakeReady then returns (what it unblocked). False: nothing
  // changed, call OnBatch.
  bool AcceptInOrder(uint64_t run, uint64_t first, uint32_t count);
  // The sender's stream ends before `end`.
  void OnHeartbeat(uint64_t run, uint64_t end);

  // Batches now in order, oldest first.
  std::vector<std::string> TakeReady();
  // The oldest missing range [*from, *to), if there is one.
  bool Missing(uint64_t* from, uint64_t* to) const;

  bool following() const { return following_; }
  uint64_t run() const { return run_; }
  uint64_t next_seq() const { return next_; }
  size_t buffered_bytes() const { return bytes_; }
  uint64_t gaps() const { return gaps_; }  // times a batch came ahead of a gap
  uint64_t duplicates() const { return duplicates_; }
  uint64_t overflows() const { return overflows_; }

 private:
  void Drain();

  size_t max_bytes_;
  bool following_ = false;
  uint64_t run_ = 0;
  uint64_t next_ = 0;       // the next seq to apply
  uint64_t known_end_ = 0;  // the sender's stream reaches at least this far
  struct Held {
    uint32_t count;
    std::string payload;
  };
  std::map<uint64_t, Held> held_;  // by first seq, all past next_
  size_t bytes_ = 0;
  std::vector<std::string> ready_;
  uint64_t gaps_ = 0, duplicates_ = 0, overflows_ = 0;
};

}  // namespace syncached::replication
