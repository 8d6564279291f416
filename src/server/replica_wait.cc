#include "server/replica_wait.h"

#include <algorithm>

namespace syncached::server {

ReplicaWait::ReplicaWait(replication::Replicator* replicator, int workers, uint32_t timeout_ms,
                         bool close_on_timeout)
    : replicator_(replicator),
      workers_(workers),
      timeout_ms_(timeout_ms),
      close_on_timeout_(close_on_timeout),
      slots_(std::make_unique<Slot[]>(static_cast<size_t>(workers))) {}

void ReplicaWait::Listen() {
  replicator_->SetAckListener([this](uint64_t acked) { OnAcked(acked); });
}

void ReplicaWait::AfterRequests(net::Connection& c) {
  uint64_t ticket = replicator_->BeginSyncWait();
  if (ticket == 0) return;
  Slot& slot = slots_[c.worker()];
  slot.held.push_back({&c, ticket, Clock::now()});
  c.Hold(timeout_ms_);
  if (ticket < slot.lowest.load(std::memory_order_relaxed)) {
    slot.lowest.store(ticket, std::memory_order_seq_cst);
  }
  // The acknowledgement may have come before `lowest` said anyone waits here (then the
  // listener woke no one): published, then look (seq_cst both, see IsAcked).
  if (replicator_->IsAcked(ticket)) ReleaseAcked(c.worker());
}

// Replication thread: wakes each worker holding a ticket this acknowledgement covers.
void ReplicaWait::OnAcked(uint64_t acked) {
  for (int w = 0; w < workers_; ++w) {
    if (slots_[w].lowest.load(std::memory_order_seq_cst) <= acked) net_->WakeWorker(w);
  }
}

void ReplicaWait::OnWake(int worker) { ReleaseAcked(worker); }

void ReplicaWait::ReleaseAcked(int worker) {
  Slot& slot = slots_[worker];
  uint64_t lowest = UINT64_MAX;
  Clock::time_point now = Clock::now();
  for (size_t i = 0; i < slot.held.size();) {
    Held h = slot.held[i];
    if (!replicator_->IsAcked(h.ticket)) {
      lowest = std::min(lowest, h.ticket);
      ++i;
      continue;
    }
    slot.held[i] = slot.held.back();
    slot.held.pop_back();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - h.since).count();
    replicator_->EndSyncWait(static_cast<uint64_t>(us), false);
    h.conn->Release();
  }
  // An acknowledgement after the checks above finds the old, lower-or-equal value: still
  // a wake for whatever is left.
  slot.lowest.store(lowest, std::memory_order_seq_cst);
}

void ReplicaWait::OnHoldExpired(net::Connection& c) {
  if (!Forget(c, true)) return;  // not ours: net lifts the hold
  if (close_on_timeout_) {
    c.CloseNow();  // the client sees a failure it must treat as "unknown"
  } else {
    c.Release();
  }
}

void ReplicaWait::OnClose(net::Connection& c) {
  if (c.held()) Forget(c, false);
}

// Linear in the connections held on this worker: few at a time, and only on timeout/close.
bool ReplicaWait::Forget(net::Connection& c, bool timed_out) {
  std::vector<Held>& held = slots_[c.worker()].held;
  auto it = std::find_if(held.begin(), held.end(), [&c](const Held& h) { return h.conn == &c; });
  if (it == held.end()) return false;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - it->since);
  replicator_->EndSyncWait(static_cast<uint64_t>(us.count()), timed_out);
  *it = held.back();
  held.pop_back();
  return true;
}

}  // namespace syncached::server
