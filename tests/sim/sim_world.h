// A deterministic simulation of a replicated cluster: N nodes in one process, each a
// real storage::Store and replication::Core, over a simulated network and clocks.
// A seed decides every choice, so any run replays exactly (docs/RELIABILITY.md).
//
// The network models what ZeroMQ over TCP gives the core: per connection, messages
// arrive in order after a delay, or not at all once the connection breaks (a partition,
// a crash); a link reconnects with backoff and then is a new identity at the
// publisher; pipes are bounded (HWM). Clocks are per node: an offset that faults step
// and a drift. A node's "disk" (with data dirs) is its store and saved positions at the
// moment it crashes: every change it acknowledged, as with --fsync always.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "repair/repair.h"
#include "replication/core.h"
#include "storage/storage.h"

namespace syncached::sim {

inline constexpr const char* kDropPrefix = "k1";  // k1, k10..k19

struct Config {
  uint64_t seed = 1;
  int nodes = 3;
  bool data_dirs = false;      // crashed nodes come back with their data
  uint32_t sync_replicas = 0;  // --sync-replicas
  int replication_factor = 0;  // sharded: each key on this many nodes (0: every node)
  uint64_t fault_ms = 8000;    // faults and writes for this long
  uint64_t heal_ms = 12000;    // then everything heals; writes stop; convergence after
  int keys = 24;               // key space (small: conflicts)
  uint64_t backlog_bytes = 64 << 10;
  // Anti-entropy: every node keeps digests and compares them every 2 s, and node 1
  // drops every peer change (stream or copy) to keys starting with kDropPrefix, so
  // only repair can bring them (docs/REPAIR.md).
  bool repair = false;
  // A membership change during the faults (docs/SHARDING.md, "Adding and removing
  // nodes"), sharded by a consistent ring: "grow" adds the last node to the others,
  // "shrink" removes node 3. Every node adopts the new members at its own moment, the
  // gaining ones take their keys over, and once all are ready each commits.
  std::string change;
  // --multicast: the change stream goes out sealed to a group every node hears, losing
  // a share of frames per receiver (and damaging a few); TCP carries the rest.
  bool multicast = false;
  bool verbose = false;
};

// One client operation and what came of it.
struct Op {
  int node;
  std::string key;
  bool del;
  record::Version version;
  uint64_t at_ms;
  uint64_t ticket = 0;    // --sync-replicas: acknowledged once IsAcked(ticket)
  bool acked = false;     // answered to the client
  bool confirmed = true;  // sharded --sync-replicas: a co-owner followed when it was
  uint64_t acked_at = 0;
  bool quiet = false;    // made in a quiet cluster (see World::CheckLag)
  bool excused = false;  // async, and its node lost its memory before shipping it
  uint32_t exptime = 0;  // absolute, by its node's clock; 0: never
  int phase = 0;         // --change: its node's phase when it was made
};

class SimClock final : public Clock {
 public:
  explicit SimClock(const uint64_t* world_ms) : world_ms_(world_ms) {}
  uint64_t NowMillis() const override {
    int64_t drift = static_cast<int64_t>(*world_ms_ - kEpochMs) * drift_ppm / 1'000'000;
    return static_cast<uint64_t>(static_cast<int64_t>(*world_ms_) + offset_ms + drift);
  }
  uint32_t NowSeconds() const override { return static_cast<uint32_t>(NowMillis() / 1000); }
  static constexpr uint64_t kEpochMs = 1'700'000'000'000ull;
  int64_t offset_ms = 0;
  int64_t drift_ppm = 0;

 private:
  const uint64_t* world_ms_;
};

class World;

// A connection from node `sub`'s link `link` to node `pub`'s publisher.
struct Conn {
  static constexpr size_t kUnlinked = ~size_t{0};
  int sub = 0, pub = 0;
  size_t link = kUnlinked;  // the subscriber core's link index (unlinked: not a peer)
  bool up = false;
  std::string identity;
  uint64_t next_attempt = 0, backoff = 100;
  struct Msg {
    uint64_t at;
    std::string body;
  };
  std::deque<Msg> to_pub, to_sub;
};

struct Node;

class NodeTransport final : public replication::Transport {
 public:
  NodeTransport(World* w, int node) : world_(w), node_(node) {}
  Sent ToSubscriber(const std::string& identity, const std::string& msg) override;
  void ToPublisher(size_t link, const std::string& msg) override;
  void Reconnect(size_t link) override;
  void AddLink(size_t link, const std::string& address) override;
  void Multicast(const std::string& frame) override;

