// Server: wires storage, engine and net into a running node, plus the maintenance
// thread (expiry reclaim, delayed flushes, table growth) and clean shutdown.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "common/status.h"
#include "engine/engine.h"
#include "metrics/metrics.h"
#include "net/net.h"
#include "persistence/persistence.h"
#include "repair/repair.h"
#include "replication/replication.h"
#include "server/ack_sources.h"
#include "server/ack_wait.h"
#include "server/config.h"
#include "server/forward_pool.h"
#include "server/index_feed.h"
#include "server/placement_state.h"
#include "server/relay.h"
#include "server/router.h"
#include "server/udp.h"
#include "storage/storage.h"

namespace syncached::server {

class Server final : public net::Handler, public engine::Host {
 public:
  explicit Server(const Config& config);
  ~Server() override;

  Status Start();
  // Asks the node to stop; safe from any thread (not a signal handler).
  void RequestStop();
  // Blocks until stopped, then tears everything down.
  void Run();
  // SIGHUP (from the signal thread): reloads what can change without a restart.
  void Reload();
  uint16_t port() const { return net_ ? net_->bound_port() : 0; }
  uint16_t metrics_port() const { return metrics_ ? metrics_->bound_port() : 0; }

  // net::Handler
  void OnOpen(net::Connection& c) override;
  size_t OnData(net::Connection& c, std::string_view input) override;
  void OnDrain(net::Connection& c) override;
  void OnClose(net::Connection& c) override;
  void OnHoldExpired(net::Connection& c) override;
  void OnWake(int worker) override;
  bool OnLoopEnd(int worker) override;

  // engine::Host
  NetStats GetNetStats() const override;
  void AppendConnStats(std::string* out) const override;
  void Shutdown(bool graceful) override;
  void AppendReplicationStats(std::string* out) const override;
  void AppendPersistenceStats(std::string* out) const override;
  void AppendClusterStats(std::string* out) const override;
  std::function<void()> WatchWaker(engine::Session& s) override;
  bool TakesLane(const engine::Session& s) const override;
  void ApplyLane(std::string_view frame, std::string* out) override;
  std::string RefreshCerts() override;
  std::string StartRepair() override;
  std::string Members(std::string_view action) override;

 private:
  // Where peers' sync lanes reach this node (replication::Options::client_address).
  std::string LaneAddress() const;
  struct ConnState;
  void LogConnEvent(const net::Connection& c, bool open, watch::CloseReason reason);
  void MaintenanceLoop();
  Status OpenPersistence(replication::Options* ro);
  Status StartMetrics();
  void WritePortsFile() const;
  size_t Forward(net::Connection& c, ConnState* st, std::string_view request);
  size_t DeferForward(net::Connection& c, ConnState* st, std::string_view request);
  void RelayDone(net::Connection& c);  // Relay::Hooks
  void RelayReroute(net::Connection& c, std::string_view request);

  // Anti-entropy digests (with --peers), fed by the store: they outlive it.
  void StartRepairIndex(replication::Options* ro);
  std::unique_ptr<repair::Index> NewRepairIndex(const Placement* p) const;
  repair::Index* RebuildRepairIndex(const Placement* p);

  // Membership changes (server_members.cc).
  static std::unique_ptr<Placement> InitialPlacement(const Config& config);
  replication::Membership MembershipOf(const Placement* p, repair::Index* index, bool gains) const;
  std::function<void(std::string_view, std::vector<uint16_t>*)> StreamOwnersFn() const;
  std::string ReloadMembers();
  std::string CommitMembers();

  Config config_;
  OffsetClock clock_{SystemClock::Get()};
  PlacementHolder placement_;  // with --members
  std::mutex members_mu_;      // one reload or commit at a time
  // What a reload or commit walks the store for (its digests rebuilt, a commit's unowned
  // keys dropped) runs here, not on the worker or signal thread that asked; until it
  // ends, reload and commit wait.
  std::thread members_applier_;
  std::atomic<bool> members_applying_{false};
  void ApplyMembers(std::function<void()> walks);  // under members_mu_
  void JoinMembersApplier();
  std::vector<std::unique_ptr<repair::Index>> repair_indexes_;  // the last is current
  std::unique_ptr<IndexFeed> repair_feed_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<KeyRouter> router_;  // sharded only: keys this node does not own
  std::unique_ptr<net::Server> net_;
  std::unique_ptr<UdpServer> udp_;
  std::unique_ptr<replication::Replicator> replicator_;
  std::unique_ptr<persistence::Persistence> persistence_;
  std::unique_ptr<record::Sink> fan_out_;  // both of the above, when both are on
  // Held replies: --sync-replicas K > 0 (peer_acks_), --fsync always (disk_acks_).
  std::unique_ptr<AckSource> peer_acks_, disk_acks_;
  std::unique_ptr<AckWait> ack_wait_;
  // --sync-replicas with full replication: the turn's changes also go to the peers'
  // client ports (docs/REPLICATION.md "The sync lane"); null otherwise.
  std::unique_ptr<LaneClient> lane_;
  // --data-dir without --fsync always: the journal each worker writes once at the end of
  // its turn, before the replies it deferred (OnData, OnLoopEnd); null otherwise.
  persistence::Persistence* turn_journal() const {
    return disk_acks_ ? nullptr : persistence_.get();
  }
  std::unique_ptr<metrics::Endpoint> metrics_;  // --metrics-port
  std::unique_ptr<ForwardPool> forward_pool_;   // sharded: requests Relay cannot send
  std::unique_ptr<Relay> relay_;                // sharded: requests for other nodes
  // Replies are copies (memcached's point at the items): what a connection that does
  // not read may hold is this plus one reply. Large enough that a pipelined batch of
  // small replies is one write.
  size_t output_high_water_ = 256 << 10;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread maintenance_;
};

}  // namespace syncached::server
