// The sync lane (docs/REPLICATION.md "The sync lane"; internal to replication). With
// --sync-replicas, a reply waits for peers to apply its changes. Over the ZeroMQ stream
// that is a chain of eight thread wake-ups (worker, replication thread, ZeroMQ's I/O
// thread, the peer's I/O and replication threads, and back). On the lane the worker that
// made the changes sends them itself, sealed, to each peer's client port, where one of
// the peer's workers applies them and answers: two wake-ups. The stream still carries
// every change (order, catch-up, peers the lane cannot reach), so a peer gets each change
// twice and applies it once (Store::Apply by version); the lane only ever releases a
// reply sooner, and whatever it cannot do falls back to the stream's acknowledgements.
//
// Frames are sealed.h frames of kind kLane under a key of the sender node and run (a
// random number per process), derived from the cluster secret (without one, from the
// cluster name only: integrity, no secrecy, as the links then have). A replayed frame
// carries versions already applied: it changes nothing. The reply names a token only
// the key's holders can compute from the frame's nonce, so an answer cannot be forged.
//
// Threads: Capture and Take on the writing thread (thread-local state); Open and Peers
// on any thread; SetPeers on the replication thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/mutex.h"
#include "record/record.h"
#include "replication/replication.h"
#include "replication/sealed.h"

namespace syncached::replication {

class SyncLane {
 public:
  // `root`: the derived cluster secret (empty: none).
  SyncLane(std::string_view root, std::string_view cluster, uint16_t node);
  SyncLane(const SyncLane&) = delete;
  SyncLane& operator=(const SyncLane&) = delete;

  // The writing thread, for each of its changes (`record`: its encoding) and ticket.
  void Capture(std::string_view record, uint64_t ticket);
  // The writing thread: its changes since its last call; false if none.
  bool Take(LaneBatch* out);

  // A frame from a peer: its sender, its records and the token to answer with. False:
  // not a lane frame of this cluster, or one that does not open.
  bool Open(std::string_view frame, uint16_t* node, std::string* records, std::string* token);

  // The peers to send to, and how many must apply a batch; `version` grows with changes.
  void SetPeers(std::vector<LanePeer> peers, uint32_t needed);
  uint64_t peers_version() const { return version_.load(std::memory_order_acquire); }
  uint64_t Peers(std::vector<LanePeer>* out, uint32_t* needed) const;

  uint64_t run() const { return run_; }

  // The origins whose streams this node follows (catch-up or streaming, not a copy):
  // only their frames are applied. A copy's end deletes what the copy did not carry
  // (Core::FinishSweep), so a change the lane brought before it would be lost.
  // SetFollowing on the replication thread; Following any thread.
  void SetFollowing(const std::vector<uint16_t>& nodes);
  bool Following(uint16_t node) const {
    return (following_[node / 64].load(std::memory_order_acquire) >> (node % 64)) & 1;
  }

  // Counters (relaxed; `stats replication`): frames applied, refused and left to the
  // stream here (from an origin we copy from); batches the server's lane client sent,
  // answers it took, batches its answers settled.
  std::atomic<uint64_t> applied{0}, refused{0}, deferred{0}, sent{0}, answers{0}, settled{0};

 private:
  struct Capturing;
  Capturing& This();
  static std::string Token(const FrameKey& key, std::string_view frame);

  const std::string root_;
  const uint64_t cluster_tag_;
  const std::string cluster_;
  const uint16_t node_;
  const uint64_t run_;
  const uint64_t instance_;  // thread-local state names it (an address could be reused)
  FrameKey own_key_;
  // Nonces: 16 random bytes of this run, then a counter.
  unsigned char nonce_prefix_[16];
  std::atomic<uint64_t> nonces_{0};
  mutable Mutex mu_;
  std::vector<LanePeer> peers_ GUARDED_BY(mu_);
  uint32_t needed_ GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> version_{0};
  std::atomic<uint64_t> following_[65536 / 64] = {};
};

// The changes of a lane frame from `node` (record::DecodeChange each; they point into
// `records`). False if any is malformed or not `node`'s own: the frame is refused whole.
bool DecodeLaneRecords(std::string_view records, uint16_t node,
                       std::vector<record::ChangeView>* out);

}  // namespace syncached::replication