 private:
  World* world_;
  int node_;
};

struct Node {
  int index = 0;
  uint16_t id = 0;
  bool alive = false, paused = false;
  bool restarted_empty = false;  // the gate check applies once, at its first opening
  uint64_t started_at = 0;
  std::unique_ptr<SimClock> clock;
  std::unique_ptr<repair::Index> repair;  // --repair: fed by the store below
  std::unique_ptr<storage::ContentListener> repair_feed;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<NodeTransport> transport;
  std::unique_ptr<replication::Core> core;
  std::unique_ptr<record::Sink> sink;            // the store's: feeds the core
  std::map<std::string, std::string> positions;  // saved with its data
  std::vector<record::Change> disk;              // its store at its last crash
  bool has_disk = false;
  std::vector<size_t> unshipped;  // its acknowledged ops no one else held at its crash
  // --change: 0 placing keys by the old members, 1 by both (handing over), 2 by the new.
  int phase = 0;
  bool gains = false;        // owns keys under the new members it did not
  bool complete_old = true;  // holds its old keys (not restarted empty while gaining)
  bool was_ready = false;    // its handover was complete at the last tick
};

class World {
 public:
  explicit World(const Config& c);
  // Runs the faults, the heal and the checks; returns the problems found (none: pass).
  std::vector<std::string> Run();
  // Counters for the summary line.
  std::map<std::string, uint64_t> faults;
  uint64_t messages = 0, ops_acked = 0, ops_excused = 0, lag_checks = 0;
  uint64_t repaired = 0;  // --repair: keys a comparison brought that the node lacked
  // --change: range copies asked for, and those cut off, declined or timed out.
  uint64_t range_copies = 0, range_copies_failed = 0;
  // --multicast: frames sent to each receiver, lost, damaged on the way.
  uint64_t mcast_frames = 0, mcast_lost = 0, mcast_damaged = 0;
  // Counted from every run of every node's core: gaps asked for over TCP, and links
  // that fell back to TCP streaming.
  uint64_t mcast_repairs = 0, mcast_fallbacks = 0;
  void Tally(const replication::Core& core) {
    for (const replication::Link& l : core.links()) {
      if (!l.mcast) continue;
      mcast_repairs += l.mcast->repairs;
      mcast_fallbacks += l.mcast->fallbacks;
    }
    repaired += core.repair_stats().keys_applied;
    range_copies += core.repair_stats().range_copies;
    range_copies_failed += core.repair_stats().range_copies_failed;
  }

 private:
  friend class NodeTransport;
  struct McastFrame {
    int to;
    std::string frame;
  };
  void Multicast(int from, const std::string& frame);
  void Start(int n, bool with_data);
  void Crash(int n);
  void Tick();
  void Deliver();
  void Connect();
  void ClientOp();
  void Fault();
  void Break(Conn& c);
  bool Blocked(int sub, int pub) const;
  Conn& ConnOf(int sub, size_t link);
  std::vector<record::Change> Contents(const Node& n) const;
  void CheckGate(Node& n);
  bool MayHaveExpired(uint32_t exptime) const;
  // Sharded: whether node index n owns key (the R nodes from the key's hash on; the
  // real rings are tested against the clients in test_placement.py).
  bool Owns(int n, std::string_view key) const;
  // --change: owners by the old or new members' ring, or by the node's phase (both
  // while handing over); whether node n serves the key's clients (sim_membership.cc).
  bool OwnsIn(uint32_t members, int n, std::string_view key) const;
  std::string OwnersText(uint32_t members, std::string_view key) const;  // "1,3"

  bool OwnsByPhase(int n, std::string_view key) const;
  bool Serves(int n, std::string_view key) const;
  uint32_t MembersOf(int phase) const;
  replication::Membership MembershipOf(int n);
  void ScheduleChange();
  void TickChange();
  void Adopt(int n);
  void Commit(int n);
  void CheckHandover(Node& n);
  void Reindex(Node& n);
  bool CoOwnerFollows(const Node& n, const std::string& key) const;
  bool ExpiredSince(const std::string& key, record::Version v) const;
  bool Gone(const std::string& key, record::Version v) const;
  void CheckLag();
  // --sync-replicas all: a write acknowledged by node n is on every node that follows
  // n's stream (a client failing over to one of them reads it).
  void CheckFollowersHold(const Node& n, const Op& op);
  std::string LinkStates() const;
  std::vector<std::string> CheckConverged();
  uint64_t Rand(uint64_t n) { return rng_() % n; }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  void Log(const char* fmt, ...);

  Config cfg_;
  std::mt19937_64 rng_;
  uint64_t now_ = SimClock::kEpochMs;
  uint64_t conn_gen_ = 0;
  std::vector<Node> nodes_;
  std::vector<std::vector<Conn>> conns_;       // [sub][link]
  std::multimap<uint64_t, McastFrame> mcast_;  // by delivery time
  std::set<std::pair<int, int>> blocked_;      // (sub, pub): that connection cannot exist
  std::map<int, uint64_t> resume_at_, restart_at_;
  std::map<int, uint64_t> last_other_crash_;  // node -> when another node last crashed
  std::vector<std::pair<uint64_t, std::set<std::pair<int, int>>>> heals_;
  std::vector<Op> ops_;
  std::vector<std::string> problems_;
  bool healing_ = false;
  uint64_t disturbed_at_ = 0;                         // last crash, pause or partition began
  uint64_t calm_at_ = 0;                              // last pause or partition ended
  size_t lag_checked_ = 0;                            // ops before this were checked by CheckLag
  std::map<std::string, record::Version> newest_op_;  // key -> its newest op's version
  std::map<std::string, std::map<record::Version, uint32_t>> exptimes_;  // of sets with one
  std::vector<record::Version> flushes_;  // flush_all commands made, by their versions
  // --change.
  uint32_t old_members_ = 0, new_members_ = 0;  // bit n: node index n
  std::map<int, uint64_t> adopt_at_, commit_at_;
  uint64_t all_adopted_at_ = 0;  // when the last node adopted the new members (0: not yet)
  bool committing_ = false;
  std::map<int, uint64_t> crashed_at_;  // node -> its last crash
  mutable std::map<uint32_t, std::vector<std::pair<uint64_t, int>>> rings_;  // by members
};

}  // namespace syncached::sim
