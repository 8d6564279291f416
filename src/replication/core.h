// The replication state machine of one node, without I/O: decoded peers' messages,
// local changes and the current time go in; messages to send (through Transport) and
// changes to the store come out. The ZeroMQ driver (replicator.cc) and the simulator
// (tests/sim) each feed it; neither the clock nor a socket is read here.
//
// Publisher side: our changes numbered into the backlog and acknowledged
// (publisher_changes.cc), and a Session per subscribed peer set up (publisher_sessions.cc)
// and fed from the backlog or a copy of the store (publisher_stream.cc). Subscriber side
// (subscriber.cc): a Link per peer whose stream we apply. core.cc: the step, the join
// gate, --sync-replicas tickets, stats. docs/REPLICATION.md has the protocol.
//
// Threads: everything is the replication thread's except OnChange and the sync-wait
// calls (any thread), as their comments say.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/mutex.h"
#include "replication/gap_tracker.h"
#include "replication/replication.h"
#include "replication/sealed.h"
#include "replication/sync_lane.h"
#include "replication/wire.h"

namespace syncached::replication {

// now - then, or 0 when `then` was read after `now` (callers pass one reading down a
// whole step, and a message handled within it may carry a later one).
inline uint64_t Elapsed(uint64_t now, uint64_t then) { return now > then ? now - then : 0; }

// Within one run, the seq order and HLC order of our changes differ only by the moment
// between a version and its queueing: a delta of what a peer of this run lacks starts
// this much (1 s of HLC) before the newest change it is known to hold.
constexpr uint64_t kSameRunMarginHlc = uint64_t{1000} << 16;

// --multicast: an idle publisher's heartbeat interval (a lost tail is noticed within it),
// and how many bytes of batches ahead of a gap a link holds while the gap is resent.
constexpr uint64_t kMcastHeartbeatMs = 100;
constexpr size_t kMcastBufferBytes = size_t{16} << 20;
// How long the stream gathers our changes while the sync lane carries them (Step).
constexpr uint64_t kLaneStreamDelayMs = 1;

// What the core asks of the network. Per connection, messages arrive in order or not
// at all (a broken connection loses what was in flight; a new one is a new identity).
class Transport {
 public:
  enum class Sent { kOk, kFull, kGone };
  virtual ~Transport() = default;
  // Publisher side: one message to the subscriber that said HELLO from `identity`.
  // kFull: its pipe is full now (try later); kGone: that connection is no more.
  virtual Sent ToSubscriber(const std::string& identity, const std::string& msg) = 0;
  // Subscriber side: one message to the publisher of link `link`; dropped unless the
  // link's connection is up.
  virtual void ToPublisher(size_t link, const std::string& msg) = 0;
  // A new connection for link `link` now (a new identity at the publisher).
  virtual void Reconnect(size_t link) = 0;
  // A link added by a membership change (the next index), to the peer at `address`.
  virtual void AddLink(size_t link, const std::string& address) = 0;
  // --multicast: one sealed frame to every node on the group (best effort: PGM may lose
  // it; sequence numbers and STREAM_REPAIR make up for that).
  virtual void Multicast(const std::string& /*frame*/) {}
};

struct RepairRun;  // repair_run.h

// Local changes waiting for the replication thread (filled by worker threads).
struct Pending {
  Mutex mu;
  // Record runs of ~kSealBytes, each with its count.
  std::vector<std::string> sealed GUARDED_BY(mu);
  std::vector<uint32_t> sealed_counts GUARDED_BY(mu);
  std::string open GUARDED_BY(mu);
  uint32_t open_count GUARDED_BY(mu) = 0;
  // --sync-replicas: every own change gets the next ticket; a run's tickets are
  // consecutive, so the replication thread maps them to sequence numbers.
  uint64_t tickets GUARDED_BY(mu) = 0;
  std::vector<uint64_t> sealed_first_tickets GUARDED_BY(mu);
  uint64_t open_first_ticket GUARDED_BY(mu) = 0;
  uint64_t bytes GUARDED_BY(mu) = 0;
  // More than the backlog could ever hold: peers must full-copy.
  bool overflowed GUARDED_BY(mu) = false;
  std::atomic<bool> nonempty{false};  // something waits (read without the mutex)
};

// Sharded: which nodes each change of a backlog batch goes to, worked out once when the
// batch is appended (every peer's stream reads it), and where each change's bytes end
// in the message, so a peer's SPARSE message copies them without decoding the batch.
struct BatchRouting {
  static constexpr uint16_t kEveryNode = 0xffff;  // a flush: first of its slots
  static constexpr uint16_t kNoNode = 0xfffe;     // padding
  uint32_t begin = 0;            // the first change's bytes start here (after the header)
  std::vector<uint32_t> ends;    // change i's bytes end here
  size_t stride = 0;             // owner slots per change
  std::vector<uint16_t> owners;  // change i's owners: [i * stride, (i + 1) * stride)
  bool Carries(size_t i, uint16_t node) const {
    for (size_t k = i * stride; k < (i + 1) * stride; ++k) {
      if (owners[k] == node || owners[k] == kEveryNode) return true;
    }
    return false;
  }
};

// Sent changes, newest last, bounded in bytes. Each entry is a complete kBatch message.
class Backlog {
 public:
  explicit Backlog(uint64_t max_bytes) : max_bytes_(max_bytes) {}
  // `hlc`: our clock after the batch's changes were taken, so no change in it is newer
  // and every later batch's changes are newer (up to the moment between a version and
  // its queueing).
  void Append(uint64_t first_seq, uint32_t count, uint64_t hlc, std::string msg,
              BatchRouting routing = {});
  // The batch holding `seq`, or null if it fell out (or is not written yet); *routing
  // (if asked for) is what Append was given.
  const std::string* Find(uint64_t seq, uint64_t* first, uint32_t* count, uint64_t* hlc,
                          const BatchRouting** routing = nullptr) const;
  uint64_t front_seq() const { return entries_.empty() ? next_seq_ : entries_.front().first; }
  uint64_t next_seq() const { return next_seq_; }
  void set_next_seq(uint64_t s) { next_seq_ = s; }
  uint64_t bytes() const { return bytes_; }
  uint64_t max_bytes() const { return max_bytes_; }
  // A full copy in progress resumes streaming at `seq`: batches from there on are
  // kept past max_bytes (up to 4 x max_bytes), or a copy slower than the writes would
  // restart forever. UINT64_MAX: nothing pinned.
  void set_pin(uint64_t seq) { pin_ = seq; }
  uint64_t hard_cap() const { return 4 * max_bytes_; }
  void Clear() {
    entries_.clear();
    bytes_ = 0;
  }

