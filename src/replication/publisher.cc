// Publisher side: our own changes into the backlog, and every subscribed peer fed
// from it (catch-up and streaming) or from a full copy of the store.
#include <algorithm>
#include <cstring>
#include <functional>

#include "common/log.h"
#include "replication/core.h"

namespace syncached::replication {
namespace {
constexpr size_t kSealBytes = 256 * 1024;  // a batch message stays about this size
constexpr size_t kSnapBytes = 256 * 1024;  // full copy messages too
constexpr uint64_t kPingMs = 300;
constexpr uint64_t kRepeatHelloMs = 1000;
constexpr uint64_t kSessionTimeoutMs = 30000;
// A copy whose peer took nothing for this long is stalled: it no longer holds the backlog.
constexpr uint64_t kStalledMs = 1000;
// Local changes waiting for the replication thread. Independent of --backlog-size (a
// small backlog must not make a busy thread's queue overflow): 64 MiB at least.
constexpr uint64_t kMinPendingBytes = 64ull << 20;
// A delta copy starts this much (10 s of HLC) before the peer's newest change from us.
constexpr uint64_t kDeltaMarginHlc = uint64_t{10000} << 16;
// Within one run, the seq order and HLC order of our changes differ only by the moment
// between a version and its queueing: a delta of what a peer of this run lacks starts
// this much (1 s of HLC) before the newest change it is known to hold.
constexpr uint64_t kSameRunMarginHlc = uint64_t{1000} << 16;
// Sharded, async: how long a peer's next changes may wait for more, and how many.
constexpr uint64_t kShardedBatchMs = 5;
constexpr uint64_t kHoldChanges = 4096;
// Sharded: at most this many seqs of batches skipped for a peer before one empty SPARSE
// message covers them (its span is a u32).
constexpr uint64_t kMaxSkippedSeqs = uint64_t{1} << 30;

// The newest ticket this thread's changes got, and the newest it waited for.
struct ThreadTicket {
  uint64_t owner = 0;  // Core::instance_ (an address could be a later Core's)
  uint64_t ticket = 0, waited = 0;
};
thread_local ThreadTicket tl_ticket;
}  // namespace

bool Core::OnChange(const record::ChangeView& change) {
  // Only changes this node originated travel: peers hear others' from the others.
  if (change.version.node != opts_.node_id) return false;
  Pending& p = pending_;
  bool wake;
  {
    MutexLock lock(p.mu);
    if (p.overflowed) return false;
    wake = p.open.empty() && p.sealed.empty();
    if (p.open_count == 0) p.open_first_ticket = p.tickets + 1;
    record::EncodeChange(change, &p.open);
    p.nonempty.store(true, std::memory_order_seq_cst);
    ++p.open_count;
    if (tl_ticket.owner != instance_) tl_ticket = {instance_, 0, 0};
    tl_ticket.ticket = ++p.tickets;
    if (p.open.size() >= kSealBytes) {
      p.bytes += p.open.size();
      p.sealed.push_back(std::move(p.open));
      p.sealed_counts.push_back(p.open_count);
      p.sealed_first_tickets.push_back(p.open_first_ticket);
      p.open.clear();
      p.open_count = 0;
      // The replication thread fell this far behind: rather than grow without bound,
      // drop the queue and make every peer take a full copy (new epoch).
      if (p.bytes > std::max(kMinPendingBytes, opts_.backlog_bytes)) {
        p.overflowed = true;
        p.sealed.clear();
        p.sealed_counts.clear();
        p.sealed_first_tickets.clear();
        p.bytes = 0;
      }
    }
  }
  // The driver wakes the thread only if it sleeps (see Replicator::OnChange).
  return wake;
}

void Core::DrainPending() {
  std::vector<std::string> runs;
  std::vector<uint32_t> counts;
  std::vector<uint64_t> first_tickets;
  bool overflowed;
  {
    MutexLock lock(pending_.mu);
    runs.swap(pending_.sealed);
    counts.swap(pending_.sealed_counts);
    first_tickets.swap(pending_.sealed_first_tickets);
    if (!pending_.open.empty()) {
      runs.push_back(std::move(pending_.open));
      counts.push_back(pending_.open_count);
      first_tickets.push_back(pending_.open_first_ticket);
      pending_.open.clear();
      pending_.open_count = 0;
    }
    pending_.bytes = 0;
    pending_.nonempty.store(false, std::memory_order_seq_cst);
    overflowed = pending_.overflowed;
    pending_.overflowed = false;
  }
  if (overflowed) {
    SC_LOG(kWarn, "replication: change queue overflowed; peers will take a full copy");
    ++overflows_;
    epoch_ = (WallMillis() << 16) | ((epoch_ + 1) & 0xffff);
    backlog_.Clear();
    for (auto& [id, s] : sessions_) {
      s.queued.clear();
      StartCopy(s, 0);
    }
  }
  uint64_t pin = UINT64_MAX;
  uint64_t now = now_;
  for (const auto& [id, s] : sessions_) {
    // Only a copy that is moving: one stuck on a paused peer must not hold memory.
    if (s.mode == Session::Mode::kFullCopy && !s.gone &&
        Elapsed(now, s.last_sent_ms) < kStalledMs) {
      pin = std::min(pin, s.next_seq);
    }
  }
  backlog_.set_pin(pin);
  uint64_t hlc = store_->hlc().Last();
  for (size_t i = 0; i < runs.size(); ++i) {
    std::string msg;
    msg.reserve(runs[i].size() + 21);
    BeginBatch(epoch_, backlog_.next_seq(), counts[i], &msg);
    auto begin = static_cast<uint32_t>(msg.size());
    msg.append(runs[i]);
    if (opts_.sync_replicas > 0) {
      ticket_runs_.push_back({backlog_.next_seq(), first_tickets[i], counts[i]});
      // Without enough peers nothing is acknowledged and the waiters time out: keep
      // the map bounded meanwhile.
      if (ticket_runs_.size() > 65536) ticket_runs_.pop_front();
    }
    BatchRouting routing;
    if (opts_.owners) routing = RouteBatch(runs[i], begin, counts[i]);
    backlog_.Append(backlog_.next_seq(), counts[i], hlc, std::move(msg), std::move(routing));
  }
}

// One message to one peer without blocking: a full pipe (the peer is slow) keeps the
// message, a vanished peer drops the session.
bool Core::TrySend(Session& s, const std::string& msg) {
  Transport::Sent sent = transport_->ToSubscriber(s.identity, msg);
  if (sent == Transport::Sent::kGone) s.gone = true;
  if (sent != Transport::Sent::kOk) return false;
  s.bytes_sent += msg.size();
  s.last_sent_ms = now_;
  return true;
}

bool Core::SendTo(Session& s, std::string msg) {
  if (s.gone) return false;
  if (!s.queued.empty() || !TrySend(s, msg)) {
    if (!s.gone) s.queued.push_back(std::move(msg));
    return false;
  }
  return true;
}

void Core::HandleHello(const std::string& identity, const Hello& h) {
  uint64_t now = now_;
  if (h.cluster != opts_.cluster_name || h.node_id == opts_.node_id || h.node_id == 0 ||
      h.members_digest != opts_.members_digest) {
    const char* why = h.cluster != opts_.cluster_name            ? "cluster name differs"
                      : h.node_id == 0                           ? "peer has no node id"
                      : h.node_id == opts_.node_id               ? "peer uses this node's id"
                      : h.members_digest != opts_.members_digest ? "members file differs"
                                                                 : "";
    SC_LOG(kWarn, "replication: refused node %u from cluster '%.40s': %s", h.node_id,
           h.cluster.c_str(), why);
    ++refused_hellos_;
    std::string reply = EncodeRefuse(why);
    transport_->ToSubscriber(identity, reply);
    return;
  }
  // A subscriber says HELLO again every 20, 40, 80 ms ... until it hears from us: a
  // repeat of the request a live session already answers would only restart its copy.
  if (auto it = sessions_.find(identity); it != sessions_.end()) {
    const Session& old = it->second;
    if (!old.gone && Elapsed(now, old.hello_ms) < kRepeatHelloMs && old.hello.epoch == h.epoch &&
        old.hello.next_seq == h.next_seq && old.hello.stream_hlc == h.stream_hlc &&
        old.hello.sender_epoch == h.sender_epoch) {
      return;
    }
  }
  bool can_stream =
      h.epoch == epoch_ && h.next_seq >= backlog_.front_seq() && h.next_seq <= backlog_.next_seq();
  // A peer that followed an earlier run of this node may lack changes that run made
  // and never sent it: the ones that reached only other peers before this node died,
  // or (with --data-dir) only our disk. Whatever copy it gets from us must hold them,
  // so a node that started empty answers it only once its own initial sync from the
  // peers is done; the peer says HELLO again meanwhile.
  bool earlier_run = h.epoch != 0 && h.epoch != epoch_;
  if (!can_stream && earlier_run && !opts_.has_data && !initial_sync_done_) {
    // Answered the moment the sync is done (UpdateGate), before we serve clients, so
    // the peer follows our first writes.
    sessions_.erase(identity);
    deferred_hellos_[h.node_id] = {identity, h};
    return;
  }
  deferred_hellos_.erase(h.node_id);
  Session& s = sessions_[identity];
  s.skipped_from = 0;
  s.identity = identity;
  s.node_id = h.node_id;
  s.queued.clear();
  s.last_heard_ms = now;
  s.hello = h;
  s.hello_ms = now;
  s.last_ping_ms = 0;  // a PING right after the WELCOME tells the peer it is caught up
  DrainPending();      // so "where we are" includes every change made so far
  uint64_t start = h.next_seq;
  if (can_stream) {
    s.mode = Session::Mode::kStream;
    s.next_seq = start;
    s.sent_hlc = h.stream_hlc;
    if (start < backlog_.next_seq()) ++s.catch_ups;
    SC_LOG(kInfo, "replication: node %u catches up from seq %llu (%llu behind)", h.node_id,
           static_cast<unsigned long long>(start),
           static_cast<unsigned long long>(backlog_.next_seq() - start));
    SendTo(s, EncodeWelcome(
                  {WelcomeMode::kStream, epoch_, start, opts_.node_id, opts_.sync_replicas > 0}));
  } else {
    // The peer was streaming us (this run, or an earlier one) up to stream_hlc: all it
    // lacks is what we originated after that (in our store; an earlier run's from our
    // disk or from the peers it reached). Our own items from a little before (seq order
    // and HLC order differ by at most the moment between a version and its queueing)
    // replace the whole store; items others wrote since reach it from them.
    uint64_t margin = earlier_run ? kDeltaMarginHlc : kSameRunMarginHlc;
    if ((earlier_run || h.epoch == epoch_) && h.stream_hlc > margin &&
        DeltaIsWhole(s, h.stream_hlc - margin)) {
      ++s.delta_copies;
      SC_LOG(kInfo, "replication: delta copy to node %u (our changes since its last one%s)",
             h.node_id, earlier_run ? "" : ", which is no longer in the backlog");
      StartCopy(s, h.stream_hlc - margin);
    } else {
      ++s.full_copies;
      SC_LOG(kInfo, "replication: full copy to node %u (%s)", h.node_id,
             h.epoch == 0 ? "it starts empty" : "its position is no longer in the backlog");
      StartCopy(s, 0);
    }
  }
}

// A delta copy carries our deletes as tombstones; once one of those since `since` was
// purged (a peer away longer than --tombstone-ttl), the delta would leave that key
// alive on the peer for good, so the peer gets a full copy and sweeps instead.
bool Core::DeltaIsWhole(const Session& s, uint64_t since) {
  if (store_->HoldsOwnDeletesSince(since)) return true;
  SC_LOG(kWarn,
         "replication: node %u was away longer than our tombstones are kept; it gets a full "
         "copy and drops what we no longer hold",
         s.node_id);
  return false;
}

// Our store holds every item we originated that we still have (so a peer may drop
// those of ours it holds and we do not): we loaded our data from disk, or took a copy
// from a peer. A node that started empty and serves alone may have lost some.
bool Core::HoldsAllOwnItems() const {
  if (opts_.has_data) return true;
  for (const Link& l : links_) {
    if (l.synced) return true;
  }
  return false;
}

// A copy of the store (delta_since 0) or of our own items from delta_since on. Our
// changes made meanwhile are streamed beside it, from the sequence it started at: the
// peer applies both by version, so the backlog only holds what is not sent yet and no
// copy, however long, is overtaken by the writes running beside it.
void Core::StartCopy(Session& s, uint64_t delta_since) {
  s.mode = Session::Mode::kFullCopy;
  s.skipped_from = 0;
  s.snap_shard = 0;
  s.copy_items = 0;
  s.delta_since = delta_since;
  s.rewalk = false;
  s.next_seq = backlog_.next_seq();
  s.sent_hlc = store_->hlc().Last();
  s.sweep = delta_since == 0 && HoldsAllOwnItems();
  SendTo(s, EncodeWelcome({WelcomeMode::kFullCopy, epoch_, s.next_seq, opts_.node_id,
                           opts_.sync_replicas > 0, s.sweep}));
  // Our newest flush_all first: a peer that missed it (down longer than the backlog
  // covers) drops its older items as we did; no item in the walk is older than it.
  std::string msg;
  uint32_t count = 0;
  BeginSnap(0, &msg);
  store_->SnapshotFlushes([&](const record::ChangeView& c) {
    record::EncodeChange(c, &msg);
    ++count;
  });
  if (count) {
    SetCount(&msg, count);
    SendTo(s, std::move(msg));
  }
}

// Sharded: whether the session's peer holds change c (a flush reaches every node).
bool Core::Carries(const Session& s, const record::ChangeView& c) const {
  if (!opts_.owners || c.kind == record::Kind::kFlush) return true;
  opts_.owners(c.key, &owners_scratch_);
  return std::find(owners_scratch_.begin(), owners_scratch_.end(), s.node_id) !=
         owners_scratch_.end();
}

// Sharded: the owners of each of a new batch's changes (`changes`: their encodings,
// at `begin` in the message), once for every peer's stream.
BatchRouting Core::RouteBatch(std::string_view changes, uint32_t begin, uint32_t count) const {
  BatchRouting r;
  r.begin = begin;
  r.ends.reserve(count);
  std::vector<uint16_t> all;  // each change's list, then laid out with one stride
  std::vector<uint32_t> sizes;
  sizes.reserve(count);
  uint32_t pos = begin;
  while (!changes.empty()) {
    record::ChangeView c;
    record::DecodeResult d = record::DecodeChange(changes, &c);
    if (!d.ok()) break;  // our own encoding: it decodes
    if (c.kind == record::Kind::kFlush) {
      owners_scratch_.assign(1, BatchRouting::kEveryNode);
    } else {
      opts_.owners(c.key, &owners_scratch_);
    }
    all.insert(all.end(), owners_scratch_.begin(), owners_scratch_.end());
    sizes.push_back(static_cast<uint32_t>(owners_scratch_.size()));
    r.stride = std::max<size_t>(r.stride, owners_scratch_.size());
    pos += static_cast<uint32_t>(d.consumed);
    r.ends.push_back(pos);
    changes.remove_prefix(d.consumed);
  }
  r.owners.assign(r.stride * sizes.size(), BatchRouting::kNoNode);
  size_t from = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(from), sizes[i],
                r.owners.begin() + static_cast<std::ptrdiff_t>(i * r.stride));
    from += sizes[i];
  }
  return r;
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
                                 opts_.sync_replicas > 0, s.sweep}));
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
    s.last_ping_ms = 0;  // the peer is caught up: say so now, not in kPingMs
  }
  bool ping = Elapsed(now, s.last_ping_ms) >= kPingMs || s.last_ping_ms == 0;
  // A PING names the backlog's end: everything before it goes out first.
  bool held = !ping && !draining_ && HoldsBack(s);
  if (!held) {
    PumpStream(s);
    s.last_stream_ms = now;
  }
  if (ping || draining_) FlushSkipped(s);
  if (ping) {
    s.last_ping_ms = now;
    SendTo(s, EncodePosition(MsgType::kPing, {epoch_, backlog_.next_seq(), WallMillis()}));
  }
  return !s.queued.empty() || held;
}

