// Publisher side, pumping: each session fed as far as the transport takes it, from the
// backlog (sharded: only its keys, as SPARSE messages) or a copy's walk of the store,
// with PINGs; sessions gone silent are dropped.
#include <algorithm>
#include <string>

#include "common/log.h"
#include "replication/core.h"

namespace syncached::replication {
namespace {
constexpr size_t kSnapBytes = 256 * 1024;  // a full copy message stays about this size
constexpr uint64_t kPingMs = 300;
constexpr uint64_t kProbeEveryMs = 5;  // after a connection closed (ConnectionClosed)
constexpr uint64_t kSessionTimeoutMs = 30000;
// Sharded, async: how long a peer's next changes may wait for more, and how many.
constexpr uint64_t kShardedBatchMs = 5;
constexpr uint64_t kHoldChanges = 4096;
// Sharded: at most this many seqs of batches skipped for a peer before one empty SPARSE
// message covers them (its span is a u32).
constexpr uint64_t kMaxSkippedSeqs = uint64_t{1} << 30;
}  // namespace

// Sharded: whether the session's peer holds change c (a flush reaches every node).
bool Core::Carries(const Session& s, const record::ChangeView& c) const {
  if (!opts_.owners || c.kind == record::Kind::kFlush) return true;
  opts_.owners(c.key, &owners_scratch_);
  return std::find(owners_scratch_.begin(), owners_scratch_.end(), s.node_id) !=
         owners_scratch_.end();
}

// A backlog batch as the session's peer gets it when sharded: the seqs from `from`
// (the batch's first, or an earlier one whose batches carried nothing for the peer)
// to the batch's end, and only the changes of its keys, copied as they are encoded in
// the batch. Empty when none is the peer's.
std::string Core::SparseFor(const Session& s, const std::string& batch, const BatchRouting& routing,
                            uint64_t from, uint64_t first, uint32_t count) {
  std::string out;
  uint32_t kept = 0;
  uint32_t begin = routing.begin;
  for (size_t i = 0; i < routing.ends.size(); ++i) {
    uint32_t end = routing.ends[i];
    if (routing.Carries(i, s.node_id)) {
      if (out.empty()) {
        BeginSparse(epoch_, from, static_cast<uint32_t>(first + count - from), &out);
      }
      AddSparse(static_cast<uint32_t>(first + i - from),
                std::string_view(batch).substr(begin, end - begin), &out);
      ++kept;
    }
    begin = end;
  }
  if (kept) FinishSparse(&out, kept);
  return out;
}

// Sharded: the seqs whose batches carried nothing for the peer, as one empty SPARSE
// message (before a PING or SNAP_END names a later position, or while draining).
void Core::FlushSkipped(Session& s) {
  if (s.skipped_from == 0 || s.skipped_from >= s.next_seq) {
    s.skipped_from = 0;
    return;
  }
  std::string msg;
  BeginSparse(epoch_, s.skipped_from, static_cast<uint32_t>(s.next_seq - s.skipped_from), &msg);
  s.skipped_from = 0;
  SendTo(s, std::move(msg));
}

// Sends the backlog from s.next_seq while ZeroMQ takes it. False when the session
// cannot go on streaming now (its pipe is full, or it fell out of the backlog and a
// copy starts instead).
bool Core::PumpStream(Session& s) {
  while (s.next_seq < backlog_.next_seq() && s.queued.empty()) {
    if (s.multicast && s.next_seq >= s.mcast_from) {
      s.next_seq = backlog_.next_seq();  // the group carries it (the peer asks for gaps)
      break;
    }
    uint64_t first, hlc;
    uint32_t count;
    const BatchRouting* routing = nullptr;
    const std::string* msg = backlog_.Find(s.next_seq, &first, &count, &hlc, &routing);
    if (!msg) {
      // Fell out of the backlog (a slow or stopped peer; a copy stuck on one holds no
      // memory). After a copy, what it lacks is our changes since the last batch it was
      // sent; in the middle of one the walk is not complete yet, so that copy starts over.
      if (s.mode == Session::Mode::kFullCopy) {
        // The walk goes on; what the peer missed of the stream is our changes since the
        // last batch it was sent, which one more pass resends once the walk is done.
        uint64_t since = s.sent_hlc > kSameRunMarginHlc ? s.sent_hlc - kSameRunMarginHlc : 0;
        s.rewalk_since = s.rewalk ? std::min(s.rewalk_since, since) : since;
        s.rewalk = true;
        ++s.copy_restarts;
        SC_LOG(kWarn,
               "replication: node %u fell behind the backlog during its copy; resending "
               "our changes since in one more pass",
               s.node_id);
        s.next_seq = backlog_.next_seq();
        s.sent_hlc = store_->hlc().Last();
        SendTo(s, EncodeWelcome({WelcomeMode::kFullCopy, epoch_, s.next_seq, opts_.node_id,
                                 opts_.sync_replicas > 0, s.sweep, s.multicast}));
        return false;
      }
      bool delta =
          s.sent_hlc > kSameRunMarginHlc && DeltaIsWhole(s, s.sent_hlc - kSameRunMarginHlc);
      SC_LOG(kWarn, "replication: node %u fell behind the backlog; sending a %s copy", s.node_id,
             delta ? "delta" : "full");
      ++(delta ? s.delta_copies : s.full_copies);
      StartCopy(s, delta ? s.sent_hlc - kSameRunMarginHlc : 0);
      return false;
    }
    if (opts_.owners) {
      // Batches with nothing for the peer are not sent one by one (each message costs
      // both threads a wakeup): the next one that has something covers them too.
      uint64_t from = s.skipped_from ? s.skipped_from : first;
      if (first + count - from > kMaxSkippedSeqs) {
        FlushSkipped(s);
        from = first;
      }
      std::string sparse = SparseFor(s, *msg, *routing, from, first, count);
      s.next_seq = first + count;
      s.sent_hlc = hlc;
      if (sparse.empty()) {
        s.skipped_from = from;
        continue;
      }
      s.skipped_from = 0;
      if (!SendTo(s, std::move(sparse))) return false;
      continue;
    }
    bool sent = SendTo(s, *msg);  // or queued, which counts as sent
    s.next_seq = first + count;
    s.sent_hlc = hlc;
    if (!sent) return false;
  }
  return s.queued.empty();
}

// Moves one session forward as far as ZeroMQ accepts without blocking. Returns true
// when it still has work (so the loop polls again soon).
bool Core::PumpSession(Session& s) {
  uint64_t now = now_;
  while (!s.queued.empty()) {
    if (!TrySend(s, s.queued.front())) return !s.gone;
    s.queued.pop_front();
  }
  if (s.mode == Session::Mode::kFullCopy) {
    while (s.snap_shard < store_->shard_count()) {
      if (!PumpStream(s)) return true;
      std::string msg;
      uint32_t count = 0;
      BeginSnap(0, &msg);
      store_->SnapshotShard(s.snap_shard, [&](const record::ChangeView& c) {
        if (s.delta_since && (c.version.node != opts_.node_id || c.version.hlc < s.delta_since)) {
          return;
        }
        if (!Carries(s, c)) return;
        record::EncodeChange(c, &msg);
        ++count;
        if (msg.size() >= kSnapBytes) {
          SetCount(&msg, count);
          s.copy_items += count;
          SendTo(s, std::move(msg));
          msg.clear();
          BeginSnap(0, &msg);
          count = 0;
        }
      });
      if (count) {
        SetCount(&msg, count);
        s.copy_items += count;
        SendTo(s, std::move(msg));
      }
      ++s.snap_shard;
      if (!s.queued.empty()) return true;
    }
    if (s.rewalk) {
      s.rewalk = false;
      s.snap_shard = 0;
      s.delta_since = std::max<uint64_t>(s.rewalk_since, 1);
      return true;
    }
    if (!PumpStream(s)) return true;
    FlushSkipped(s);
    // Its millis: our clock's reading now, below every version we issue later (a
    // sweeping subscriber judges only our items older than it).
    SendTo(s, EncodePosition(MsgType::kSnapEnd,
                             {epoch_, s.next_seq, record::HlcMillis(store_->hlc().Last())}));
    SC_LOG(kInfo, "replication: %s copy to node %u sent (%llu records)",
           s.delta_since ? "delta" : "full", s.node_id,
           static_cast<unsigned long long>(s.copy_items));
    s.mode = Session::Mode::kStream;
    s.stream_since_ms = now_;
    s.last_ping_ms = 0;  // the peer is caught up: say so now, not in kPingMs
  }
  bool ping = Elapsed(now, s.last_ping_ms) >= kPingMs || s.last_ping_ms == 0 ||
              (now < probe_until_ms_ && Elapsed(now, s.last_ping_ms) >= kProbeEveryMs);
  // A PING names the backlog's end: everything before it goes out first.
  bool held = !ping && !draining_ && HoldsBack(s);
  if (!held) {
    PumpStream(s);
    s.last_stream_ms = now;
  }
  if (ping || draining_) FlushSkipped(s);
  if (ping) {
    s.last_ping_ms = now;
    SendTo(s, EncodePosition(MsgType::kPing, {epoch_, backlog_.next_seq(), WallMillis(),
                                              opts_.members_digest, !handing_over_}));
  }
  return !s.queued.empty() || held;
}

// Sharded and asynchronous: a few changes for a peer wait up to kShardedBatchMs for
// more, so that messages carry more than one or two changes each (every message costs
// a wakeup on both sides, and with keys spread over N nodes each stream gets 1/N of
// them). --sync-replicas writers wait for these messages: never held then.
int Core::active_poll_ms(bool busy) const {
  if (repair_pushing_) return 0;
  if (opts_.owners && opts_.sync_replicas == 0) return static_cast<int>(kShardedBatchMs);
  return busy ? 2 : 1;
}

bool Core::HoldsBack(const Session& s) const {
  return opts_.owners && opts_.sync_replicas == 0 && s.mode == Session::Mode::kStream &&
         s.next_seq < backlog_.next_seq() && backlog_.next_seq() - s.next_seq < kHoldChanges &&
         Elapsed(now_, s.last_stream_ms) < kShardedBatchMs;
}

void Core::PumpSessions(bool* busy) {
  uint64_t now = now_;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    Session& s = it->second;
    if (s.gone || Elapsed(now, s.last_heard_ms) > kSessionTimeoutMs) {
      SC_LOG(kInfo, "replication: node %u stopped acknowledging; dropping its session", s.node_id);
      it = sessions_.erase(it);
      continue;
    }
    if (PumpSession(s) || s.mode == Session::Mode::kFullCopy) *busy = true;
    ++it;
  }
}

}  // namespace syncached::replication