 private:
  struct Entry {
    uint64_t first;
    uint32_t count;
    uint64_t hlc;
    std::string msg;
    BatchRouting routing;
  };
  uint64_t max_bytes_;
  uint64_t bytes_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t pin_ = UINT64_MAX;
  std::deque<Entry> entries_;
};

// A peer subscribed to our stream (publisher side of a link).
struct Session {
  std::string identity;  // ZeroMQ routing id
  uint16_t node_id = 0;
  Hello hello;            // the HELLO that set the session up, and when
  uint64_t hello_ms = 0;  // (a repeat of it soon after is not a new request)
  enum class Mode { kStream, kFullCopy } mode = Mode::kStream;
  uint64_t stream_since_ms = 0;  // when mode last became kStream
  uint64_t next_seq = 0;         // next sequence to send (a copy streams beside its walk)
  uint64_t acked_seq = 0;
  size_t snap_shard = 0;     // kFullCopy: next shard to copy
  uint64_t delta_since = 0;  // kFullCopy: only our own changes from this HLC (0: all)
  // The peer holds every change of ours up to about this HLC (0: unknown), so if it
  // falls out of the backlog a delta from here is enough.
  uint64_t sent_hlc = 0;
  // Sharded: the first of the seqs sent past without a message (0: none), see PumpStream.
  uint64_t skipped_from = 0;
  uint64_t last_stream_ms = 0;  // sharded, async: when its stream was last pumped
  // kFullCopy: the stream fell out of the backlog during the walk, so one more pass
  // sends our items changed from rewalk_since on.
  bool rewalk = false;
  uint64_t rewalk_since = 0;
  bool sweep = false;                 // kFullCopy: the peer sweeps at SNAP_END (Welcome::sweep)
  std::deque<std::string> queued;     // built but not yet accepted by the transport
  std::shared_ptr<RepairRun> repair;  // the comparison the peer runs with us, if any
  // The range copy the peer asked for in a handover (range_copies.cc): its id (0: none)
  // and the next shard of the store to walk.
  uint32_t range_id = 0;
  size_t range_shard = 0;
  uint64_t range_items = 0;  // items it sent so far
  uint64_t last_heard_ms = 0;
  uint64_t last_ping_ms = 0;
  uint64_t last_sent_ms = 0;  // the transport last took a message for the peer
  uint64_t bytes_sent = 0;
  uint64_t full_copies = 0, catch_ups = 0, delta_copies = 0, copy_restarts = 0;
  uint64_t copy_items = 0;
  bool gone = false;  // the transport no longer knows the peer
  // The peer hears our multicast: from mcast_from on its live stream goes only there,
  // its TCP stream carries the backlog before that and the ranges it asks again for.
  bool multicast = false;
  uint64_t mcast_from = 0;
  uint64_t repairs_served = 0;
};

// A link's multicast side (multicast.cc): the run's frame key, the in-order delivery of
// its batches (TCP catch-up and resent ranges go through it too), and whether frames come.
struct McastLink {
  explicit McastLink(size_t max_buffered) : tracker(max_buffered) {}
  std::unique_ptr<FrameKey> key;  // of the run the link follows (any mode)
  uint64_t key_run = 0;
  bool on = false;  // this run's live stream comes by multicast
  GapTracker tracker;
  uint64_t heard_ms = 0;  // a frame of the followed run last opened
  uint64_t gap_from = 0, gap_since_ms = 0, repair_asked_ms = 0;
  uint64_t fallback_until_ms = 0;  // asks for TCP streaming until then
  uint64_t frames = 0, repairs = 0, fallbacks = 0;
};

// One peer whose stream we apply (subscriber side of a link).
struct Link {
  size_t index = 0;     // in Options::peers, and for the Transport
  std::string address;  // host:port
  enum class Phase {
    kConnecting,
    kFullCopy,
    kCatchUp,
    kStreaming,
    kRefused
  } phase = Phase::kConnecting;
  uint16_t peer_node = 0;
  uint64_t epoch = 0;
  uint64_t next_seq = 0;
  uint64_t publisher_next = 0;  // from the last ping
  uint64_t last_rx_ms = 0, last_hello_ms = 0, last_ack_ms = 0, acked = 0;
  // HELLOs while connecting back off from 20 ms to kHelloEveryMs: the first ones after a
  // (re)connect are dropped by ZeroMQ until the connection is up (ZMQ_IMMEDIATE).
  uint64_t hello_interval_ms = 0;
  uint64_t connecting_since_ms = 0;  // kConnecting since (ZeroMQ's backoff grows meanwhile)
  uint64_t last_applied_hlc_ms = 0;
  uint64_t stream_hlc = 0;  // newest version applied from this epoch's stream (0: none)
  int64_t clock_offset_ms = 0;
  bool welcomed = false;         // answered at least once
  bool ack_every_batch = false;  // the publisher waits for our ACKs (--sync-replicas)
  bool ack_due = false;          // applied a batch it waits for: ACK at the next Step
  bool synced = false;           // finished a full copy or catch-up at least once
  uint64_t bytes_received = 0, changes_applied = 0, full_copies = 0, catch_ups = 0;
  uint64_t copy_received = 0, malformed = 0, last_copy_records = 0;
  uint64_t missed_at_restart = 0;  // announced by the peer, never received: it restarted
  // A sweeping copy (Welcome::sweep): hashes of the keys it carried, copy and stream.
  bool sweep = false;
  std::vector<uint64_t> carried;
  uint64_t swept = 0;  // our items of the peer's origin dropped after its copies
  std::string last_error;
  // Anti-entropy: the comparison this side began with the peer, and when the next is due.
  std::shared_ptr<RepairRun> repair;
  uint64_t next_repair_ms = 0;
  // Membership changes: no longer a peer (its link says nothing and counts for nothing);
  // the members epoch and readiness its PINGs announce; the epoch whose handover
  // comparison with it is complete.
  bool retired = false;
  // Not a member any more but still streaming to us: its last writes (made while it
  // still placed keys by the old members too) are taken until it goes quiet.
  bool leaving = false;
  uint64_t peer_members_epoch = 0;
  bool peer_ready = false;
  uint64_t handed_over = 0;
  uint64_t handover_retry_ms = 0;  // the peer declined a comparison: not before this
  uint64_t handover_keys = 0;      // items its comparisons sent us in this change
  // The range copy asked of the peer in this change (range_copies.cc): its id while in
  // flight (0: none), since when, and the epoch whose copy is over (done or given up).
  uint32_t range_id = 0;
  uint64_t range_started_ms = 0;
  uint64_t ranged = 0;
  std::shared_ptr<McastLink> mcast;  // with --multicast
};

// Anti-entropy counters (`stats replication`).
struct RepairStats {
  uint64_t runs = 0, runs_failed = 0, runs_in_sync = 0;
  uint64_t buckets_differing = 0, keys_listed = 0;
  uint64_t keys_sent = 0, keys_received = 0, keys_applied = 0;
  uint64_t bytes_sent = 0, bytes_received = 0;
  uint64_t dropped_for_tests = 0;
  uint64_t handover_runs = 0;  // comparisons of a membership change's handover
  uint64_t range_copies = 0;   // range copies this node asked for (handovers)
  uint64_t range_copies_served = 0, range_copies_failed = 0;
};

class Core {
 public:
  // `epoch` names this run of our stream. Every `now` given to the core is monotonic
  // milliseconds (timers: silence, retries, timeouts), never the wall clock, which may
  // step; the wall clock (PINGs, lag, clock offsets) is the store's Clock.
  Core(const Options& options, storage::Store* store, Transport* transport, uint64_t epoch,
       uint64_t now);
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  // Any thread: a local change (only ours travel). True when the replication thread
  // may be asleep and should be woken.
  bool OnChange(const record::ChangeView& change);
  // How long the replication thread may sleep while changes flow: a sharded stream
  // without --sync-replicas holds changes back that long anyway (HoldsBack), so polling
  // more often only costs wakeups (on every node, however few of the keys it owns).
  int active_poll_ms(bool busy) const;
  bool pending_nonempty() const { return pending_.nonempty.load(std::memory_order_seq_cst); }

