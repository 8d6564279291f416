// Internals of the replicator (not part of the public header). Everything here is
// owned by the replication thread except where a member says otherwise.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "replication/replication.h"
#include "replication/wire.h"

namespace syncached::replication {

uint64_t NowMillis();
// now - then, or 0 when `then` was read after `now` (callers pass one reading down a
// whole step, and a message handled within it may carry a later one).
inline uint64_t Elapsed(uint64_t now, uint64_t then) { return now > then ? now - then : 0; }

// Local changes waiting for the replication thread (filled by worker threads).
struct Pending {
  std::mutex mu;
  std::vector<std::string> sealed;  // record runs of ~kSealBytes, each with its count
  std::vector<uint32_t> sealed_counts;
  std::string open;
  uint32_t open_count = 0;
  // --sync-replicas: every own change gets the next ticket; a run's tickets are
  // consecutive, so the replication thread maps them to sequence numbers.
  uint64_t tickets = 0;
  std::vector<uint64_t> sealed_first_tickets;
  uint64_t open_first_ticket = 0;
  uint64_t bytes = 0;
  bool overflowed = false;            // more than the backlog could ever hold: peers must full-copy
  std::atomic<bool> nonempty{false};  // something waits (read without the mutex)
};

// Sent changes, newest last, bounded in bytes. Each entry is a complete kBatch message.
class Backlog {
 public:
  explicit Backlog(uint64_t max_bytes) : max_bytes_(max_bytes) {}
  // `hlc`: our clock after the batch's changes were taken, so no change in it is newer
  // and every later batch's changes are newer (up to the moment between a version and
  // its queueing).
  void Append(uint64_t first_seq, uint32_t count, uint64_t hlc, std::string msg);
  // The batch holding `seq`, or null if it fell out (or is not written yet).
  const std::string* Find(uint64_t seq, uint64_t* first, uint32_t* count, uint64_t* hlc) const;
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
  uint64_t next_seq = 0;  // next sequence to send (a copy streams beside its walk)
  uint64_t acked_seq = 0;
  size_t snap_shard = 0;     // kFullCopy: next shard to copy
  uint64_t delta_since = 0;  // kFullCopy: only our own changes from this HLC (0: all)
  // The peer holds every change of ours up to about this HLC (0: unknown), so if it
  // falls out of the backlog a delta from here is enough.
  uint64_t sent_hlc = 0;
  // kFullCopy: the stream fell out of the backlog during the walk, so one more pass
  // sends our items changed from rewalk_since on.
  bool rewalk = false;
  uint64_t rewalk_since = 0;
  bool sweep = false;              // kFullCopy: the peer sweeps at SNAP_END (Welcome::sweep)
  std::deque<std::string> queued;  // built but not yet accepted by ZeroMQ
  uint64_t last_heard_ms = 0;
  uint64_t last_ping_ms = 0;
  uint64_t last_sent_ms = 0;  // ZeroMQ last took a message for the peer
  uint64_t bytes_sent = 0;
  uint64_t full_copies = 0, catch_ups = 0, delta_copies = 0, copy_restarts = 0;
  uint64_t copy_items = 0;
  bool gone = false;  // ZeroMQ no longer knows the peer
};

// One peer whose stream we apply (subscriber side of a link).
struct Link {
  std::string address;   // host:port
  std::string endpoint;  // tcp://host:port, as connected
  void* socket = nullptr;
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
  bool synced = false;           // finished a full copy or catch-up at least once
  uint64_t bytes_received = 0, changes_applied = 0, full_copies = 0, catch_ups = 0;
  uint64_t copy_received = 0, malformed = 0, last_copy_records = 0;
  uint64_t missed_at_restart = 0;  // announced by the peer, never received: it restarted
  // A sweeping copy (Welcome::sweep): hashes of the keys it carried, copy and stream.
  bool sweep = false;
  std::vector<uint64_t> carried;
  uint64_t swept = 0;  // our items of the peer's origin dropped after its copies
  std::string last_error;
};

// CURVE keys derived from the cluster secret (and name), and the ZAP handler that
// admits only peers holding them.
struct CurveKeys {
  unsigned char public_key[32];
  unsigned char secret_key[32];
};

struct Replicator::Impl {
  Impl(const Options& o, storage::Store* s) : opts(o), store(s), backlog(o.backlog_bytes) {}

