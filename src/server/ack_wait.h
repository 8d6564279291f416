// AckWait: replies that wait for an acknowledgement without blocking a worker
// (docs/REPLICATION.md, docs/PERSISTENCE.md). A connection whose requests made changes
// keeps its replies held (net::Connection::Hold: unsent, no further input processed)
// until every source it waits for acknowledged those changes, while the worker serves its
// other connections: peers that applied them (--sync-replicas) and the journal's fsync
// (--fsync always; the worker fsyncs once for all the connections one wake-up served,
// and workers that flush at once share one fdatasync). A source's listener
// wakes the workers holding a ticket it covers (net::Server::WakeWorker); each releases
// what is acknowledged. A hold past --sync-timeout is answered anyway (ack mode) or
// closed unanswered (close mode); a reply is never sent before its changes are fsynced:
// past kDiskHoldMs without the fsync the connection is closed unanswered.
//
// Threads: AfterRequests, OnWake, OnHoldExpired and OnClose run on the connection's worker
// and touch only that worker's Slot (its list is the worker's alone); the listeners run on
// the sources' threads and read only the Slots' atomic `lowest`.
//
// Lifetime: construct and Attach before the net server starts; the sources' listeners
// point here and at the net::Server, so both must outlive the sources' threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "net/net.h"

namespace syncached::server {

// Something a reply may wait for. Tickets grow; 0 means nothing to wait for.
class AckSource {
 public:
  virtual ~AckSource() = default;
  // The ticket of the newest change the calling worker made since its last call, or 0.
  virtual uint64_t Begin() = 0;
  // Any thread; ordered after the caller's earlier seq_cst stores. `worker`: the net
  // worker asking, whose changes the ticket names (the sync lane's are per worker).
  virtual bool IsAcked(uint64_t ticket, int worker) = 0;
  // A wait begun by Begin ended after `waited_us` (timed out: without the ack).
  virtual void End(uint64_t waited_us, bool timed_out) = 0;
  // Called with each new acknowledged ticket (a seq_cst store before it); must not block.
  virtual void SetListener(std::function<void(uint64_t acked)> fn) = 0;
  // A worker about to wait for more input: bring what it waits for about now, if the
  // source can (the journal: write and fsync; the peers: send the changes). Blocking is
  // allowed.
  virtual void Flush(int /*worker*/) {}
};

class AckWait {
 public:
  enum Source { kPeers, kDisk, kSources };
  // `sources[i]` may be null (not waited for); timeout_ms and close_on_timeout are the
  // peers' (--sync-timeout, --sync-timeout-mode).
  AckWait(AckSource* peers, AckSource* disk, int workers, uint32_t timeout_ms,
          bool close_on_timeout);
  AckWait(const AckWait&) = delete;
  AckWait& operator=(const AckWait&) = delete;

  // Sets the sources' listeners: call before they start.
  void Listen();
  // The net server whose workers the listeners wake: before net::Server::Start.
  void Attach(net::Server* net) { net_ = net; }

  // Worker thread, in OnData after the requests ran: holds c if this thread made changes
  // that are not acknowledged yet.
  void AfterRequests(net::Connection& c);
  // net::Handler callbacks, forwarded by the server.
  void OnWake(int worker);
  // The worker handled one wake-up's connections: if it holds replies for the disk, it
  // writes and fsyncs the journal itself now (every change appended so far, by any
  // thread: one fdatasync for all of them) and releases them. True if it released any.
  bool OnLoopEnd(int worker);
  void OnHoldExpired(net::Connection& c);
  void OnClose(net::Connection& c);  // a held connection closed: forget it

  // The longest a reply waits for its fsync before the connection is closed unanswered.
  static constexpr uint32_t kDiskHoldMs = 30000;

 private:
  using Clock = std::chrono::steady_clock;
  struct Held {
    net::Connection* conn;
    uint64_t ticket[kSources];  // 0: not waiting for that source (any more)
    Clock::time_point since;
  };
  // One per net worker, on its own cache line (the listeners read `lowest`).
  struct alignas(64) Slot {
    // Per source, the smallest ticket held here (UINT64_MAX: none), or lower: it is
    // recomputed when the worker releases, and only ever early-wakes. Written by the
    // worker, read by the listeners.
    std::atomic<uint64_t> lowest[kSources] = {UINT64_MAX, UINT64_MAX};
    std::vector<Held> held;  // the worker's only
  };

  void OnAcked(Source s, uint64_t acked);  // a source's thread
  void ReleaseAcked(int worker);
  // Ends the waits of h's sources still pending as timed out (true) or not.
  void EndWaits(Held* h, bool timed_out);
  // c's entry in its worker's list, or null.
  Held* Find(net::Connection& c);
  void Remove(net::Connection& c);
  uint64_t Elapsed(const Held& h, Clock::time_point now) const;

  AckSource* const sources_[kSources];
  const int workers_;
  const uint32_t timeout_ms_;
  const bool close_on_timeout_;
  std::unique_ptr<Slot[]> slots_;
  // Set before the net workers start. A listener dereferences it only after reading a
  // `lowest` that a worker stored, which orders it after this store.
  net::Server* net_ = nullptr;
};

}  // namespace syncached::server