  // Replication thread. Untrusted bytes from a peer: a subscriber's (publisher side)
  // or a link's publisher's (subscriber side).
  void OnSubscriberMessage(const std::string& identity, std::string_view msg, uint64_t now);
  void OnPublisherMessage(size_t link, std::string_view msg, uint64_t now);
  // A frame heard on the multicast group (untrusted: anyone on the segment may send).
  void OnMulticastFrame(std::string_view frame, uint64_t now);
  // Queues local changes, ticks links, moves the join gate, feeds sessions. True while
  // sessions have work (call again soon).
  bool Step(uint64_t now);
  // The transport saw a subscriber's connection close: PING every session for a moment
  // so the one that went answers kGone now, not at its next PING (--sync-replicas
  // waits for it until then).
  void ConnectionClosed() { probe_until_ms_ = now_ + kProbeMs; }
  // SIGTERM: queue and push what is pending; Drained once every peer following us (and
  // every live peer about to) acknowledged all of it.
  void Drain(uint64_t now);
  bool Drained() const;

  // The join gate: open once our initial sync is done and the live peers follow us.
  bool gate_open() const { return gate_open_; }
  bool any_synced() const { return any_synced_; }
  // `stats replication` lines; `auth` and `auth_failures` come from the transport.
  std::string RenderStats(const char* auth, uint64_t auth_failures) const;
  // Changes whenever a link's phase or the set of sessions and their modes change.
  uint64_t StatsSignature() const;
  uint64_t refused_hellos() const { return refused_hellos_; }