  // Thread body and its parts.
  void Run();
  void DrainPending();
  void ServeRouter();
  void HandleHello(const std::string& identity, const Hello& h, uint64_t now);
  void PumpSessions(uint64_t now, bool* busy);
  bool PumpSession(Session& s, uint64_t now);
  bool PumpStream(Session& s);
  void StartCopy(Session& s, uint64_t delta_since);
  bool DeltaIsWhole(const Session& s, uint64_t since);
  bool HoldsAllOwnItems() const;
  bool SendTo(Session& s, std::string msg);  // false: not accepted now (queued) or gone
  bool TrySend(Session& s, const std::string& msg);
  void ServeLink(Link& l);
  void ApplyChanges(Link& l, const Changes& c, size_t skip);
  void FinishSweep(Link& l, uint64_t end_millis);
  void SavePosition(const Link& l);
  void TickLinks(uint64_t now);
  void SendHello(Link& l, uint64_t now);
  void ResetLink(Link& l, const std::string& error);
  void Reconnect(Link& l);
  bool OpenLink(Link& l);
  void NoticePeerRun(const Hello& h, uint64_t now);
  void UpdateGate(uint64_t now);
  bool AllLivePeersFollow(uint64_t now) const;
  uint64_t StatsSignature() const;
  void ServeMonitor();
  void RenderStats(uint64_t now);
  void FlushOnStop();

  Options opts;
  storage::Store* store;
  uint64_t epoch = 0;
  uint64_t started_ms = 0;
  void* ctx = nullptr;
  void* router = nullptr;
  bool curve = false;  // links use CURVE (a cluster secret); set by Start
  CurveKeys keys{};    // links opened later need them too
  void* monitor = nullptr;
  int wake_fd = -1;
  std::thread thread;
  std::thread zap_thread;
  std::atomic<bool> stop{false};
  std::atomic<bool> sleeping{true};  // in a long poll: workers must wake it

  Pending pending;
  Backlog backlog;
  std::map<std::string, Session> sessions;  // by identity
  std::vector<Link> links;
  // HELLOs of peers that followed an earlier run of this node, held until our own
  // initial sync is done and answered the moment it is (by node: identity, hello).
  std::map<uint16_t, std::pair<std::string, Hello>> deferred_hellos;
  std::map<uint16_t, uint64_t> peer_runs;  // node -> the epoch its last HELLO named
  // The join gate as last published (replication thread's copy; mu guards the shared one).
  bool gate_all_synced = false, gate_any_synced = false;
  uint64_t stats_signature = 0;  // link phases and sessions as last rendered

  // Shared with other threads (stats, join gate): guarded by mu.
  mutable std::mutex mu;
  std::condition_variable cv;
  std::string stats_text;  // rendered by the thread twice a second
  bool any_welcomed = false;
  bool all_synced = false;
  std::atomic<uint64_t> auth_failures{0};
  uint64_t refused_hellos = 0;
  uint64_t stat_refused = 0;
  bool initial_sync_done = false;  // replication thread: our initial sync is done
  uint64_t synced_at_ms = 0;
  std::string last_accepted_peer;  // for naming a peer whose handshake failed
  std::map<std::string, std::pair<uint64_t, uint64_t>> refusal_log;  // host: last ms, quiet
  uint64_t overflows = 0;

  // --sync-replicas. The replication thread maps sequence numbers to tickets and
  // publishes the newest ticket that enough peers acknowledged, then calls ack_listener
  // (which wakes the workers holding replies for it).
  struct TicketRun {
    uint64_t first_seq, first_ticket, count;
  };
  std::deque<TicketRun> ticket_runs;  // replication thread only
  void AdvanceAcked();
  std::atomic<uint64_t> acked_ticket{0};
  std::function<void(uint64_t)> ack_listener;  // set before Start, then read-only
  std::atomic<uint64_t> sync_waits{0}, sync_timeouts{0}, sync_wait_us{0};
};

bool DeriveKeys(const std::string& secret, const std::string& cluster, CurveKeys* keys);
// `public_key`: the cluster's (32 bytes), the only client key admitted.
void RunZapHandler(void* ctx, std::string public_key, std::atomic<bool>* stop,
                   std::atomic<uint64_t>* failures);

}  // namespace syncached::replication
