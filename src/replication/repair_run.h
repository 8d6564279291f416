// One anti-entropy comparison with a peer, on either side of a link (internal to
// replication; repair_runs.cc drives it, docs/REPAIR.md describes it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "repair/repair.h"
#include "storage/storage.h"

namespace syncached::replication {

// The comparison's view of this node: the keys of some buckets among those shared with
// the peer, and its recent evictions. A call for a few buckets walks the store once;
// after a few calls, or once the calls asked for many buckets (large divergence, whose
// Keys messages of at most 1 MiB each would each cost a walk), one walk lists every
// bucket and later calls read that listing: a walk of a large store per message kept
// the replication thread from its peers for seconds. A listing of every key costs more
// than a walk, so comparisons that differ in a few buckets (a handover's, after its
// range copies) do without.
class RepairHost final : public repair::Host {
 public:
  RepairHost(storage::Store* store, const repair::Index* index, uint16_t peer, uint32_t now_s,
             uint32_t eviction_window_s)
      : store_(store), index_(index), peer_(peer), now_s_(now_s), window_s_(eviction_window_s) {}
  // Lists every key held in a bucket, shared with the peer or not (a handover's
  // initiator: the peer may place by a members file it does not know, and a key it
  // already holds must not be fetched again).
  void ListAll() { list_all_ = true; }
  void ListBuckets(const std::vector<uint32_t>& buckets,
                   std::vector<std::vector<repair::KeyVersion>>* out) override;
  bool EvictedIn(uint32_t bucket) override;
  bool Takes(std::string_view key) override { return index_->Shares(peer_, key); }

 private:
  storage::Store* store_;
  const repair::Index* index_;
  uint16_t peer_;
  uint32_t now_s_;
  uint32_t window_s_;
  bool list_all_ = false;
  int calls_ = 0;
  size_t asked_ = 0;                                     // buckets asked for so far
  std::vector<std::vector<repair::KeyVersion>> listed_;  // per bucket, once built
};

struct RepairRun {
  // `digests`: compared instead of the index's for the peer (a handover's, see
  // Core::HandoverDigests).
  RepairRun(storage::Store* store, const repair::Index* index, uint16_t peer, uint32_t id,
            uint64_t now_ms, uint32_t eviction_window_s, const repair::Digests* digests = nullptr)
      : id(id),
        peer(peer),
        started_ms(now_ms),
        tree(digests ? *digests : *index->For(peer)),
        host(store, index, peer, store->clock()->NowSeconds(), eviction_window_s),
        cmp(&tree, &host) {}
  uint32_t id;
  uint16_t peer;
  uint64_t started_ms;
  repair::Tree tree;  // our digests when the comparison began
  RepairHost host;
  repair::Comparison cmp;
  bool finished = false;          // done or failed, and counted
  std::vector<std::string> push;  // keys to send the peer, once done
  size_t pushed = 0;
  void MakeHandover() {
    handover = true;
    host.ListAll();
    cmp.SetPullOnly();
  }
  bool handover = false;   // begun for a membership change's handover
  bool peer_done = false;  // initiator: the peer's REPAIR_DONE came (all its items did)
  bool done_sent = false;  // responder: REPAIR_DONE sent
};

}  // namespace syncached::replication
