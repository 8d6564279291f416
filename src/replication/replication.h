// replication: multi-master replication of the store over ZeroMQ.
//
// Every node streams the changes it originates (record::ChangeView, with versions)
// to every peer that subscribes, and subscribes to every peer's stream: a full mesh.
// The shape is the ZeroMQ Guide's "Clone pattern" made multi-master: a subscriber
// says where it is (HELLO: the publisher's epoch and the next sequence number it
// wants); the publisher answers from its bounded backlog (catch-up) or, when the
// subscriber is new, restarted, or fell out of the backlog, with a full copy of its
// store streamed shard by shard while it keeps serving clients, followed by every
// change made since the copy began. Replicas apply changes last-writer-wins by
// version (storage::Store::Apply), so order of arrival does not matter and a change
// seen twice is harmless. docs/REPLICATION.md has the protocol and its guarantees.
//
// Threads: one replication thread owns all ZeroMQ sockets. Worker threads only call
// OnChange (a short mutex-protected append plus an eventfd wakeup). Stats and
// WaitInitialSync may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "record/record.h"
#include "repair/repair.h"
#include "storage/storage.h"

namespace syncached::replication {

// --sync-replicas all: a write waits for every peer that follows this node's stream
// (one whose connection closed stops counting at once), and for at least one.
inline constexpr uint32_t kSyncAllPeers = UINT32_MAX;

struct Options {
  uint16_t node_id = 0;
  std::vector<std::string> peers;   // "host:port" of peers' replication listeners
  std::vector<std::string> listen;  // addresses to bind (empty: all)
  uint16_t port = 11212;            // --replication-port
  std::string cluster_name = "syncached";
  std::string secret;                    // from --cluster-secret-file; empty: no auth
  uint64_t backlog_bytes = 64ull << 20;  // --backlog-size
  uint32_t join_timeout_ms = 5000;       // how long an empty node waits for a peer
  // With --data-dir: the store was loaded from disk (so it is not empty: peers that
  // followed this node's previous run take a full copy, not a replay), the positions
  // in peers' streams saved with that data ("peer:<address>" -> "<epoch> <next seq>"),
  // from which the links resume (a catch-up from the peers' backlogs), and where to
  // save new positions: ordered after the changes they cover, in the same journal.
  bool has_data = false;
  // --sync-replicas: a write is answered once this many peers applied it (0: async;
  // kSyncAllPeers: every peer that follows this node's stream, at least one), waiting
  // at most sync_timeout_ms (then answered anyway, and counted).
  uint32_t sync_replicas = 0;
  uint32_t sync_timeout_ms = 1000;
  std::map<std::string, std::string> saved_positions;
  // Sharding (--members with --replication-factor < N): the nodes that hold `key`,
  // into *owners (cleared first). Each peer's stream and copies then carry only its
  // keys. Empty: every node holds every key. Called on the replication thread, once
  // per change for the stream (not once per peer).
  std::function<void(std::string_view key, std::vector<uint16_t>* owners)> owners;
  // Digest of the members file (0: none); peers with another are refused.
  uint64_t members_digest = 0;
  std::function<void(const std::string& name, const std::string& value)> save_position;
  // Anti-entropy (docs/REPAIR.md): the digests of what this node holds (storage feeds
  // them; null: no repair), how often each link compares with its peer (0: only when
  // the link comes back), and the most bytes of items per second repair sends.
  repair::Index* repair = nullptr;
  uint32_t repair_interval_ms = 60000;
  uint64_t repair_rate = 16ull << 20;
  // How long an eviction keeps repair from fetching back what its bucket lacks.
  uint32_t repair_eviction_window_s = 3600;
  // --multicast: the secret frames are sealed with (derived from the cluster secret;
  // empty: no multicast). Full replication only (a sharded stream differs per peer).
  std::string multicast_secret;
  std::string multicast_endpoint;  // the transport's: "epgm://IFACE;GROUP:PORT"
  uint32_t multicast_rate_kbps = 100000;
  uint32_t multicast_recovery_ms = 200;
  uint32_t multicast_hops = 1;
  uint32_t multicast_mtu = 1500;  // ZMQ_MULTICAST_MAXTPDU
  // Where this node takes plain TCP clients ("host:port", host empty: the host peers
  // reach our replication port at; empty: nowhere), told to peers so that their sync
  // lanes send here (docs/REPLICATION.md "The sync lane").
  std::string client_address;
  // The secret lane frames are sealed with (derived from the cluster secret at Start;
  // empty: none).
  std::string lane_secret;
  // Tests only: peers' changes to keys starting with this are dropped unapplied (the
  // divergence repair must find). Empty: none.
  std::string drop_prefix_for_tests;
};

// The sync lane: a turn's changes beyond this many bytes are not captured (the stream
// alone acknowledges them); an answer is 'A' (applied), 'N' (not now: the peer is
// copying from us, the stream brings them) or 'R' (refused), then the batch's token
// (zeros unless applied).
inline constexpr size_t kMaxLaneBatchBytes = size_t{1} << 20;
inline constexpr size_t kLaneTokenBytes = 16;
inline constexpr size_t kLaneReplyBytes = 1 + kLaneTokenBytes;

struct LanePeer {
  uint16_t node = 0;
  std::string host;  // as the peer named it, or the host of our link to it
  uint16_t port = 0;
  bool operator==(const LanePeer&) const = default;
};

// One turn's changes of one thread: tickets [first_ticket, last_ticket]. `frame` is
// empty when they were not captured whole (too many bytes): only the stream
// acknowledges those.
struct LaneBatch {
  uint64_t first_ticket = 0, last_ticket = 0;
  std::string frame;
  std::string token;  // what each peer that applied it answers
};

// A change of members (docs/SHARDING.md, "Adding and removing nodes"), as the caller
// worked it out from the old and the new members file. While the change is handed
// over, keys are placed by both files: each change travels to its owners under either,
// so the old owners stay complete while the new ones fill.
struct Membership {
  uint64_t epoch = 0;              // digest of the new file (Hello::members_digest)
  std::vector<std::string> peers;  // "host:port" of every peer to link to
  // The owners to stream each key to (Options::owners); while handing over, those of
  // the old file and the new one.
  std::function<void(std::string_view key, std::vector<uint16_t>* owners)> owners;
  // While handing over: whether this node is the one to send `key`, last written by
  // node `writer`, to `peer` in the peer's range copy: the peer gains the key, and this
  // node is the old owner that wrote it or, when none of them did, its first old owner
  // (a leaving node is one: it is asked too). So each key travels once, and a write an
  // old owner made just before it took the change (which may reach the other old owner
  // only after that one's copy walked past it) comes from its writer. Null: no range
  // copies; the comparisons bring everything.
  std::function<bool(std::string_view key, uint16_t writer, uint16_t peer)> sends_to;
  // The owners of `key` under the new file, into *owners (cleared first): a handover's
  // comparison with a node added with --join counts the keys both own under it (see
  // places_by_both).
  std::function<void(std::string_view key, std::vector<uint16_t>* owners)> new_owners;
  // This node places keys by the old file too (owners, and the digests, count both);
  // false on a node added with --join, which knows only the new one.
  bool places_by_both = false;
  repair::Index* repair = nullptr;  // digests by those owners (null: keep the current)
  // This node owns keys under the new file it did not own under the old one: it
  // compares with every peer it shares keys with (after each placed keys by this epoch)
  // and is ready once each comparison brought what it lacked.
  bool gains = false;
  // Until the change is committed here: the periodic comparisons pause (nodes that
  // place keys by different member lists would find differences that are none).
  bool changing = false;
};

// Feeds a repair::Index from the store's content events (Store::SetContentListener),
// which the server and the simulator both install before the store fills.
class RepairFeed final : public storage::ContentListener {
 public:
  explicit RepairFeed(repair::Index* index) : index_(index) {}
  void OnContent(std::string_view key, record::Version version, bool tombstone,
                 bool held) override {
    index_->Note(key, version, tombstone, held);
  }
  void OnEvicted(std::string_view key, uint32_t now) override { index_->NoteEviction(key, now); }