// Sharded and asynchronous: a few changes for a peer wait up to kShardedBatchMs for
// more, so that messages carry more than one or two changes each (every message costs
// a wakeup on both sides, and with keys spread over N nodes each stream gets 1/N of
// them). --sync-replicas writers wait for these messages: never held then.
int Core::active_poll_ms(bool busy) const {
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

void Core::OnSubscriberMessage(const std::string& identity, std::string_view msg, uint64_t now) {
  now_ = now;
  MsgType type;
  Hello hello;
  Position pos;
  if (!PeekType(msg, &type)) {
    // fallthrough to the malformed case below
  } else if (type == MsgType::kHello && DecodeHello(msg, &hello)) {
    if (hello.cluster == opts_.cluster_name) NoticePeerRun(hello);
    HandleHello(identity, hello);
    return;
  } else if (type == MsgType::kAck && DecodePosition(msg, &pos)) {
    HandleAck(identity, pos);
    return;
  }
  // Untrusted input that is not a valid message: forget the peer's session; it will
  // say HELLO again. Other peers are unaffected.
  SC_LOG(kWarn, "replication: malformed message from a subscriber; resetting its session");
  sessions_.erase(identity);
}

void Core::HandleAck(const std::string& identity, const Position& pos) {
  auto it = sessions_.find(identity);
  if (it == sessions_.end()) return;
  it->second.last_heard_ms = now_;
  if (pos.epoch == epoch_) it->second.acked_seq = pos.seq;
  if (opts_.sync_replicas > 0) AdvanceAcked();
}

// --sync-replicas: the K-th highest acknowledged sequence among streaming peers
// covers every change below it; their tickets are released to waiting workers.
void Core::AdvanceAcked() {
  if (opts_.owners) return AdvanceAckedSharded();
  std::vector<uint64_t> acked;
  for (const auto& [id, s] : sessions_) {
    if (!s.gone && s.mode == Session::Mode::kStream) acked.push_back(s.acked_seq);
  }
  if (acked.size() < opts_.sync_replicas) return;
  std::nth_element(acked.begin(), acked.begin() + (opts_.sync_replicas - 1), acked.end(),
                   std::greater<>());
  uint64_t covered = acked[opts_.sync_replicas - 1];  // every seq < covered is applied there
  uint64_t released = 0;
  while (!ticket_runs_.empty() && ticket_runs_.front().first_seq < covered) {
    TicketRun& r = ticket_runs_.front();
    uint64_t n = std::min(r.count, covered - r.first_seq);
    released = r.first_ticket + n - 1;
    if (n < r.count) {
      r.first_seq += n;
      r.first_ticket += n;
      r.count -= n;
      break;
    }
    ticket_runs_.pop_front();
  }
  if (released > acked_ticket_.load(std::memory_order_relaxed)) {
    acked_ticket_.store(released, std::memory_order_seq_cst);  // see IsAcked
    if (ack_listener_) ack_listener_(released);
  }
}

// Sharded: a change is acknowledged once sync_replicas of its co-owners applied it, or
// all of them that follow our stream if fewer do (a co-owner that is down holds no
// write for long: waiting for it would only slow every write to its keys to the
// timeout). Changes are released in order, walking the backlog's batches.
void Core::AdvanceAckedSharded() {
  uint64_t released = 0;
  while (!ticket_runs_.empty()) {
    TicketRun& r = ticket_runs_.front();
    uint64_t first, hlc;
    uint32_t count;
    const BatchRouting* routing = nullptr;
    const std::string* msg = backlog_.Find(r.first_seq, &first, &count, &hlc, &routing);
    if (!msg || routing->ends.size() != count) {
      released = r.first_ticket + r.count - 1;  // fell out of the backlog: not waited for
      ticket_runs_.pop_front();
      continue;
    }
    while (r.count > 0 && r.first_seq < first + count) {
      size_t index = r.first_seq - first;
      size_t owners = 0, applied = 0;
      for (const auto& [id, s] : sessions_) {
        if (s.gone || s.mode != Session::Mode::kStream || !routing->Carries(index, s.node_id)) {
          continue;
        }
        ++owners;
        if (s.acked_seq > r.first_seq) ++applied;
      }
      if (applied < std::min<size_t>(owners, opts_.sync_replicas)) break;
      released = r.first_ticket;
      ++r.first_seq;
      ++r.first_ticket;
      --r.count;
    }
    if (r.count > 0) break;
    ticket_runs_.pop_front();
  }
  if (released > acked_ticket_.load(std::memory_order_relaxed)) {
    acked_ticket_.store(released, std::memory_order_seq_cst);  // see IsAcked
    if (ack_listener_) ack_listener_(released);
  }
}

uint64_t Core::BeginSyncWait() {
  if (opts_.sync_replicas == 0 || tl_ticket.owner != instance_) return 0;
  uint64_t t = tl_ticket.ticket;
  if (t <= tl_ticket.waited) return 0;
  tl_ticket.waited = t;
  if (t <= acked_ticket_.load(std::memory_order_acquire)) return 0;
  ++sync_waits_;
  return t;
}

void Core::EndSyncWait(uint64_t waited_us, bool timed_out) {
  sync_wait_us_.fetch_add(waited_us, std::memory_order_relaxed);
  if (timed_out) sync_timeouts_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace syncached::replication
