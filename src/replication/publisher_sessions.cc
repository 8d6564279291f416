// Publisher side, sessions: a subscriber's messages in, and its HELLO answered with a
// catch-up from the backlog or a delta or full copy of the store; sending to it.
#include <algorithm>
#include <string>

#include "common/log.h"
#include "replication/core.h"

namespace syncached::replication {
namespace {
constexpr uint64_t kRepeatHelloMs = 1000;
// A delta copy starts this much (10 s of HLC) before the peer's newest change from us.
constexpr uint64_t kDeltaMarginHlc = uint64_t{10000} << 16;
}  // namespace

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
  } else if (type == MsgType::kStreamRepair) {
    auto it = sessions_.find(identity);
    if (it == sessions_.end() || OnStreamRepair(it->second, msg)) return;
  } else if (type == MsgType::kRepair || type == MsgType::kRepairItems ||
             type == MsgType::kRepairRange) {
    auto it = sessions_.find(identity);
    if (it == sessions_.end()) return;  // from before its session was reset: HELLO first
    if (type == MsgType::kRepair) return OnRepairFromSubscriber(it->second, msg);
    if (type == MsgType::kRepairRange ? OnRangeRequest(it->second, msg) : ApplyRepairItems(msg)) {
      return;
    }
  }
  // Untrusted input that is not a valid message: forget the peer's session; it will
  // say HELLO again. Other peers are unaffected.
  SC_LOG(kWarn, "replication: malformed message from a subscriber; resetting its session");
  sessions_.erase(identity);
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
  if (h.cluster != opts_.cluster_name || h.node_id == opts_.node_id || h.node_id == 0) {
    const char* why = h.cluster != opts_.cluster_name ? "cluster name differs"
                      : h.node_id == 0                ? "peer has no node id"
                      : h.node_id == opts_.node_id    ? "peer uses this node's id"
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
        old.hello.sender_epoch == h.sender_epoch && old.hello.multicast == h.multicast) {
      return;
    }
  }
  NoteMembersEpoch(h.node_id, h.members_digest);
  bool can_stream =
      h.epoch == epoch_ && h.next_seq >= backlog_.front_seq() && h.next_seq <= backlog_.next_seq();
  // A node taking over keys in a membership change wants no copy of ours: the
  // handover's comparisons bring what it lacks. It follows our stream from now on.
  bool joining = h.joining && !can_stream;
  // A peer that followed an earlier run of this node may lack changes that run made
  // and never sent it: the ones that reached only other peers before this node died,
  // or (with --data-dir) only our disk. Whatever copy it gets from us must hold them,
  // so a node that started empty answers it only once its own initial sync from the
  // peers is done; the peer says HELLO again meanwhile.
  bool earlier_run = h.epoch != 0 && h.epoch != epoch_;
  if (!can_stream && !joining && earlier_run && !opts_.has_data && !initial_sync_done_) {
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
  // Its live stream from here on comes by multicast (multicast.cc).
  s.multicast = h.multicast && multicast_on();
  s.mcast_from = backlog_.next_seq();
  uint64_t start = joining ? backlog_.next_seq() : h.next_seq;
  if (can_stream || joining) {
    s.mode = Session::Mode::kStream;
    s.stream_since_ms = now_;
    s.next_seq = start;
    s.sent_hlc = h.stream_hlc;
    if (start < backlog_.next_seq()) ++s.catch_ups;
    SC_LOG(kInfo, "replication: node %u catches up from seq %llu (%llu behind)", h.node_id,
           static_cast<unsigned long long>(start),
           static_cast<unsigned long long>(backlog_.next_seq() - start));
    SendTo(s, EncodeWelcome({WelcomeMode::kStream, epoch_, start, opts_.node_id,
                             opts_.sync_replicas > 0, false, s.multicast}));
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
                           opts_.sync_replicas > 0, s.sweep, s.multicast}));
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

}  // namespace syncached::replication
