// repair: anti-entropy between replicas (docs/REPAIR.md, issue 20). Incremental
// digests of what a node holds, per hash bucket; a Merkle tree over a snapshot of
// them; and the comparison two nodes run to find the buckets that differ, then the
// keys, so that each side sends only what the other lacks or holds older. No I/O, no
// clock, no threads of its own: the replication layer carries the messages (as bytes)
// and sends the items; storage calls Digests on every change.
//
// Depends on common and record (versions) only.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "record/record.h"

namespace syncached::repair {

// What a digest covers of one key: which version a replica holds and whether that
// version is a deletion (a tombstone is state too: a missed delete is divergence).
struct KeyVersion {
  std::string key;
  record::Version version;
  bool tombstone = false;
  friend bool operator==(const KeyVersion&, const KeyVersion&) = default;
};

// The bucket of a key among 2^bits (the top bits of a hash of the key alone, so a
// key stays in its bucket whatever its version).
uint32_t BucketOf(std::string_view key, int bits);
// A key version's contribution to its bucket's digest.
uint64_t EntryHash(std::string_view key, record::Version version, bool tombstone);

// Per-bucket digests: each bucket is the sum (mod 2^64) of its entries' hashes, so a
// change costs one subtraction and one addition, in any order, from any thread.
class Digests {
 public:
  static constexpr int kMinBits = 4;
  static constexpr int kMaxBits = 16;
  // bits in [kMinBits, kMaxBits], a multiple of 4 (one tree level per 4 bits).
  explicit Digests(int bits);

  void Add(std::string_view key, record::Version version, bool tombstone);
  void Remove(std::string_view key, record::Version version, bool tombstone);
  void Clear();

  int bits() const { return bits_; }
  uint32_t buckets() const { return 1u << bits_; }
  uint64_t bucket(uint32_t b) const { return sums_[b].load(std::memory_order_relaxed); }
  // Entries in bucket b (a hint: read apart from the sum, it may lag it by a change).
  uint32_t count(uint32_t b) const { return counts_[b].load(std::memory_order_relaxed); }

 private:
  int bits_;
  std::unique_ptr<std::atomic<uint64_t>[]> sums_;
  std::unique_ptr<std::atomic<uint32_t>[]> counts_;
};

// The digests a node keeps: with full replication one set (every peer shares every
// key), sharded one per peer (the keys both own: owners(key) names them). Note and
// NoteEviction run on any thread (storage calls them with the key's shard locked);
// each costs a hash or two and an atomic add per set the key is in.
class Index {
 public:
  using Owners = std::function<void(std::string_view key, std::vector<uint16_t>* owners)>;
  // Sharded: `owners` non-empty and `peers` the other members' ids.
  Index(int bits, uint16_t self, std::vector<uint16_t> peers, Owners owners);

  // While a membership change is handed over: `peers`, the nodes new in it, count the
  // keys both own under `new_owners` alone (they know only the new members file), so a
  // handover's comparison with one compares these digests as they are. Before any Note.
  void CountByNewOwners(std::vector<uint16_t> peers, Owners new_owners);
  bool CountsByNewOwners(uint16_t peer) const;

  void Note(std::string_view key, record::Version version, bool tombstone, bool held);
  void NoteEviction(std::string_view key, uint32_t now);

  int bits() const { return bits_; }
  bool sharded() const { return static_cast<bool>(owners_); }
  // What this node shares with `peer` (null: nothing, an unknown peer when sharded).
  const Digests* For(uint16_t peer) const;
  bool Shares(uint16_t peer, std::string_view key) const;
  // Whether a key shared with `peer` in `bucket` was evicted here within `window`
  // seconds before `now` (Host::EvictedIn).
  bool EvictedWithin(uint16_t peer, uint32_t bucket, uint32_t now, uint32_t window) const;

 private:
  struct Set {
    explicit Set(int bits);
    Digests digests;
    std::unique_ptr<std::atomic<uint32_t>[]> evicted_at;  // per bucket, unix seconds
  };
  Set* SetFor(uint16_t peer) const;
  // The peers this node shares `key` with (sharded; empty if it does not own it).
  void SharedWith(std::string_view key, std::vector<uint16_t>* peers) const;
  // Drops from `peers` the new nodes that do not share `key` under the new file.
  void KeepNewPeersByNewOwners(std::string_view key, std::vector<uint16_t>* peers) const;
  template <typename F>
  void ForEachSet(std::string_view key, F&& fn) const;

  int bits_;
  uint16_t self_;
  Owners owners_;
  std::vector<uint16_t> peers_;
  std::vector<uint16_t> new_peers_;  // CountByNewOwners
  Owners new_owners_;
  std::vector<std::unique_ptr<Set>> sets_;  // sharded: parallel to peers_; else one
};

// A Merkle tree over a snapshot of Digests: level 0 holds the buckets, each node of
// level l + 1 hashes its kFanout children of level l, the last level is the root.
class Tree {
 public:
  static constexpr uint32_t kFanout = 16;
  explicit Tree(const Digests& d);

