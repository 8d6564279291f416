// ReplicaWait: --sync-replicas without blocking a worker (docs/REPLICATION.md). A connection
// whose requests made changes keeps its replies held (net::Connection::Hold: unsent, no
// further input processed) until sync_replicas peers acknowledged those changes, while the
// worker serves its other connections. The replicator's ack listener wakes the workers
// holding a ticket it covers (net::Server::WakeWorker); each releases what is acknowledged.
// A hold past --sync-timeout is answered anyway (ack mode) or closed unanswered (close
// mode); sync_waits, sync_timeouts and sync_wait_us keep counting what they did when the
// wait blocked the worker.
//
// Threads: AfterRequests, OnWake, OnHoldExpired and OnClose run on the connection's worker
// and touch only that worker's Slot (its list is the worker's alone); OnAcked runs on the
// replication thread and reads only the Slots' atomic `lowest`.
//
// Lifetime: construct and Attach before the net server starts; the replicator's listener
// points here and at the net::Server, so both must outlive Replicator::Stop().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "net/net.h"
#include "replication/replication.h"

namespace syncached::server {

class ReplicaWait {
 public:
  ReplicaWait(replication::Replicator* replicator, int workers, uint32_t timeout_ms,
              bool close_on_timeout);
  ReplicaWait(const ReplicaWait&) = delete;
  ReplicaWait& operator=(const ReplicaWait&) = delete;

  // Sets the replicator's ack listener: call before Replicator::Start.
  void Listen();
  // The net server whose workers OnAcked wakes: before net::Server::Start.
  void Attach(net::Server* net) { net_ = net; }

  // Worker thread, in OnData after the requests ran (and the journal commit): holds c if
  // this thread made changes that are not acknowledged yet.
  void AfterRequests(net::Connection& c);
  // net::Handler callbacks, forwarded by the server.
  void OnWake(int worker);
  void OnHoldExpired(net::Connection& c);
  void OnClose(net::Connection& c);  // a held connection closed: forget it

 private:
  using Clock = std::chrono::steady_clock;
  struct Held {
    net::Connection* conn;
    uint64_t ticket;
    Clock::time_point since;
  };
  // One per net worker, on its own cache line (the replication thread reads `lowest`).
  struct alignas(64) Slot {
    // The smallest ticket held here (UINT64_MAX: none), or lower: it is recomputed when the
    // worker releases, and only ever early-wakes. Written by the worker, read by OnAcked.
    std::atomic<uint64_t> lowest{UINT64_MAX};
    std::vector<Held> held;  // the worker's only
  };

  void OnAcked(uint64_t acked);  // replication thread
  void ReleaseAcked(int worker);
  // Removes c's entry from its worker's list and accounts its wait; false if c has none.
  bool Forget(net::Connection& c, bool timed_out);

  replication::Replicator* const replicator_;
  const int workers_;
  const uint32_t timeout_ms_;
  const bool close_on_timeout_;
  std::unique_ptr<Slot[]> slots_;
  // Set before the net workers start. OnAcked dereferences it only after reading a `lowest`
  // that a worker stored, which orders it after this store.
  net::Server* net_ = nullptr;
};

}  // namespace syncached::server
