// Multicast of the change stream (--multicast; docs/REPLICATION.md, "Multicast").
//
// Publisher: every batch appended to the backlog also goes out once, sealed
// (sealed.h), to the multicast group, and an idle publisher sends a heartbeat naming
// the end of its stream. A session whose peer said it hears the group (HELLO's
// multicast flag) gets over TCP only the backlog before its WELCOME (the catch-up) and
// the ranges it asks for again (STREAM_REPAIR); its live stream is the group's.
//
// Subscriber: a link in multicast mode puts every batch of its peer's run, from the
// group and from TCP alike, through a GapTracker, which hands them over in order.
// Whatever stays missing (lost by PGM, or announced by a heartbeat or PING and never
// heard) is asked for over TCP (after kGapWaitMs, or kTailWaitMs without progress); a range the
// peer's backlog no longer holds, or a gap not filled within kRepairGiveUpMs, turns into a new
// HELLO (a catch-up or a delta copy, as for a broken TCP stream). A link that hears no frame of its
// peer for kMcastSilentMs asks for its stream over TCP instead, for kFallbackMs at least.
#include <algorithm>

#include "common/log.h"
#include "replication/core.h"

namespace syncached::replication {
namespace {
// PGM delivers in order, so a batch held behind a gap means the gap is lost for good:
// asked for after kGapWaitMs. A gap known only from an announced end (a PING, SNAP_END or
// heartbeat: they travel faster than a rate-limited burst on the group) is asked for
// only once the stream made no progress for kTailWaitMs.
constexpr uint64_t kGapWaitMs = 20;
constexpr uint64_t kTailWaitMs = 500;
constexpr uint64_t kRepairEveryMs = 100;             // an unanswered repair is asked again
constexpr uint64_t kRepairGiveUpMs = 2000;           // then the link says HELLO (catch-up)
constexpr uint64_t kMcastSilentMs = 3000;            // no frame for this long: TCP streaming
constexpr uint64_t kFallbackMs = 30000;              // ... for at least this long
constexpr uint64_t kMaxRepairSeqs = 1 << 16;         // per STREAM_REPAIR
constexpr size_t kMaxRepairBytes = size_t{4} << 20;  // sent per STREAM_REPAIR answer
}  // namespace

void Core::MulticastBatch(uint64_t first, uint32_t count, const std::string& msg) {
  ++mcast_batches_;
  SendFrame({FrameKind::kBatch, cluster_tag_, opts_.node_id, epoch_, first, count}, msg);
}

void Core::MulticastHeartbeat() {
  ++mcast_heartbeats_;
  SendFrame({FrameKind::kHeartbeat, cluster_tag_, opts_.node_id, epoch_, backlog_.next_seq(), 0},
            {});
}

void Core::SendFrame(const FrameHeader& h, std::string_view payload) {
  std::string frame = SealFrame(*own_frame_key_, h, payload);
  mcast_bytes_ += frame.size();
  last_mcast_ms_ = now_;
  transport_->Multicast(frame);
}

// STREAM_REPAIR from a subscriber: the batches of [from, to) still in the backlog, over
// TCP. A range the backlog no longer holds is not answered: the subscriber gives up on
// it and says HELLO, which a catch-up or a delta copy answers.
bool Core::OnStreamRepair(Session& s, std::string_view msg) {
  uint64_t epoch, from, to;
  if (!DecodeStreamRepair(msg, &epoch, &from, &to)) return false;
  s.last_heard_ms = now_;
  if (epoch != epoch_ || from < backlog_.front_seq()) return true;
  to = std::min({to, backlog_.next_seq(), from + kMaxRepairSeqs});
  size_t sent = 0;
  ++s.repairs_served;
  for (uint64_t seq = from; seq < to && sent < kMaxRepairBytes;) {
    uint64_t first, hlc;
    uint32_t count;
    const BatchRouting* routing = nullptr;
    const std::string* batch = backlog_.Find(seq, &first, &count, &hlc, &routing);
    if (!batch || count == 0) break;
    sent += batch->size();
    SendTo(s, *batch);
    seq = first + count;
  }
  return true;
}

bool Core::HelloWantsMulticast(const Link& l) const {
  return l.mcast && now_ >= l.mcast->fallback_until_ms;
}

// WELCOME: the run's key (frames are opened in either mode, to notice the group is
// heard again), and in multicast mode the tracker starts at the stream's start.
void Core::OnWelcomeMulticast(Link& l, const Welcome& w) {
  McastLink* m = l.mcast.get();
  if (!m) return;
  if (!m->key || m->key_run != w.epoch) {
    m->key =
        std::make_unique<FrameKey>(opts_.multicast_secret, opts_.cluster_name, w.node_id, w.epoch);
    m->key_run = w.epoch;
  }
  m->on = w.multicast;
  m->gap_since_ms = m->repair_asked_ms = 0;
  m->heard_ms = now_;
  if (m->on) m->tracker.Reset(w.epoch, w.start_seq);
}

bool Core::TrackBatch(Link& l, std::string_view msg, const Changes& c) {
  McastLink& m = *l.mcast;
  if (c.epoch != l.epoch) return true;  // an earlier run's: its PING will tell
  auto count = static_cast<uint32_t>(c.span);
  if (m.tracker.AcceptInOrder(c.epoch, c.first_seq, count)) {
    ApplyStreamBatch(l, c);  // the usual case: applied as decoded, not copied
  } else {
    m.tracker.OnBatch(c.epoch, c.first_seq, count, std::string(msg));
  }
  for (const std::string& ready : m.tracker.TakeReady()) {
    if (!ApplyStreamBatch(l, ready)) return false;
  }
  return true;
}

void Core::OnMulticastFrame(std::string_view frame, uint64_t now) {
  now_ = now;
  FrameHeader h;
  if (!multicast_on() || !PeekFrame(frame, &h) || h.cluster != cluster_tag_ ||
      h.node == opts_.node_id || h.kind == FrameKind::kLane) {
    ++mcast_ignored_;
    return;
  }
  for (Link& l : links_) {
    McastLink* m = l.mcast.get();
    if (l.retired || !m || l.peer_node != h.node || !m->key || m->key_run != h.run) continue;
    std::string payload;
    if (!OpenFrame(*m->key, frame, &payload)) {
      ++mcast_rejected_;  // forged, damaged, or sealed with another secret
      return;
    }
    m->heard_ms = now;
    ++m->frames;
    bool following = l.phase == Link::Phase::kFullCopy || l.phase == Link::Phase::kCatchUp ||
                     l.phase == Link::Phase::kStreaming;
    if (!m->on || !following || l.epoch != h.run) return;
    if (h.kind == FrameKind::kHeartbeat) {
      m->tracker.OnHeartbeat(h.run, h.first_seq);
      return;
    }
    Changes c;
    MsgType type;
    // The sealed batch must be what its clear header says.
    if (!PeekType(payload, &type) || type != MsgType::kBatch || !DecodeChanges(payload, &c) ||
        c.epoch != h.run || c.first_seq != h.first_seq || c.span != h.count) {
      ++mcast_rejected_;
      return;
    }
    // Not l.last_rx_ms: the TCP link must stay alive on its own (PINGs), or a session
    // the peer dropped would go unnoticed while the group keeps the data coming.
    if (!TrackBatch(l, payload, c)) ++mcast_rejected_;
    return;
  }
  ++mcast_ignored_;  // no link follows that run (yet)
}

// Each step, per link: ask for what is missing; fall back to TCP streaming when the
// group is silent; go back to the group once it is heard again.
void Core::TickMulticast(Link& l) {
  McastLink* m = l.mcast.get();
  if (!m) return;
  uint64_t now = now_;
  bool following = l.phase == Link::Phase::kFullCopy || l.phase == Link::Phase::kCatchUp ||
                   l.phase == Link::Phase::kStreaming;
  if (!following) return;
  if (!m->on) {
    if (now >= m->fallback_until_ms && m->fallback_until_ms != 0 &&
        Elapsed(now, m->heard_ms) < kMcastSilentMs && l.phase == Link::Phase::kStreaming) {
      m->fallback_until_ms = 0;
      ResetLink(l, "multicast heard again");
      SendHello(l);
    }
    return;
  }
  if (Elapsed(now, m->heard_ms) > kMcastSilentMs) {
    ++m->fallbacks;
    m->on = false;
    m->fallback_until_ms = now + kFallbackMs;
    ResetLink(l, "no multicast from peer; streaming over TCP");
    SendHello(l);
    return;
  }
  uint64_t from, to;
  if (!m->tracker.Missing(&from, &to)) {
    m->gap_since_ms = 0;
    return;
  }
  if (m->gap_since_ms == 0 || m->gap_from != from) {
    m->gap_from = from;
    m->gap_since_ms = now;
    return;
  }
  if (Elapsed(now, m->gap_since_ms) >= kRepairGiveUpMs) {
    ResetLink(l, "multicast gap not repaired; catching up");
    SendHello(l);
    return;
  }
  uint64_t wait = m->tracker.buffered_bytes() > 0 ? kGapWaitMs : kTailWaitMs;
  if (Elapsed(now, m->gap_since_ms) >= wait && Elapsed(now, m->repair_asked_ms) >= kRepairEveryMs) {
    m->repair_asked_ms = now;
    ++m->repairs;
    transport_->ToPublisher(l.index, EncodeStreamRepair(l.epoch, from, to));
  }
}

}  // namespace syncached::replication