 private:
  repair::Index* index_;
};

class Replicator final : public record::Sink {
 public:
  Replicator(const Options& options, storage::Store* store);
  ~Replicator() override;
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  // Binds the replication listener, connects to peers, starts the thread.
  Status Start();
  void Stop();

  // record::Sink: local mutations (the store publishes all; only ours are streamed).
  void OnChange(const record::ChangeView& change) override;

  // --sync-replicas, without blocking anyone. Every change this node originates takes the
  // next ticket; ticket T is acknowledged once sync_replicas peers applied every change up
  // to T. A worker that made changes takes its ticket with BeginSyncWait, holds its replies,
  // and releases them when IsAcked says so (the ack listener tells when to look again) or
  // gives up after sync_timeout_ms; EndSyncWait then accounts the wait.
  //
  // The ticket of the newest change the calling thread made since its last call, or 0 when
  // there is nothing to wait for (asynchronous replication, no new change, or already
  // acknowledged). A nonzero ticket counts as a wait (sync_waits). Any thread.
  uint64_t BeginSyncWait();
  // Wakes the replication thread, so the changes leave at once, if the calling thread
  // began a wait since its last call: a worker calls it once per turn, after every
  // connection it served (one wake and one batch for all their writes, not one each).
  // `lane_sent`: the sync lane sent them too (an awake replication thread is then left
  // to its next short poll).
  void FlushSyncWaits(bool lane_sent = false);
  // Whether `ticket` is acknowledged. Any thread; a seq_cst load, ordered after the caller's
  // earlier seq_cst stores (so a waiter that publishes itself and then asks cannot miss an
  // acknowledgement the listener did not see it for).
  bool IsAcked(uint64_t ticket) const;
  // A wait begun by BeginSyncWait ended after `waited_us`: added to sync_wait_us, and to
  // sync_timeouts if it ended without the acknowledgement. Any thread.
  void EndSyncWait(uint64_t waited_us, bool timed_out);
  // Called on the replication thread with the new acknowledged ticket each time it advances
  // (a seq_cst store before the call). Must not block. Set before Start; whatever it uses
  // must outlive Stop().
  void SetAckListener(std::function<void(uint64_t acked_ticket)> fn);

