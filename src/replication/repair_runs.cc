// Anti-entropy over the replication links (docs/REPAIR.md). Each link's subscriber side
// begins a comparison with its peer now and then (repair_interval_ms) and soon after the
// link comes back; the two sides exchange REPAIR messages over the link, then each sends
// the other, as REPAIR_ITEMS within repair_rate, the keys the other lacks or holds older.
// The items are ordinary versioned changes: the newer version wins wherever they land.
#include <algorithm>

#include "common/log.h"
#include "replication/core.h"
#include "replication/repair_run.h"

namespace syncached::replication {

namespace {
constexpr uint64_t kRepairTimeoutMs = 60000;  // a comparison not done by then is dropped
constexpr uint64_t kAfterReturnMs = 1000;     // a link back streaming compares this soon
constexpr size_t kItemsMessageBytes = 64 * 1024;
// REPAIR_ITEMS messages a comparison may send per step of the replication thread: 1 MiB,
// then the thread looks at its sockets again.
constexpr int kItemsMessagesPerStep = 16;
// Calls of RepairHost::ListBuckets answered by a walk of the store each, before one walk
// lists every bucket for the calls after.
constexpr int kWalksBeforeListing = 3;
}  // namespace

void RepairHost::ListBuckets(const std::vector<uint32_t>& buckets,
                             std::vector<std::vector<repair::KeyVersion>>* out) {
  const size_t all = size_t{1} << index_->bits();
  asked_ += buckets.size();
  if (listed_.empty() && (++calls_ > kWalksBeforeListing || asked_ >= all / 8)) {
    listed_.resize(all);
    for (size_t i = 0; i < store_->shard_count(); ++i) {
      store_->SnapshotShard(i, [&](const record::ChangeView& c) {
        if (!list_all_ && !index_->Shares(peer_, c.key)) return;
        listed_[repair::BucketOf(c.key, index_->bits())].push_back(
            {std::string(c.key), c.version, c.kind == record::Kind::kDelete});
      });
    }
  }
  if (!listed_.empty()) {
    for (size_t i = 0; i < buckets.size(); ++i) {
      if (buckets[i] < all) (*out)[i] = listed_[buckets[i]];
    }
    return;
  }
  std::vector<int32_t> slot(all, -1);
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (buckets[i] < slot.size()) slot[buckets[i]] = static_cast<int32_t>(i);
  }
  for (size_t i = 0; i < store_->shard_count(); ++i) {
    store_->SnapshotShard(i, [&](const record::ChangeView& c) {
      int32_t at = slot[repair::BucketOf(c.key, index_->bits())];
      if (at < 0 || (!list_all_ && !index_->Shares(peer_, c.key))) return;
      (*out)[at].push_back({std::string(c.key), c.version, c.kind == record::Kind::kDelete});
    });
  }
}

bool RepairHost::EvictedIn(uint32_t bucket) {
  return index_->EvictedWithin(peer_, bucket, now_s_, window_s_);
}

void Core::ScheduleRepairSoon(Link& l) {
  if (!opts_.repair) return;
  uint64_t at = now_ + kAfterReturnMs;
  if (l.next_repair_ms == 0 || l.next_repair_ms > at) l.next_repair_ms = at;
}

void Core::StartRepairs() {
  if (!opts_.repair) return;
  bool now_for_all = repair_requested_.exchange(false, std::memory_order_relaxed);
  FinishHandoverRuns();
  for (Link& l : links_) {
    if (l.retired) continue;
    if (now_for_all) l.next_repair_ms = now_;  // one in progress: the next right after
    if (l.repair && (!l.repair->finished || (l.repair->handover && !l.repair->peer_done)) &&
        Elapsed(now_, l.repair->started_ms) > kRepairTimeoutMs) {
      ++repair_stats_.runs_failed;  // the peer lost it (or has no repair)
      l.repair.reset();
    }
    if (l.repair && !l.repair->handover && l.repair->finished &&
        l.repair->pushed >= l.repair->push.size()) {
      l.repair.reset();
    }
    // A peer taking keys over compares with us itself (membership.cc), one peer at a
    // time; comparing from here too would send it the same keys twice.
    bool peer_handing_over =
        l.peer_members_epoch == opts_.members_digest && !l.peer_ready && l.peer_members_epoch != 0;
    if (l.repair || l.phase != Link::Phase::kStreaming || l.next_repair_ms == 0 ||
        now_ < l.next_repair_ms || !opts_.repair->For(l.peer_node) || peer_handing_over ||
        changing_) {
      continue;
    }
    l.next_repair_ms = opts_.repair_interval_ms ? now_ + opts_.repair_interval_ms : 0;
    l.repair = std::make_shared<RepairRun>(store_, opts_.repair, l.peer_node, next_repair_id_++,
                                           now_, opts_.repair_eviction_window_s);
    ++repair_stats_.runs;
    std::string msg = EncodeRepair(l.repair->id, l.repair->cmp.Start());
    repair_stats_.bytes_sent += msg.size();
    transport_->ToPublisher(l.index, msg);
  }
  StartHandoverRun();
}

