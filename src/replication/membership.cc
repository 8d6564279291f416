// Membership changes (docs/SHARDING.md, "Adding and removing nodes"). The caller places
// keys by the old and the new members file at once (Membership::owners) while the
// change is handed over: every change reaches its owners under both, so the old owners
// stay complete. A node that gains keys first asks every peer for a range copy at once
// (range_copies.cc: each key from one peer, walked from its store); then it compares
// digests, after the peer placed keys by the same epoch, with every peer it shares keys
// with, which finds what the copies missed (a peer that crashed or was cut off). It is
// ready once each comparison's items came. What a peer held when it adopted the epoch
// comes with the copy or the comparison; what it took after, its stream carries here.
#include <algorithm>
#include <cinttypes>

#include "common/log.h"
#include "replication/core.h"
#include "replication/repair_run.h"

namespace syncached::replication {

namespace {
constexpr uint64_t kDeclinedRetryMs = 500;  // a peer still linking back to us
constexpr uint64_t kLeavingQuietMs = 5000;
}  // namespace

void Core::SetMembership(const Membership& m) {
  filter_unowned_ = static_cast<bool>(m.owners);
  bool changed = m.epoch != opts_.members_digest;
  opts_.members_digest = m.epoch;
  opts_.owners = m.owners;
  sends_to_ = m.sends_to;
  new_owners_ = m.new_owners;
  places_by_both_ = m.places_by_both;
  if (!m.changing) handover_peers_.clear();
  if (m.repair) opts_.repair = m.repair;
  if (changed || m.repair) {
    // Their trees were of the previous placement's digests.
    for (Link& l : links_) l.repair.reset();
    for (auto& entry : sessions_) entry.second.repair.reset();
  }
  for (Link& l : links_) {
    bool named = std::find(m.peers.begin(), m.peers.end(), l.address) != m.peers.end();
    l.leaving = !named && !l.retired && l.phase != Link::Phase::kConnecting;
    if (!named && !l.leaving && !l.retired) ResetLink(l, "no longer a member");
    l.retired = !named && !l.leaving;
  }
  for (const std::string& address : m.peers) {
    bool known = std::any_of(links_.begin(), links_.end(),
                             [&](const Link& l) { return l.address == address; });
    if (known) continue;
    links_.push_back(NewLink(links_.size(), address));
    transport_->AddLink(links_.back().index, address);
  }
  handing_over_ = m.gains && opts_.repair;
  changing_ = m.changing;
  if (changed) {
    for (Link& l : links_) {
      l.handover_keys = 0;
      l.range_id = 0;
    }
    for (auto& entry : sessions_) entry.second.range_id = 0;
  }
  SC_LOG(kInfo, "replication: members epoch %016" PRIx64 "%s", m.epoch,
         handing_over_ ? ": taking over keys from the peers" : "");
}

const char* Core::HandoverState(const Link& l) const {
  if (l.handed_over == opts_.members_digest) return "done";
  if (l.range_id) return "copying";
  if (!l.repair || !l.repair->handover) return "waiting";
  return l.repair->finished ? "receiving" : "comparing";
}

// A peer that shares keys with us, follows the new epoch and streams to us.
bool Core::HandsOverWith(const Link& l) const {
  return !l.retired && !l.leaving && l.phase == Link::Phase::kStreaming &&
         l.peer_members_epoch == opts_.members_digest && now_ >= l.handover_retry_ms &&
         opts_.repair->For(l.peer_node) != nullptr;
}

// Once no range copy is in flight, a comparison with every peer we hand over with whose
// comparison is not complete, all at once: the copies brought nearly everything, so a
// key two peers both send is rare.
void Core::StartHandoverRun() {
  if (!handing_over_) return;
  StartRangeCopies();
  if (RangeCopiesInFlight()) return;
  // The index's digests: a node that knows only the new file (added with --join) counts
  // keys by it, as the peers count theirs with it (repair::Index::CountByNewOwners, or
  // HandoverDigests on a peer whose index does not).
  for (Link& l : links_) {
    if (l.repair || l.handed_over == opts_.members_digest || !HandsOverWith(l)) continue;
    l.repair = std::make_shared<RepairRun>(store_, opts_.repair, l.peer_node, next_repair_id_++,
                                           now_, opts_.repair_eviction_window_s);
    l.repair->MakeHandover();
    ++repair_stats_.runs;
    ++repair_stats_.handover_runs;
    std::string msg = EncodeRepair(l.repair->id, l.repair->cmp.Start());
    repair_stats_.bytes_sent += msg.size();
    transport_->ToPublisher(l.index, msg);
  }
}

void Core::FinishHandoverRuns() {
  if (!handing_over_) return;
  bool all = true;
  for (Link& l : links_) {
    if (l.retired || l.leaving) continue;
    RepairRun* run = l.repair.get();
    if (run && run->handover && run->finished && run->pushed >= run->push.size() &&
        run->peer_done) {
      if (!run->cmp.failed()) l.handed_over = opts_.members_digest;
      l.repair.reset();
    }
    // A peer not heard from yet may share keys with us: it counts until it answers.
    bool shares = l.peer_node == 0 || opts_.repair->For(l.peer_node) != nullptr;
    if (shares && l.handed_over != opts_.members_digest) all = false;
  }
  if (all) {
    handing_over_ = false;
    SC_LOG(kInfo, "replication: holds every key it takes over in members epoch %016" PRIx64,
           opts_.members_digest);
  }
}

// After a membership change, peers still placing keys by both files (and their
// backlogs, routed so) send keys this node no longer owns: not kept.
bool Core::Unowned(const record::ChangeView& c) {
  if (!filter_unowned_ || c.kind == record::Kind::kFlush) return false;
  opts_.owners(c.key, &owners_scratch_);
  if (std::find(owners_scratch_.begin(), owners_scratch_.end(), opts_.node_id) !=
      owners_scratch_.end()) {
    return false;
  }
  ++unowned_dropped_;
  return true;
}

// A leaving peer's link retires once the peer stopped (or went away) for a while.
void Core::RetireLeaving(Link& l) {
  if (!l.leaving || l.phase != Link::Phase::kConnecting ||
      Elapsed(now_, l.connecting_since_ms) < kLeavingQuietMs) {
    return;
  }
  l.leaving = false;
  l.retired = true;
  SC_LOG(kInfo, "replication: %s left the cluster", l.address.c_str());
}

bool Core::AllReady() const {
  if (handing_over_) return false;
  for (const Link& l : links_) {
    if (l.retired || l.leaving) continue;
    bool heard = l.phase == Link::Phase::kCatchUp || l.phase == Link::Phase::kStreaming;
    if (!heard || l.peer_members_epoch != opts_.members_digest || !l.peer_ready) return false;
  }
  return true;
}

void Core::DeclineRetry(Link& l) {
  l.repair.reset();
  l.handover_retry_ms = now_ + kDeclinedRetryMs;
}

// Nodes that place keys by other members files keep streaming to each other (each to
// the owners it knows), but nothing switches over until they agree: said loudly.
void Core::NoteMembersEpoch(uint16_t node, uint64_t epoch) {
  uint64_t& known = peer_epochs_[node];
  if (known == epoch) return;
  known = epoch;
  if (epoch != opts_.members_digest) {
    SC_LOG(kWarn,
           "replication: node %u places keys by members epoch %016" PRIx64
           ", this node by %016" PRIx64 ": load the same members file on every node",
           node, epoch, opts_.members_digest);
  }
}

}  // namespace syncached::replication
