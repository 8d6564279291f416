#include "replication/core.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "common/log.h"

namespace syncached::replication {
namespace {
// A peer heard from this recently is expected to follow our stream: before we serve
// (for at most kFollowerWaitMs after our sync) and before a SIGTERM lets us exit.
constexpr uint64_t kFollowerGraceMs = 3000;
constexpr uint64_t kFollowerWaitMs = 2000;
std::atomic<uint64_t> instances{0};

const char* PhaseName(Link::Phase p) {
  switch (p) {
    case Link::Phase::kConnecting:
      return "connecting";
    case Link::Phase::kFullCopy:
      return "full_copy";
    case Link::Phase::kCatchUp:
      return "catch_up";
    case Link::Phase::kStreaming:
      return "streaming";
    case Link::Phase::kRefused:
      return "refused";
  }
  return "unknown";
}
}  // namespace

Core::Core(const Options& options, storage::Store* store, Transport* transport, uint64_t epoch,
           uint64_t now)
    : opts_(options),
      instance_(++instances),
      store_(store),
      transport_(transport),
      epoch_(epoch),
      started_ms_(now),
      now_(now),
      backlog_(options.backlog_bytes) {
  if (!opts_.multicast_secret.empty() && !opts_.owners) {
    own_frame_key_ = std::make_unique<FrameKey>(opts_.multicast_secret, opts_.cluster_name,
                                                opts_.node_id, epoch_);
    cluster_tag_ = ClusterTag(opts_.cluster_name);
  }
  if (!opts_.owners) {  // a replica's lane applies frames whatever its own --sync-replicas
    lane_ = std::make_unique<SyncLane>(opts_.lane_secret, opts_.cluster_name, opts_.node_id);
  }
  for (size_t i = 0; i < opts_.peers.size(); ++i) links_.push_back(NewLink(i, opts_.peers[i]));
}

Link Core::NewLink(size_t index, const std::string& address) {
  Link l;
  l.index = index;
  l.address = address;
  l.connecting_since_ms = now_;
  if (multicast_on()) l.mcast = std::make_shared<McastLink>(kMcastBufferBytes);
  // Resume where the data on disk left this peer's stream: a catch-up from its
  // backlog if it is still there, a copy otherwise.
  auto saved = opts_.saved_positions.find("peer:" + l.address);
  unsigned long long saved_epoch = 0, saved_seq = 0, saved_hlc = 0;
  if (saved != opts_.saved_positions.end() &&
      sscanf(saved->second.c_str(), "%llu %llu %llu", &saved_epoch, &saved_seq, &saved_hlc) >= 2) {
    l.epoch = saved_epoch;
    l.next_seq = saved_seq;
    l.stream_hlc = saved_hlc;
  }
  return l;
}

uint64_t Core::WallMillis() const { return store_->clock()->NowMillis(); }

bool Core::Step(uint64_t now) {
  now_ = now;
  // While the sync lane carries our changes to every peer a write waits for, the stream
  // gathers them for up to kLaneStreamDelayMs: a batch (and an ACK back) per write
  // would wake both nodes' replication and ZeroMQ threads once per write.
  bool gather = lane_covers_ && pending_nonempty();
  if (gather && pending_seen_ms_ == 0) pending_seen_ms_ = now_;
  if (!gather || Elapsed(now_, pending_seen_ms_) >= kLaneStreamDelayMs) {
    DrainPending();
    pending_seen_ms_ = 0;
  }
  // Sharded (or `all`), a change none of whose co-owners follows us waits for none, and
  // a session found gone no longer counts.
  if (opts_.sync_replicas > 0) AdvanceAcked();
  if (lane_ && opts_.sync_replicas > 0) PublishLanePeers();
  if (lane_) PublishFollowing();
  if (multicast_on() && Elapsed(now_, last_mcast_ms_) >= kMcastHeartbeatMs) MulticastHeartbeat();
  TickLinks();
  UpdateGate();
  StartRepairs();
  bool busy = PumpRepairPushes();
  PumpSessions(&busy);
  return busy || now_ < probe_until_ms_;
}

void Core::Drain(uint64_t now) {
  now_ = now;
  draining_ = true;
  DrainPending();
  bool busy = false;
  PumpSessions(&busy);
}

bool Core::Drained() const {
  for (const auto& [id, s] : sessions_) {
    if (!s.gone && !(s.mode == Session::Mode::kStream && s.queued.empty() &&
                     s.next_seq >= backlog_.next_seq() && s.acked_seq >= backlog_.next_seq())) {
      return false;
    }
  }
  // A peer we hear from but that follows no session of ours yet (we restarted a moment
  // ago and its HELLO is on the way) is waited for too: it must get our first writes.
  return !initial_sync_done_ || AllLivePeersFollow();
}

// The join gate: every peer is either synced, refused, or has been silent longer than
// the join timeout (never answered since we started, or died mid-copy: the copies the
// other peers send cover what it had). Once any peer has answered, the cluster has data
// for us: the node then waits for some peer to finish a sync, however long, rather than
// serve part of a copy. Then the peers that followed our earlier run and were told to
// wait get their copies, and clients are let in once every live peer follows us (or a
// moment passed: a link that works one way only must not keep us shut), so our first
// writes reach them, whatever the scheduling of their HELLOs.
void Core::UpdateGate() {
  bool resolved_all = true, any_synced = false, ever_welcomed = false;
  for (const Link& l : links_) {
    if (l.retired) continue;
    uint64_t heard = l.last_rx_ms ? l.last_rx_ms : started_ms_;
    bool silent = Elapsed(now_, heard) > opts_.join_timeout_ms;
    resolved_all &= l.synced || l.phase == Link::Phase::kRefused || silent;
    any_synced |= l.synced;
    ever_welcomed |= l.welcomed;
  }
  if (resolved_all && (any_synced || !ever_welcomed) && !initial_sync_done_) {
    initial_sync_done_ = true;
    synced_at_ms_ = now_;
    auto waiting = std::move(deferred_hellos_);
    deferred_hellos_.clear();
    for (auto& [node, hello] : waiting) HandleHello(hello.first, hello.second);
  }
  gate_open_ = initial_sync_done_ &&
               (AllLivePeersFollow() || Elapsed(now_, synced_at_ms_) > kFollowerWaitMs);
  any_synced_ = any_synced;
}

// Every peer we heard from lately has a session on our stream (a copy or the stream).
bool Core::AllLivePeersFollow() const {
  for (const Link& l : links_) {
    if (l.retired || l.peer_node == 0 || Elapsed(now_, l.last_rx_ms) > kFollowerGraceMs) continue;
    bool followed = false;
    for (const auto& [id, s] : sessions_) followed |= s.node_id == l.peer_node && !s.gone;
    if (!followed) return false;
  }
  return true;
}

uint64_t Core::StatsSignature() const {
  uint64_t h = sessions_.size();
  for (const Link& l : links_) {
    h = h * 31 + static_cast<uint64_t>(l.phase) * 2 + (l.synced ? 1 : 0);
  }
  for (const auto& [id, s] : sessions_) {
    h = h * 31 + s.node_id * 2 + (s.mode == Session::Mode::kFullCopy ? 1 : 0);
  }
  return h;
}

std::string Core::RenderStats(const char* auth, uint64_t auth_failures) const {
  uint64_t wall = WallMillis();
  std::string out;
  char line[512];
  auto stat = [&](const char* fmt, auto... args) {
    int n = snprintf(line, sizeof line, fmt, args...);
    out.append(line, static_cast<size_t>(std::max(0, std::min<int>(n, sizeof line - 1))));
  };
  stat("STAT node_id %u\r\n", opts_.node_id);
  stat("STAT cluster_name %s\r\n", opts_.cluster_name.c_str());
  stat("STAT auth %s\r\n", auth);
  stat("STAT epoch %" PRIu64 "\r\n", epoch_);
  stat("STAT next_seq %" PRIu64 "\r\n", backlog_.next_seq());
  stat("STAT backlog_bytes %" PRIu64 "\r\n", backlog_.bytes());
  stat("STAT backlog_limit %" PRIu64 "\r\n", backlog_.max_bytes());
  stat("STAT backlog_first_seq %" PRIu64 "\r\n", backlog_.front_seq());
  stat("STAT peers %zu\r\n",
       static_cast<size_t>(
           std::count_if(links_.begin(), links_.end(), [](const Link& l) { return !l.retired; })));
  stat("STAT subscribers %zu\r\n", sessions_.size());
  stat("STAT conflicts %" PRIu64 "\r\n", store_->conflicts());
  stat("STAT tombstones %" PRIu64 "\r\n", store_->tombstones());
  stat("STAT auth_failures %" PRIu64 "\r\n", auth_failures);
  stat("STAT queue_overflows %" PRIu64 "\r\n", overflows_);
  if (opts_.sync_replicas == kSyncAllPeers) {
    stat("STAT sync_replicas %s\r\n", "all");
  } else {
    stat("STAT sync_replicas %u\r\n", opts_.sync_replicas);
  }
  stat("STAT sync_waits %" PRIu64 "\r\n", sync_waits_.load());
  stat("STAT sync_timeouts %" PRIu64 "\r\n", sync_timeouts_.load());
  stat("STAT sync_wait_us %" PRIu64 "\r\n", sync_wait_us_.load());
  if (multicast_on()) {
    stat("STAT multicast_batches_sent %" PRIu64 "\r\n", mcast_batches_);
    stat("STAT multicast_heartbeats_sent %" PRIu64 "\r\n", mcast_heartbeats_);
    stat("STAT multicast_bytes_sent %" PRIu64 "\r\n", mcast_bytes_);
    stat("STAT multicast_rejected %" PRIu64 "\r\n", mcast_rejected_);
    stat("STAT multicast_ignored %" PRIu64 "\r\n", mcast_ignored_);
  }
  if (opts_.repair) {
    const RepairStats& r = repair_stats_;
    stat("STAT repair_runs %" PRIu64 "\r\n", r.runs);
    stat("STAT repair_runs_in_sync %" PRIu64 "\r\n", r.runs_in_sync);
    stat("STAT repair_runs_failed %" PRIu64 "\r\n", r.runs_failed);
    stat("STAT repair_buckets_differing %" PRIu64 "\r\n", r.buckets_differing);
    stat("STAT repair_keys_listed %" PRIu64 "\r\n", r.keys_listed);
    stat("STAT repair_keys_sent %" PRIu64 "\r\n", r.keys_sent);
    stat("STAT repair_keys_received %" PRIu64 "\r\n", r.keys_received);
    stat("STAT repair_keys_applied %" PRIu64 "\r\n", r.keys_applied);
    stat("STAT repair_bytes_sent %" PRIu64 "\r\n", r.bytes_sent);
    stat("STAT repair_bytes_received %" PRIu64 "\r\n", r.bytes_received);
    stat("STAT repair_handover_runs %" PRIu64 "\r\n", r.handover_runs);
    stat("STAT repair_range_copies %" PRIu64 "\r\n", r.range_copies);
    stat("STAT repair_range_copies_served %" PRIu64 "\r\n", r.range_copies_served);
    stat("STAT repair_range_copies_failed %" PRIu64 "\r\n", r.range_copies_failed);
    if (r.dropped_for_tests) stat("STAT repair_test_dropped %" PRIu64 "\r\n", r.dropped_for_tests);
  }
  stat("STAT members_epoch %016" PRIx64 "\r\n", opts_.members_digest);
  stat("STAT members_ready %d\r\n", handing_over_ ? 0 : 1);
  stat("STAT members_all_ready %d\r\n", AllReady() ? 1 : 0);
  stat("STAT members_unowned_dropped %" PRIu64 "\r\n", unowned_dropped_);
  for (const Link& l : links_) {
    if (l.retired) continue;
    const char* p = l.address.c_str();
    uint64_t lag = l.publisher_next > l.next_seq ? l.publisher_next - l.next_seq : 0;
    int64_t lag_ms = l.last_applied_hlc_ms && lag
                         ? static_cast<int64_t>(wall) - static_cast<int64_t>(l.last_applied_hlc_ms)
                         : 0;
    stat("STAT peer:%s:node %u\r\n", p, l.peer_node);
    stat("STAT peer:%s:state %s\r\n", p, l.leaving ? "leaving" : PhaseName(l.phase));
    if (l.phase == Link::Phase::kFullCopy) {
      stat("STAT peer:%s:full_copy_records %" PRIu64 "\r\n", p, l.copy_received);
    }
    stat("STAT peer:%s:lag_changes %" PRIu64 "\r\n", p, lag);
    stat("STAT peer:%s:lag_ms %" PRId64 "\r\n", p, lag_ms < 0 ? 0 : lag_ms);
    stat("STAT peer:%s:applied %" PRIu64 "\r\n", p, l.changes_applied);
    stat("STAT peer:%s:bytes_received %" PRIu64 "\r\n", p, l.bytes_received);
    stat("STAT peer:%s:full_copies %" PRIu64 "\r\n", p, l.full_copies);
    stat("STAT peer:%s:catch_ups %" PRIu64 "\r\n", p, l.catch_ups);
    stat("STAT peer:%s:last_copy_records %" PRIu64 "\r\n", p, l.last_copy_records);
    stat("STAT peer:%s:clock_offset_ms %" PRId64 "\r\n", p, l.clock_offset_ms);
    stat("STAT peer:%s:malformed %" PRIu64 "\r\n", p, l.malformed);
    stat("STAT peer:%s:missed_at_restart %" PRIu64 "\r\n", p, l.missed_at_restart);
    stat("STAT peer:%s:swept %" PRIu64 "\r\n", p, l.swept);
    stat("STAT peer:%s:members_epoch %016" PRIx64 "\r\n", p, l.peer_members_epoch);
    stat("STAT peer:%s:members_ready %d\r\n", p, l.peer_ready ? 1 : 0);
    if (const McastLink* m = l.mcast.get()) {
      stat("STAT peer:%s:multicast %s\r\n", p, m->on ? "on" : "off");
      stat("STAT peer:%s:multicast_received %" PRIu64 "\r\n", p, m->frames);
      stat("STAT peer:%s:multicast_gaps %" PRIu64 "\r\n", p, m->tracker.gaps());
      stat("STAT peer:%s:multicast_repairs %" PRIu64 "\r\n", p, m->repairs);
      stat("STAT peer:%s:multicast_fallbacks %" PRIu64 "\r\n", p, m->fallbacks);
    }
    if (handing_over_ || l.handover_keys > 0) {
      stat("STAT peer:%s:handed_over %d\r\n", p, l.handed_over == opts_.members_digest ? 1 : 0);
      stat("STAT peer:%s:handover %s\r\n", p, HandoverState(l));
      stat("STAT peer:%s:handover_keys %" PRIu64 "\r\n", p, l.handover_keys);
    }
    std::string err = l.last_error.empty() ? "none" : l.last_error;
    for (char& c : err) {
      if (c == ' ' || c == '\r' || c == '\n') c = '_';
    }
    stat("STAT peer:%s:last_error %s\r\n", p, err.c_str());
  }
  for (const auto& [id, s] : sessions_) {
    uint16_t n = s.node_id;
    stat("STAT subscriber:%u:mode %s\r\n", n,
         s.mode == Session::Mode::kFullCopy ? "full_copy" : "streaming");
    if (s.mode == Session::Mode::kFullCopy) {
      stat("STAT subscriber:%u:full_copy_progress %zu/%zu\r\n", n, s.snap_shard,
           store_->shard_count());
    }
    if (s.range_id) {  // a membership change's range copy to the peer: shards walked
      stat("STAT subscriber:%u:range_copy_progress %zu/%zu\r\n", n, s.range_shard,
           store_->shard_count());
      stat("STAT subscriber:%u:range_copy_items %" PRIu64 "\r\n", n, s.range_items);
    }
    stat("STAT subscriber:%u:sent_seq %" PRIu64 "\r\n", n, s.next_seq);
    stat("STAT subscriber:%u:acked_seq %" PRIu64 "\r\n", n, s.acked_seq);
    // Changes this node acknowledged to clients that the peer has not confirmed:
    // what the peer would miss if this node died now (bounded by the ACK interval).
    stat("STAT subscriber:%u:unacked_changes %" PRIu64 "\r\n", n,
         s.mode == Session::Mode::kStream && backlog_.next_seq() > s.acked_seq
             ? backlog_.next_seq() - std::max<uint64_t>(s.acked_seq, 1)
             : 0);
    stat("STAT subscriber:%u:bytes_sent %" PRIu64 "\r\n", n, s.bytes_sent);
    stat("STAT subscriber:%u:full_copies %" PRIu64 "\r\n", n, s.full_copies);
    stat("STAT subscriber:%u:catch_ups %" PRIu64 "\r\n", n, s.catch_ups);
    stat("STAT subscriber:%u:delta_copies %" PRIu64 "\r\n", n, s.delta_copies);
    stat("STAT subscriber:%u:copy_restarts %" PRIu64 "\r\n", n, s.copy_restarts);
    if (multicast_on()) {
      stat("STAT subscriber:%u:multicast %s\r\n", n, s.multicast ? "on" : "off");
      stat("STAT subscriber:%u:repairs_served %" PRIu64 "\r\n", n, s.repairs_served);
    }
  }
  return out;
}

}  // namespace syncached::replication
