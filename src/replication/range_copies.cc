// A membership change's range copies (docs/SHARDING.md "Adding and removing nodes"): a
// node that gains keys asks each peer it hands over with, all at once, for the keys it
// gains of which that peer is the sender (Membership::sends_to: the old owner that wrote
// the key, else its first old owner; each key travels once). The peer walks its store a
// shard per step, as a full copy does, and sends them as REPAIR_ITEMS within
// repair_rate, then REPAIR_DONE. A copy cut off, declined or timed out is not retried:
// the digest comparisons that follow find and bring what it missed, only slower.
#include <algorithm>

#include "common/log.h"
#include "record/record.h"
#include "replication/core.h"

namespace syncached::replication {

namespace {
constexpr uint64_t kRangeTimeoutMs = 60000;  // the peer's REPAIR_DONE not here by then
constexpr size_t kRangeMessageBytes = 64 * 1024;
constexpr int kRangeMessagesPerStep = 16;  // then the thread looks at its sockets again
}  // namespace

// Asked of every peer we hand over with, whatever our own sends_to_ (a node added with
// --join knows only the new members file; its peers know both).
void Core::StartRangeCopies() {
  for (Link& l : links_) {
    if (l.range_id && Elapsed(now_, l.range_started_ms) > kRangeTimeoutMs) {
      ++repair_stats_.range_copies_failed;
      l.range_id = 0;
      l.ranged = opts_.members_digest;
    }
    if (l.range_id || l.ranged == opts_.members_digest || l.handed_over == opts_.members_digest ||
        !HandsOverWith(l)) {
      continue;
    }
    l.range_id = next_repair_id_++;
    l.range_started_ms = now_;
    ++repair_stats_.range_copies;
    std::string msg = EncodeRepairRange(l.range_id, opts_.members_digest, !places_by_both_);
    repair_stats_.bytes_sent += msg.size();
    transport_->ToPublisher(l.index, msg);
  }
}

bool Core::RangeCopiesInFlight() const {
  for (const Link& l : links_) {
    if (l.range_id) return true;
  }
  return false;
}

// Subscriber side: the peer sent all its items of our copy, or declined it.
bool Core::OnRangeDone(Link& l, uint32_t id, bool declined) {
  if (l.range_id != id || id == 0) return false;
  if (declined) ++repair_stats_.range_copies_failed;
  l.range_id = 0;
  l.ranged = opts_.members_digest;
  return true;
}

// Publisher side: a peer asks for the keys it gains from us. False: not a valid
// REPAIR_RANGE.
bool Core::OnRangeRequest(Session& s, std::string_view msg) {
  uint32_t id;
  uint64_t epoch;
  bool new_only;
  if (!DecodeRepairRange(msg, &id, &epoch, &new_only)) return false;
  repair_stats_.bytes_received += msg.size();
  if (new_only) handover_peers_[s.node_id] = epoch;
  if (!sends_to_ || epoch != opts_.members_digest || id == 0) {
    SendTo(s, EncodeRepairDone(id, true));
    return true;
  }
  s.range_id = id;
  s.range_shard = 0;
  s.range_items = 0;
  ++repair_stats_.range_copies_served;
  return true;
}

// Walks shards of the store into REPAIR_ITEMS for the session's range copy while the
// rate and the peer's pipe allow. True: more remain.
bool Core::PumpRange(Session& s) {
  int messages = 0;
  while (s.range_shard < store_->shard_count() && s.queued.empty() && repair_tokens_ > 0 &&
         messages < kRangeMessagesPerStep) {
    std::string msg;
    uint32_t count = 0;
    auto send = [&] {
      s.range_items += count;
      SendTo(s, FinishItems(std::move(msg), count));
      ++messages;
      msg.clear();
      count = 0;
    };
    BeginRepairItems(0, &msg);
    store_->SnapshotShard(s.range_shard++, [&](const record::ChangeView& c) {
      if (c.kind == record::Kind::kFlush || !sends_to_(c.key, c.version.node, s.node_id)) return;
      record::EncodeChange(c, &msg);
      ++count;
      if (msg.size() >= kRangeMessageBytes) {
        send();
        BeginRepairItems(0, &msg);
      }
    });
    if (count) send();
  }
  if (s.range_shard < store_->shard_count()) return true;
  if (!s.queued.empty()) return true;  // REPAIR_DONE goes after the last item
  SendTo(s, EncodeRepairDone(s.range_id, false));
  s.range_id = 0;
  return false;
}

// A handover's comparison asked by a node that knows only the new file (added with
// --join, or restarted mid-change) compares the keys both own under the new file. The
// index counts them so for a node new in the change (CountByNewOwners); for another,
// they are counted here from a walk of the store (none without new_owners_: the
// index's digests then): the index counts keys by both files, and the two trees would
// differ everywhere.
std::unique_ptr<repair::Digests> Core::HandoverDigests(uint16_t peer) {
  if (!new_owners_) return nullptr;
  auto out = std::make_unique<repair::Digests>(opts_.repair->bits());
  std::vector<uint16_t> owners;
  auto owns = [&](uint16_t id) {
    return std::find(owners.begin(), owners.end(), id) != owners.end();
  };
  for (size_t i = 0; i < store_->shard_count(); ++i) {
    store_->SnapshotShard(i, [&](const record::ChangeView& c) {
      if (c.kind == record::Kind::kFlush) return;
      new_owners_(c.key, &owners);
      if (owns(opts_.node_id) && owns(peer)) {
        out->Add(c.key, c.version, c.kind == record::Kind::kDelete);
      }
    });
  }
  return out;
}

}  // namespace syncached::replication