  // Any thread: every link compares digests with its peer at the next step (`repair`).
  void RequestRepair() { repair_requested_.store(true, std::memory_order_relaxed); }

  // Membership changes (membership.cc). Replication thread. Links to peers no longer
  // named retire; new ones start connecting. Runs under the previous owners end here:
  // their digests were of another placement.
  void SetMembership(const Membership& m);
  uint64_t members_epoch() const { return opts_.members_digest; }
  // This node holds every key it gains in the current epoch (true when it gains none).
  bool handover_ready() const { return !handing_over_; }
  // Every linked peer announced this epoch and its readiness, and this node is ready:
  // the new placement may serve, and the old one may be dropped.
  bool AllReady() const;

  // --sync-replicas (see Replicator): any thread.
  uint64_t BeginSyncWait();
  bool IsAcked(uint64_t ticket) const {
    return acked_ticket_.load(std::memory_order_seq_cst) >= ticket;
  }
  void EndSyncWait(uint64_t waited_us, bool timed_out);
  void SetAckListener(std::function<void(uint64_t)> fn) { ack_listener_ = std::move(fn); }
  // The sync lane (sync_lane.h): null without --sync-replicas, or sharded. Any thread.
  SyncLane* lane() const { return lane_.get(); }

  // For tests and the simulator.
  const std::vector<Link>& links() const { return links_; }
  const std::map<std::string, Session>& sessions() const { return sessions_; }
  const Backlog& backlog() const { return backlog_; }
  uint64_t epoch() const { return epoch_; }
  bool initial_sync_done() const { return initial_sync_done_; }
  const RepairStats& repair_stats() const { return repair_stats_; }

