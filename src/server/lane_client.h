// LaneClient: the sending side of the sync lane (docs/REPLICATION.md "The sync lane",
// replication/sync_lane.h). At the end of a worker's turn that made changes under
// --sync-replicas, the worker sends them, as one sealed frame, to each peer's client
// port over a connection of its own per peer (net::Connect), and a reply held for them
// (AckWait) is released once enough peers answered, or, as without the lane, once the
// ZeroMQ stream's acknowledgement covers it, whichever comes first.
//
// Per worker, batches are settled in order: answered by enough peers, acknowledged by
// the stream, or given up after the sync timeout (their tickets are left to the stream
// alone: `blind`). The worker's lane mark is the last ticket of the settled prefix. A
// held reply's changes were all made on its connection's worker, so its ticket T is
// acknowledged by the lane when blind < T <= mark.
//
// Threads: a worker's state is its own; Send, Acked, OnData and OnClose run on it.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/net.h"
#include "replication/replication.h"

namespace syncached::server {

class LaneClient {
 public:
  // `release(worker)`: the worker's lane mark moved (AckWait::OnWake).
  LaneClient(replication::Replicator* replicator, int workers, uint32_t timeout_ms,
             std::function<void(int worker)> release);
  ~LaneClient();
  LaneClient(const LaneClient&) = delete;
  LaneClient& operator=(const LaneClient&) = delete;

  // The worker's turn ended: sends its changes. True if something was queued to send
  // (the net worker must process its scheduled connections again).
  bool Send(int worker);
  // Whether Send sent something since the last call (and forgets it).
  bool SentThisTurn(int worker);
  // Whether the lane acknowledged `ticket`, one of `worker`'s changes.
  bool Acked(int worker, uint64_t ticket);

  // The outgoing connections' Handler callbacks.
  size_t OnData(net::Connection& up, std::string_view input);
  void OnClose(net::Connection& up);

 private:
  using Clock = std::chrono::steady_clock;
  struct Batch {
    uint64_t first = 0, last = 0;
    uint32_t needed = 0, answers = 0;
    bool answered = false;  // by enough peers
    Clock::time_point sent;
    std::string token;
  };
  struct Peer;
  struct Worker;
  void Refresh(Worker& w, int worker);
  bool Connect(Peer& p, Clock::time_point now);
  // Settles what it can at the front of w's batches; true if the mark moved.
  bool Advance(Worker& w, Clock::time_point now);
  void Drop(Peer& p, Clock::time_point now);

  replication::Replicator* replicator_;
  const std::chrono::milliseconds timeout_;
  std::function<void(int)> release_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace syncached::server