  int bits() const { return bits_; }
  int levels() const { return static_cast<int>(levels_.size()); }
  uint32_t width(int level) const { return static_cast<uint32_t>(levels_[level].size()); }
  uint64_t node(int level, uint32_t index) const { return levels_[level][index]; }
  uint64_t root() const { return levels_.back()[0]; }
  // The hash a node of `level` has when no bucket below it holds anything.
  uint64_t empty(int level) const { return empty_[level]; }
  // About how many entries the buckets below a node hold (Digests::count).
  uint64_t count(int level, uint32_t index) const { return counts_[level][index]; }
  // The buckets below a node of `level`: [index << 4 * level, (index + 1) << 4 * level).
  static uint32_t FirstBucket(int level, uint32_t index) { return index << (4 * level); }
  static uint32_t BucketsBelow(int level) { return 1u << (4 * level); }

 private:
  int bits_;
  std::vector<std::vector<uint64_t>> levels_;
  std::vector<std::vector<uint64_t>> counts_;
  std::vector<uint64_t> empty_;
};

// The comparison's counters (repair stats).
struct CompareStats {
  uint64_t messages_in = 0, messages_out = 0, bytes_in = 0, bytes_out = 0;
  uint64_t nodes_compared = 0, buckets_differing = 0, keys_listed = 0;
};

// What a comparison asks of the node it runs on.
class Host {
 public:
  virtual ~Host() = default;
  // This node's entries in each of `buckets`, among the keys it shares with the peer:
  // (*out)[i] for buckets[i]. One call per message, so a host that must walk its whole
  // store to find a bucket's keys walks it once for all of them.
  virtual void ListBuckets(const std::vector<uint32_t>& buckets,
                           std::vector<std::vector<KeyVersion>>* out) = 0;
  // True when this node evicted items of `bucket` under memory pressure since the
  // data was last known equal: a key the peer has and this node lacks may then be an
  // eviction, which repair does not undo (it fetches only newer versions there).
  virtual bool EvictedIn(uint32_t bucket) = 0;
  // Whether this node keeps `key` from the peer. A handover's initiator lists every key
  // it holds, shared or not: the others are not asked for (they would be dropped).
  virtual bool Takes(std::string_view key) { return true; }
};

struct BucketKeys;  // wire.h

// One comparison between this node's tree and a peer's, as a state machine over
// messages. The initiator calls Start and sends what it returns; each side passes
// every message from the peer to OnMessage and sends the replies it returns, in
// order. Both sides end done(); each side's TakePush() lists the keys it must send
// the peer (the peer lacks them or holds them older). Identical trees cost one
// message each way. A malformed message or one that does not fit the tree ends the
// comparison with failed() (the host then drops it; nothing was changed).
class Comparison {
 public:
  Comparison(const Tree* mine, Host* host);
  // Pull only: keys only this side holds are not pushed (a membership change's
  // handover, whose initiator lists every key it holds, shared with the peer or not).
  void SetPullOnly() { pull_only_ = true; }

  std::string Start();
  void OnMessage(std::string_view msg, std::vector<std::string>* replies);

  bool done() const { return done_ || failed_; }
  bool failed() const { return failed_; }
  std::vector<std::string> TakePush();
  const CompareStats& stats() const { return stats_; }

  // Largest Keys message body this side builds (more buckets go in further messages).
  static constexpr size_t kMaxKeysBytes = 1024 * 1024;
  // A differing node with at most this many entries below is listed, not descended:
  // its keys cost about what one level of its children's hashes would.
  static constexpr uint64_t kListAtMost = 8;

 private:
  void OnHashes(std::string_view msg, std::vector<std::string>* replies);
  void OnKeys(std::string_view msg, std::vector<std::string>* replies);
  void OnWant(std::string_view msg);
  void Send(std::string msg, std::vector<std::string>* replies);
  void SendKeys(std::vector<BucketKeys> entries, bool last, std::vector<std::string>* replies);
  bool EvictedBelow(int level, uint32_t index);
  void AppendListed(int level, const std::vector<uint32_t>& nodes,
                    std::vector<BucketKeys>* entries);
  void MaybeDone();

  const Tree* mine_;
  Host* host_;
  bool started_ = false;
  bool done_ = false;
  bool failed_ = false;
  bool ended_ = false;            // the descent ended (done once every Want came)
  uint32_t keys_unanswered_ = 0;  // Keys messages sent whose Want has not come
  bool pull_only_ = false;
  std::vector<std::string> push_;
  CompareStats stats_;
};

}  // namespace syncached::repair