 private:
  // Publisher side (publisher_*.cc).
  void DrainPending();
  void HandleHello(const std::string& identity, const Hello& h);
  void HandleAck(const std::string& identity, const Position& pos);
  void PumpSessions(bool* busy);
  bool PumpSession(Session& s);
  bool PumpStream(Session& s);
  void StartCopy(Session& s, uint64_t delta_since);
  bool DeltaIsWhole(const Session& s, uint64_t since);
  bool HoldsAllOwnItems() const;
  bool Carries(const Session& s, const record::ChangeView& c) const;
  BatchRouting RouteBatch(std::string_view changes, uint32_t begin, uint32_t count) const;
  std::string SparseFor(const Session& s, const std::string& batch, const BatchRouting& routing,
                        uint64_t from, uint64_t first, uint32_t count);
  void FlushSkipped(Session& s);
  bool HoldsBack(const Session& s) const;
  bool SendTo(Session& s, std::string msg);  // false: not accepted now (queued) or gone
  bool TrySend(Session& s, const std::string& msg);
  void AdvanceAcked();
  void AdvanceAckedSharded();
  // The peers the lane sends to: those streaming from us that named a client address.
  void PublishLanePeers();
  // The origins whose lane frames we apply (SyncLane::SetFollowing), when they change.
  void PublishFollowing();
  // Multicast (multicast.cc).
  bool multicast_on() const { return own_frame_key_ != nullptr; }
  void MulticastBatch(uint64_t first, uint32_t count, const std::string& msg);
  void MulticastHeartbeat();
  void SendFrame(const FrameHeader& h, std::string_view payload);  // sealed, to the group
  bool OnStreamRepair(Session& s, std::string_view msg);
  void OnWelcomeMulticast(Link& l, const Welcome& w);
  // A stream batch for a link in multicast mode (`c`: msg decoded): through its tracker.
  // False: malformed.
  bool TrackBatch(Link& l, std::string_view msg, const Changes& c);
  void TickMulticast(Link& l);
  bool HelloWantsMulticast(const Link& l) const;
  // Subscriber side (subscriber.cc).
  // A batch (TCP, or in order from the multicast tracker) applied. False: malformed.
  bool ApplyStreamBatch(Link& l, std::string_view msg);
  void ApplyStreamBatch(Link& l, const Changes& changes);  // decoded
  void ApplyChanges(Link& l, const Changes& c, size_t skip);
  void FinishSweep(Link& l, uint64_t end_millis);
  void SavePosition(const Link& l);
  void TickLinks();
  void SendHello(Link& l);
  void SendAck(Link& l);
  void ResetLink(Link& l, const std::string& error);
  void Reconnect(Link& l);
  void NoticePeerRun(const Hello& h);
  // Anti-entropy (repair_runs.cc).
  void StartRepairs();
  void OnRepairFromPeer(Link& l, std::string_view msg);
  void OnRepairFromSubscriber(Session& s, std::string_view msg);
  // `keys`, if given, counts the items (a handover's progress with the sending peer).
  bool ApplyRepairItems(std::string_view msg, uint64_t* keys = nullptr);
  // A handover's progress with a peer (stats): waiting, copying, comparing, receiving,
  // done.
  const char* HandoverState(const Link& l) const;
  bool OnRepairDone(Link& l, std::string_view msg);
  void StepRepair(RepairRun& run, std::string_view body, std::vector<std::string>* replies);
  bool PumpRepairPushes();
  bool PushSome(RepairRun& run, const std::function<bool()>& room,
                const std::function<void(std::string&&)>& send);
  bool PushOne(RepairRun& run, const std::function<void(std::string&&)>& send);
  std::string FinishItems(std::string msg, uint32_t count);
  void ScheduleRepairSoon(Link& l);
  // Membership (membership.cc, range_copies.cc).
  bool HandsOverWith(const Link& l) const;
  void StartRangeCopies();
  bool RangeCopiesInFlight() const;
  bool OnRangeRequest(Session& s, std::string_view msg);
  bool OnRangeDone(Link& l, uint32_t id, bool declined);
  bool PumpRange(Session& s);
  std::unique_ptr<repair::Digests> HandoverDigests(uint16_t peer);
  void StartHandoverRun();
  void FinishHandoverRuns();
  void NoteMembersEpoch(uint16_t node, uint64_t epoch);
  void DeclineRetry(Link& l);
  bool Unowned(const record::ChangeView& c);
  void RetireLeaving(Link& l);
  Link NewLink(size_t index, const std::string& address);
  // core.cc
  uint64_t WallMillis() const;
  void UpdateGate();
  bool AllLivePeersFollow() const;

