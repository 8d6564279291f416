// Subscriber side: one link per peer, applying that peer's stream.
//
// A link says HELLO until the peer answers, then follows it: a full copy (SNAP ...
// SNAP_END) or a catch-up from its backlog, then the live stream. Sequence numbers
// detect gaps (a message lost with a broken connection): on a gap, or when the peer
// goes quiet for kSilenceMs, or when its epoch changes (it restarted), the link says
// HELLO again from where it is, which turns into a catch-up or a full copy.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <string_view>

#include "common/log.h"
#include "replication/core.h"

namespace syncached::replication {
namespace {
constexpr uint64_t kHelloEveryMs = 500;
constexpr uint64_t kFirstHelloRetryMs = 20;
// A link waiting this long has a ZeroMQ reconnect interval worth cutting short.
constexpr uint64_t kReconnectAfterMs = 1000;
constexpr uint64_t kSilenceMs = 3000;
constexpr uint64_t kAckEveryMs = 200;

uint64_t KeyHash(std::string_view key) { return std::hash<std::string_view>()(key); }
}  // namespace

void Core::SendHello(Link& l) {
  l.last_hello_ms = now_;
  l.hello_interval_ms =
      std::clamp<uint64_t>(l.hello_interval_ms * 2, kFirstHelloRetryMs, kHelloEveryMs);
  Hello h{opts_.node_id,
          l.epoch,
          l.next_seq,
          opts_.cluster_name,
          l.phase == Link::Phase::kFullCopy ? 0 : l.stream_hlc,
          epoch_,
          opts_.members_digest,
          handing_over_ && !l.synced,
          HelloWantsMulticast(l),
          opts_.client_address};
  transport_->ToPublisher(l.index, EncodeHello(h));  // dropped while not connected
}

void Core::SendAck(Link& l) {
  l.ack_due = false;
  l.last_ack_ms = now_;
  l.acked = l.next_seq;
  transport_->ToPublisher(l.index,
                          EncodePosition(MsgType::kAck, {l.epoch, l.next_seq, WallMillis()}));
}

void Core::ResetLink(Link& l, const std::string& error) {
  if (!error.empty()) {
    l.last_error = error;
    SC_LOG(kInfo, "replication: link to %s: %s", l.address.c_str(), error.c_str());
  }
  if (l.phase != Link::Phase::kConnecting) l.connecting_since_ms = now_;
  l.phase = Link::Phase::kConnecting;
  l.ack_due = false;
  if (l.mcast) l.mcast->on = false;  // until the next WELCOME says so
  l.repair.reset();                  // the peer's side went with the connection
  l.range_id = 0;                    // asked again once it streams
  l.last_hello_ms = 0;
  l.hello_interval_ms = 0;
}

// A new connection now, instead of the transport's next attempt: after a peer was down
// for a while ZeroMQ's reconnect interval has grown to seconds.
void Core::Reconnect(Link& l) {
  transport_->Reconnect(l.index);
  l.last_hello_ms = 0;
  l.hello_interval_ms = 0;
}

// A peer said HELLO to our publisher, so it is up and names its run. A link still
// following an older run of it starts over at once: the new run's first writes reach us
// now, not after kSilenceMs (until then they were only on the peer, and lost with it).
// Links that have been waiting for an answer a while (from it, or from a peer we never
// heard from) connect again at once when a run is new to us, for the same reason.
void Core::NoticePeerRun(const Hello& h) {
  uint64_t& known = peer_runs_[h.node_id];
  bool new_run = known != h.sender_epoch;
  known = h.sender_epoch;
  for (Link& l : links_) {
    if (l.peer_node != h.node_id && l.peer_node != 0) continue;
    bool following = l.phase == Link::Phase::kFullCopy || l.phase == Link::Phase::kCatchUp ||
                     l.phase == Link::Phase::kStreaming;
    if (following && l.peer_node == h.node_id && l.epoch != h.sender_epoch) {
      ResetLink(l, "peer restarted");
      Reconnect(l);
      SendHello(l);
    } else if (!following && new_run && Elapsed(now_, l.connecting_since_ms) >= kReconnectAfterMs) {
      Reconnect(l);
      SendHello(l);
    }
  }
}

void Core::SavePosition(const Link& l) {
  if (!opts_.save_position) return;
  char value[72];
  snprintf(value, sizeof value, "%llu %llu %llu", static_cast<unsigned long long>(l.epoch),
           static_cast<unsigned long long>(l.next_seq),
           static_cast<unsigned long long>(l.stream_hlc));
  opts_.save_position("peer:" + l.address, value);
}

bool Core::ApplyStreamBatch(Link& l, std::string_view msg) {
  Changes changes;
  if (!DecodeChanges(msg, &changes)) return false;
  ApplyStreamBatch(l, changes);
  return true;
}

void Core::ApplyStreamBatch(Link& l, const Changes& changes) {
  if (l.phase != Link::Phase::kCatchUp && l.phase != Link::Phase::kStreaming &&
      l.phase != Link::Phase::kFullCopy) {
    return;
  }
  // During a copy, changes are applied as they come (by version, like the copy's) but no
  // position is saved or acknowledged: it claims nothing until SNAP_END.
  bool copying = l.phase == Link::Phase::kFullCopy;
  uint64_t end = changes.first_seq + changes.span;
  if (changes.epoch != l.epoch) {
    // From a session before the peer restarted: ignore, its ping will tell.
  } else if (changes.first_seq > l.next_seq) {
    ResetLink(l, "gap in the change stream; asking to catch up");
  } else if (end > l.next_seq) {
    size_t skip = 0;  // the changes below next_seq were applied before
    while (skip < changes.changes.size() && changes.SeqOf(skip) < l.next_seq) ++skip;
    ApplyChanges(l, changes, skip);
    for (const record::ChangeView& c : changes.changes) {
      l.stream_hlc = std::max(l.stream_hlc, c.version.hlc);
    }
    l.next_seq = end;
    if (!copying) SavePosition(l);
    // Acknowledged in Step, once for every batch this turn's messages brought.
    if (l.ack_every_batch && !copying) l.ack_due = true;
  }
}

void Core::ApplyChanges(Link& l, const Changes& c, size_t skip) {
  bool note = l.sweep && l.phase == Link::Phase::kFullCopy;
  for (size_t i = skip; i < c.changes.size(); ++i) {
    if (!opts_.drop_prefix_for_tests.empty() &&
        c.changes[i].key.starts_with(opts_.drop_prefix_for_tests)) [[unlikely]] {
      ++repair_stats_.dropped_for_tests;
      continue;
    }
    if (Unowned(c.changes[i])) continue;
    store_->Apply(c.changes[i]);
    if (note) l.carried.push_back(KeyHash(c.changes[i].key));
    ++l.changes_applied;
    l.last_applied_hlc_ms = record::HlcMillis(c.changes[i].version.hlc);
  }
}

// The peer's copy held every item of its origin it still has; ours of that origin that
// it did not carry it deleted while we were away, past its tombstones' lifetime (or
// evicted). Only items older than the copy's end are judged: one the peer wrote after
// it can reach us first through another peer's copy. A hash collision spares a key.
void Core::FinishSweep(Link& l, uint64_t end_millis) {
  if (!l.sweep) return;
  l.sweep = false;
  std::sort(l.carried.begin(), l.carried.end());
  uint64_t before = record::MakeHlc(end_millis, 0);
  uint64_t swept = store_->SweepOrigin(l.peer_node, before, [&](std::string_view key) {
    return std::binary_search(l.carried.begin(), l.carried.end(), KeyHash(key));
  });
  std::vector<uint64_t>().swap(l.carried);
  l.swept += swept;
  if (swept) {
    SC_LOG(kInfo, "replication: dropped %llu item(s) of node %u that its copy no longer holds",
           static_cast<unsigned long long>(swept), l.peer_node);
  }
}

void Core::OnPublisherMessage(size_t link, std::string_view msg, uint64_t now) {
  if (link >= links_.size() || links_[link].retired) return;
  Link& l = links_[link];
  now_ = now;
  l.last_rx_ms = now;
  l.bytes_received += msg.size();
  MsgType type;
  Welcome w;
  Position pos;
  Changes changes;
  std::string reason;
  bool ok = PeekType(msg, &type);
  if (ok) {
    switch (type) {
      case MsgType::kWelcome:
        if ((ok = DecodeWelcome(msg, &w))) {
          l.welcomed = true;
          l.ack_every_batch = w.ack_every_batch;
          if (l.epoch != 0 && w.epoch != l.epoch && l.publisher_next > l.next_seq) {
            // The peer restarted before sending changes it had announced (by ping):
            // async writes in flight, lost unless it kept them on disk.
            l.missed_at_restart += l.publisher_next - l.next_seq;
            SC_LOG(kWarn, "replication: %s restarted; %llu announced change(s) never arrived",
                   l.address.c_str(),
                   static_cast<unsigned long long>(l.publisher_next - l.next_seq));
          }
          if (w.epoch != l.epoch) l.publisher_next = 0;
          if (w.epoch != l.epoch || w.mode == WelcomeMode::kFullCopy) l.stream_hlc = 0;
          l.peer_node = w.node_id;
          l.epoch = w.epoch;
          l.last_error.clear();
          if (w.mode == WelcomeMode::kFullCopy) {
            // A second WELCOME within one copy (its stream fell out of the backlog)
            // continues it: what the copy carried so far still counts.
            if (l.phase != Link::Phase::kFullCopy) std::vector<uint64_t>().swap(l.carried);
            l.sweep = w.sweep;
            l.phase = Link::Phase::kFullCopy;
            l.copy_received = 0;
            l.next_seq = w.start_seq;  // the stream runs beside the copy from here
          } else {
            l.phase = Link::Phase::kCatchUp;
            l.next_seq = w.start_seq;
            ++l.catch_ups;
          }
          OnWelcomeMulticast(l, w);
        }
        break;
      case MsgType::kSnap:
        if ((ok = DecodeChanges(msg, &changes)) && l.phase == Link::Phase::kFullCopy) {
          ApplyChanges(l, changes, 0);
          l.copy_received += changes.changes.size();
        }
        break;
      case MsgType::kSnapEnd:
        if ((ok = DecodePosition(msg, &pos)) && l.phase == Link::Phase::kFullCopy &&
            pos.epoch == l.epoch) {
          if (l.mcast && l.mcast->on) {
            // The stream beside the copy came by multicast: what of it is still missing
            // is asked for, not skipped.
            l.mcast->tracker.OnHeartbeat(l.epoch, pos.seq);
          } else {
            l.next_seq = pos.seq;
          }
          FinishSweep(l, pos.millis);
          l.phase = Link::Phase::kCatchUp;
          ++l.full_copies;
          l.last_copy_records = l.copy_received;
          SavePosition(l);
          SC_LOG(kInfo, "replication: full copy from %s done (%llu records)", l.address.c_str(),
                 static_cast<unsigned long long>(l.copy_received));
        }
        break;
      case MsgType::kBatch:
      case MsgType::kSparse:
        if (type == MsgType::kBatch && l.mcast && l.mcast->on) {
          Changes c;
          ok = DecodeChanges(msg, &c) && TrackBatch(l, msg, c);
        } else {
          ok = ApplyStreamBatch(l, msg);
        }
        break;
      case MsgType::kPing:
        if ((ok = DecodePosition(msg, &pos))) {
          l.clock_offset_ms = static_cast<int64_t>(pos.millis) - static_cast<int64_t>(WallMillis());
          l.peer_members_epoch = pos.members_epoch;
          l.peer_ready = pos.ready;
          if (l.phase == Link::Phase::kCatchUp || l.phase == Link::Phase::kStreaming) {
            if (pos.epoch != l.epoch) {
              ResetLink(l, "peer restarted");
            } else {
              l.publisher_next = pos.seq;
              if (l.mcast && l.mcast->on) l.mcast->tracker.OnHeartbeat(l.epoch, pos.seq);
              if (l.next_seq >= pos.seq && l.phase == Link::Phase::kCatchUp) {
                l.phase = Link::Phase::kStreaming;
                if (!l.synced) {
                  SC_LOG(kInfo, "replication: in sync with %s", l.address.c_str());
                }
                ScheduleRepairSoon(l);
                l.synced = true;
              }
            }
          }
        }
        break;
      case MsgType::kRepair:
        OnRepairFromPeer(l, msg);
        break;
      case MsgType::kRepairItems:
        ok = ApplyRepairItems(msg, &l.handover_keys);
        break;
      case MsgType::kRepairDone:
        ok = OnRepairDone(l, msg);
        break;
      case MsgType::kRefuse:
        if ((ok = DecodeRefuse(msg, &reason))) {
          l.phase = Link::Phase::kRefused;
          l.last_error = "refused by peer: " + reason;
          SC_LOG(kWarn, "replication: %s refused this node: %s", l.address.c_str(), reason.c_str());
        }
        break;
      default:
        ok = false;
    }
  }
  if (!ok) {
    // Untrusted bytes that do not decode: this link only starts over.
    ++l.malformed;
    ResetLink(l, "malformed message from peer");
  }
}

void Core::TickLinks() {
  uint64_t now = now_;
  for (Link& l : links_) {
    RetireLeaving(l);
    if (l.retired) continue;
    switch (l.phase) {
      case Link::Phase::kConnecting:
        if (Elapsed(now, l.last_hello_ms) >= l.hello_interval_ms) SendHello(l);
        if (l.last_error.empty() && Elapsed(now, std::max(l.last_rx_ms, started_ms_)) > 5000) {
          // With CURVE, a wrong secret looks like a peer that never answers.
          l.last_error = "no answer: peer down, or cluster secret or name differ";
          SC_LOG(kWarn, "replication: no answer from %s (down, or another cluster secret?)",
                 l.address.c_str());
        }
        break;
      case Link::Phase::kRefused:
        if (Elapsed(now, l.last_hello_ms) >= 10 * kHelloEveryMs) SendHello(l);
        break;
      default:
        TickMulticast(l);
        if (l.phase == Link::Phase::kConnecting) break;  // it fell back or gave up
        if (Elapsed(now, l.last_rx_ms) > kSilenceMs) {
          ResetLink(l, "peer silent; reconnecting");
          SendHello(l);
        } else if (l.ack_due ||
                   (Elapsed(now, l.last_ack_ms) >= kAckEveryMs && l.acked != l.next_seq) ||
                   // keeps the session alive at the publisher when nothing changes
                   Elapsed(now, l.last_ack_ms) >= 5 * kAckEveryMs) {
          SendAck(l);
        }
        break;
    }
  }
}

}  // namespace syncached::replication