void Core::StepRepair(RepairRun& run, std::string_view body, std::vector<std::string>* replies) {
  run.cmp.OnMessage(body, replies);
  if (!run.cmp.done() || run.finished) return;
  run.finished = true;
  const repair::CompareStats& st = run.cmp.stats();
  repair_stats_.buckets_differing += st.buckets_differing;
  repair_stats_.keys_listed += st.keys_listed;
  if (run.cmp.failed()) {
    ++repair_stats_.runs_failed;
    SC_LOG(kWarn, "replication: repair comparison with node %u failed (a bad message)", run.peer);
    return;
  }
  run.push = run.cmp.TakePush();
  if (st.buckets_differing == 0 && run.push.empty()) ++repair_stats_.runs_in_sync;
  if (!run.push.empty()) {
    SC_LOG(kInfo, "replication: repair with node %u: %llu differing bucket(s), sending %zu key(s)",
           run.peer, static_cast<unsigned long long>(st.buckets_differing), run.push.size());
  }
}

// Subscriber side: the peer's answer in the comparison this link began.
void Core::OnRepairFromPeer(Link& l, std::string_view msg) {
  uint32_t id;
  std::string_view body;
  if (!DecodeRepair(msg, &id, &body)) return;
  repair_stats_.bytes_received += msg.size();
  if (!l.repair || l.repair->id != id || l.repair->finished) return;  // an older one's
  std::vector<std::string> replies;
  StepRepair(*l.repair, body, &replies);
  for (const std::string& r : replies) {
    std::string out = EncodeRepair(id, r);
    repair_stats_.bytes_sent += out.size();
    transport_->ToPublisher(l.index, out);
  }
}

// Publisher side: a subscriber's comparison with us (a new id starts a new one).
void Core::OnRepairFromSubscriber(Session& s, std::string_view msg) {
  uint32_t id;
  std::string_view body;
  if (!DecodeRepair(msg, &id, &body)) return;
  repair_stats_.bytes_received += msg.size();
  if (!opts_.repair) return;  // its run times out
  if (!opts_.repair->For(s.node_id)) {
    SendTo(s, EncodeRepairDone(id, true));  // we place keys otherwise (yet)
    return;
  }
  // While we still take a copy or catch-up from that peer our digests are partial: a
  // comparison now would list, and have it send, what the copy is bringing anyway.
  for (const Link& l : links_) {
    if (l.peer_node == s.node_id && l.phase != Link::Phase::kStreaming) {
      SendTo(s, EncodeRepairDone(id, true));  // asked again soon
      return;
    }
  }
  if (!s.repair || s.repair->id != id) {
    auto asked = handover_peers_.find(s.node_id);
    std::unique_ptr<repair::Digests> digests;
    if (asked != handover_peers_.end() && asked->second == opts_.members_digest &&
        !opts_.repair->CountsByNewOwners(s.node_id)) {
      digests = HandoverDigests(s.node_id);
    }
    s.repair = std::make_shared<RepairRun>(store_, opts_.repair, s.node_id, id, now_,
                                           opts_.repair_eviction_window_s, digests.get());
    ++repair_stats_.runs;
  } else if (s.repair->finished) {
    return;
  }
  std::vector<std::string> replies;
  StepRepair(*s.repair, body, &replies);
  for (const std::string& r : replies) {
    std::string out = EncodeRepair(id, r);
    repair_stats_.bytes_sent += out.size();
    SendTo(s, std::move(out));
  }
}