  // The join gate: blocks until every peer that answers has given this node a full
  // copy or catch-up, or until join_timeout passes with no peer answering (then the
  // node serves alone). Returns false in the latter case.
  bool WaitInitialSync();

  // `repair`: every link compares digests with its peer now (false: no repair here).
  // Any thread.
  bool RequestRepair();

  // A membership change (docs/SHARDING.md), carried out on the replication thread at
  // its next step. Any thread; a later call replaces one not yet taken.
  void SetMembership(const Membership& m);
  // This node holds every key it takes over in members epoch `epoch`; every peer says
  // the same of itself. False for another epoch than the thread's (a change not taken
  // yet). Any thread (as of the thread's last step).
  bool handover_ready(uint64_t epoch) const;
  bool all_ready(uint64_t epoch) const;

  // The sync lane (docs/REPLICATION.md "The sync lane"): with --sync-replicas and full
  // replication a worker also sends its changes to the peers' client ports itself, and
  // a reply is released as soon as enough peers answered (or the stream acknowledged).
  // The calling thread's changes since its last call; false: none (or no lane).
  bool TakeLaneBatch(LaneBatch* out);
  // The peers to send to, and how many answers release a batch (version 0: no lane).
  // Any thread; lane_peers_version() is cheap.
  uint64_t LanePeers(std::vector<LanePeer>* out, uint32_t* needed) const;
  uint64_t lane_peers_version() const;
  // A frame a peer's lane sent to our client port: applied if it opens; *reply gets the
  // answer (kLaneReplyBytes: 'A' and the token, else 'N' or 'R' and zeros). Any thread.
  void ApplyLaneFrame(std::string_view frame, std::string* reply);
  // The server's lane client counts: batches sent, answers taken, batches they settled.
  void CountLane(uint64_t sent, uint64_t answers, uint64_t settled);

  // `stats replication` lines ("STAT name value\r\n").
  void AppendStats(std::string* out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace syncached::replication