  Options opts_;
  mutable std::vector<uint16_t> owners_scratch_;  // Carries, RouteBatch (replication thread)
  const uint64_t instance_;  // unique in the process (thread-local tickets name it)
  storage::Store* store_;
  Transport* transport_;
  uint64_t epoch_;
  uint64_t started_ms_;
  uint64_t now_;  // of the step or message being handled

  Pending pending_;
  Backlog backlog_;
  std::map<std::string, Session> sessions_;  // by identity
  std::vector<Link> links_;
  // HELLOs of peers that followed an earlier run of this node, held until our own
  // initial sync is done and answered the moment it is (by node: identity, hello).
  std::map<uint16_t, std::pair<std::string, Hello>> deferred_hellos_;
  std::map<uint16_t, uint64_t> peer_runs_;  // node -> the epoch its last HELLO named
  bool initial_sync_done_ = false;
  uint64_t synced_at_ms_ = 0;
  bool gate_open_ = false, any_synced_ = false;
  uint64_t refused_hellos_ = 0;
  uint64_t overflows_ = 0;
  static constexpr uint64_t kProbeMs = 50;  // see ConnectionClosed
  uint64_t probe_until_ms_ = 0;
  bool draining_ = false;  // Drain was called: nothing is held back from the peers
  RepairStats repair_stats_;
  uint32_t next_repair_id_ = 1;
  double repair_tokens_ = 0;     // bytes repair may send now (refilled at repair_rate)
  bool repair_pushing_ = false;  // items wait and the rate allows them: poll, do not wait
  uint64_t repair_refilled_ms_ = 0;
  std::atomic<bool> repair_requested_{false};
  bool handing_over_ = false;  // Membership::gains, until handed over
  std::function<bool(std::string_view, uint16_t, uint16_t)> sends_to_;  // Membership::sends_to
  std::function<void(std::string_view, std::vector<uint16_t>*)> new_owners_;  // Membership's
  bool places_by_both_ = false;  // Membership::places_by_both
  // Peers that asked us for a range copy in this change (node -> members epoch): their
  // comparisons are handover comparisons (HandoverDigests).
  std::map<uint16_t, uint64_t> handover_peers_;
  bool filter_unowned_ = false;  // a membership change happened: see Unowned
  bool changing_ = false;        // Membership::changing
  uint64_t unowned_dropped_ = 0;
  std::map<uint16_t, uint64_t> peer_epochs_;  // node -> members epoch of its last HELLO
  // --multicast: this run's frame key (null: no multicast), the cluster's tag, when a
  // frame last left, and counters.
  std::unique_ptr<FrameKey> own_frame_key_;
  std::unique_ptr<SyncLane> lane_;
  // The lane reaches enough peers to release writes by itself (PublishLanePeers), and
  // since when our changes wait for the stream (0: none waits).
  bool lane_covers_ = false;
  std::vector<uint16_t> lane_following_;  // as last published
  uint64_t pending_seen_ms_ = 0;
  uint64_t cluster_tag_ = 0;
  uint64_t last_mcast_ms_ = 0;
  uint64_t mcast_batches_ = 0, mcast_heartbeats_ = 0, mcast_bytes_ = 0;
  uint64_t mcast_rejected_ = 0, mcast_ignored_ = 0;

  // --sync-replicas. The replication thread maps sequence numbers to tickets and
  // publishes the newest ticket that enough peers acknowledged, then calls ack_listener_
  // (which wakes the workers holding replies for it).
  struct TicketRun {
    uint64_t first_seq, first_ticket, count;
  };
  std::deque<TicketRun> ticket_runs_;
  std::atomic<uint64_t> acked_ticket_{0};
  std::function<void(uint64_t)> ack_listener_;  // set before the thread starts
  std::atomic<uint64_t> sync_waits_{0}, sync_timeouts_{0}, sync_wait_us_{0};
};

}  // namespace syncached::replication