// The peer sent all its items of the comparison this link began, or declined it.
bool Core::OnRepairDone(Link& l, std::string_view msg) {
  uint32_t id;
  bool declined;
  if (!DecodeRepairDone(msg, &id, &declined)) return false;
  if (OnRangeDone(l, id, declined)) return true;
  if (!l.repair || l.repair->id != id) return true;  // an older one's
  if (declined) {
    DeclineRetry(l);
  } else {
    l.repair->peer_done = true;
  }
  return true;
}

bool Core::ApplyRepairItems(std::string_view msg, uint64_t* keys) {
  Changes changes;
  if (!DecodeChanges(msg, &changes)) return false;
  repair_stats_.bytes_received += msg.size();
  if (keys) *keys += changes.changes.size();
  for (const record::ChangeView& c : changes.changes) {
    ++repair_stats_.keys_received;
    if (Unowned(c)) continue;
    if (store_->Apply(c) == storage::ApplyResult::kApplied) ++repair_stats_.keys_applied;
  }
  return true;
}

// REPAIR_ITEMS messages of the run's keys, up to kItemsMessagesPerStep while the rate
// allows and the peer has `room`. True: more remain.
bool Core::PushSome(RepairRun& run, const std::function<bool()>& room,
                    const std::function<void(std::string&&)>& send) {
  for (int i = 0; i < kItemsMessagesPerStep && repair_tokens_ > 0 && room(); ++i) {
    if (!PushOne(run, send)) return false;
  }
  return run.pushed < run.push.size();
}

// One REPAIR_ITEMS message of the run's keys. True: more remain.
bool Core::PushOne(RepairRun& run, const std::function<void(std::string&&)>& send) {
  std::string msg;
  BeginRepairItems(0, &msg);
  uint32_t count = 0;
  while (run.pushed < run.push.size() && msg.size() < kItemsMessageBytes) {
    store_->SnapshotKey(run.push[run.pushed++], [&](const record::ChangeView& c) {
      record::EncodeChange(c, &msg);
      ++count;
    });
  }
  if (count > 0) send(FinishItems(std::move(msg), count));
  return run.pushed < run.push.size();
}

// A REPAIR_ITEMS message of `count` items, counted and charged to the rate.
std::string Core::FinishItems(std::string msg, uint32_t count) {
  SetCount(&msg, count);
  repair_tokens_ -= static_cast<double>(msg.size());
  repair_stats_.keys_sent += count;
  repair_stats_.bytes_sent += msg.size();
  return msg;
}

bool Core::PumpRepairPushes() {
  if (!opts_.repair) return false;
  double rate = static_cast<double>(opts_.repair_rate);
  repair_tokens_ = std::min(
      rate, repair_tokens_ + rate * static_cast<double>(Elapsed(now_, repair_refilled_ms_)) / 1000);
  repair_refilled_ms_ = now_;
  bool more = false;
  for (Link& l : links_) {
    if (!l.repair || !l.repair->finished) continue;
    more |= PushSome(
        *l.repair, [] { return true; },
        [&](std::string&& msg) { transport_->ToPublisher(l.index, msg); });
  }
  for (auto& entry : sessions_) {
    Session& s = entry.second;
    if (s.range_id && !s.gone) more |= PumpRange(s);
    // One message queued at a time: a slow peer holds the keys, not our memory.
    if (!s.repair || !s.repair->finished || !s.queued.empty() || s.gone) continue;
    more |= PushSome(
        *s.repair, [&] { return s.queued.empty(); },
        [&](std::string&& msg) { SendTo(s, std::move(msg)); });
    // After its items, in order on the same connection: the initiator of a handover
    // knows it holds all the comparison found.
    if (s.repair->pushed >= s.repair->push.size() && !s.repair->done_sent) {
      s.repair->done_sent = true;
      SendTo(s, EncodeRepairDone(s.repair->id, false));
    }
  }
  repair_pushing_ = more && repair_tokens_ > 0;
  return repair_pushing_;
}

}  // namespace syncached::replication
