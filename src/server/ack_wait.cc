#include "server/ack_wait.h"

#include <algorithm>

namespace syncached::server {

AckWait::AckWait(AckSource* peers, AckSource* disk, int workers, uint32_t timeout_ms,
                 bool close_on_timeout)
    : sources_{peers, disk},
      workers_(workers),
      timeout_ms_(timeout_ms),
      close_on_timeout_(close_on_timeout),
      slots_(std::make_unique<Slot[]>(static_cast<size_t>(workers))) {}

void AckWait::Listen() {
  for (int s = 0; s < kSources; ++s) {
    if (sources_[s]) {
      sources_[s]->SetListener(
          [this, s](uint64_t acked) { OnAcked(static_cast<Source>(s), acked); });
    }
  }
}

void AckWait::AfterRequests(net::Connection& c) {
  Held h{&c, {0, 0}, Clock::now()};
  bool waits = false;
  for (int s = 0; s < kSources; ++s) {
    if (sources_[s]) waits |= (h.ticket[s] = sources_[s]->Begin()) != 0;
  }
  if (!waits) return;
  Slot& slot = slots_[c.worker()];
  slot.held.push_back(h);
  c.Hold(h.ticket[kPeers] ? timeout_ms_ : kDiskHoldMs);
  bool acked = true;
  for (int s = 0; s < kSources; ++s) {
    if (h.ticket[s] && h.ticket[s] < slot.lowest[s].load(std::memory_order_relaxed)) {
      slot.lowest[s].store(h.ticket[s], std::memory_order_seq_cst);
    }
  }
  // An acknowledgement may have come before `lowest` said anyone waits here (then the
  // listener woke no one): published, then look (seq_cst both, see AckSource::IsAcked).
  for (int s = 0; s < kSources; ++s)
    acked &= !h.ticket[s] || sources_[s]->IsAcked(h.ticket[s], c.worker());
  if (acked) ReleaseAcked(c.worker());
}

namespace {
// The worker flushing in OnLoopEnd (it releases its own replies next: no wake for it).
thread_local int tl_flushing = -1;
}  // namespace

// A source's thread: wakes each worker holding a ticket this acknowledgement covers.
void AckWait::OnAcked(Source s, uint64_t acked) {
  for (int w = 0; w < workers_; ++w) {
    if (w != tl_flushing && slots_[w].lowest[s].load(std::memory_order_seq_cst) <= acked) {
      net_->WakeWorker(w);
    }
  }
}

void AckWait::OnWake(int worker) { ReleaseAcked(worker); }

bool AckWait::OnLoopEnd(int worker) {
  if (sources_[kPeers]) sources_[kPeers]->Flush(worker);  // the turn's writes leave together
  AckSource* disk = sources_[kDisk];
  if (!disk) return false;
  Slot& slot = slots_[worker];
  uint64_t lowest = slot.lowest[kDisk].load(std::memory_order_relaxed);
  if (lowest == UINT64_MAX) return false;
  if (!disk->IsAcked(lowest, worker)) {
    tl_flushing = worker;
    disk->Flush(worker);
    tl_flushing = -1;
  }
  size_t held = slot.held.size();
  ReleaseAcked(worker);
  return slot.held.size() < held;
}

void AckWait::ReleaseAcked(int worker) {
  Slot& slot = slots_[worker];
  uint64_t lowest[kSources] = {UINT64_MAX, UINT64_MAX};
  Clock::time_point now = Clock::now();
  for (size_t i = 0; i < slot.held.size();) {
    Held& h = slot.held[i];
    bool waiting = false;
    for (int s = 0; s < kSources; ++s) {
      AckSource* source = sources_[s];
      if (!h.ticket[s] || !source) continue;  // a ticket comes only from a source
      if (source->IsAcked(h.ticket[s], worker)) {
        source->End(Elapsed(h, now), false);
        h.ticket[s] = 0;
      } else {
        lowest[s] = std::min(lowest[s], h.ticket[s]);
        waiting = true;
      }
    }
    if (waiting) {
      ++i;
      continue;
    }
    net::Connection* conn = h.conn;
    slot.held[i] = slot.held.back();
    slot.held.pop_back();
    conn->Release();
  }
  // An acknowledgement after the checks above finds the old, lower-or-equal value: still
  // a wake for whatever is left.
  for (int s = 0; s < kSources; ++s) slot.lowest[s].store(lowest[s], std::memory_order_seq_cst);
}

void AckWait::OnHoldExpired(net::Connection& c) {
  Held* h = Find(c);
  if (!h) return;  // not ours: net lifts the hold
  uint64_t waited_us = Elapsed(*h, Clock::now());
  if (h->ticket[kPeers]) {
    sources_[kPeers]->End(waited_us, true);
    h->ticket[kPeers] = 0;
    if (close_on_timeout_) {
      EndWaits(h, false);
      Remove(c);
      c.CloseNow();  // the client sees a failure it must treat as "unknown"
      return;
    }
  }
  if (h->ticket[kDisk]) {
    // Never an answer for changes not fsynced: wait on for the disk, up to its limit.
    uint64_t limit_us = uint64_t{kDiskHoldMs} * 1000;
    if (waited_us < limit_us) {
      c.Hold(static_cast<uint32_t>((limit_us - waited_us) / 1000 + 1));
      return;
    }
    EndWaits(h, true);
    Remove(c);
    c.CloseNow();
    return;
  }
  Remove(c);
  c.Release();
}

void AckWait::OnClose(net::Connection& c) {
  if (!c.held()) return;
  if (Held* h = Find(c)) {
    EndWaits(h, false);
    Remove(c);
  }
}

void AckWait::EndWaits(Held* h, bool timed_out) {
  uint64_t waited_us = Elapsed(*h, Clock::now());
  for (int s = 0; s < kSources; ++s) {
    if (h->ticket[s]) sources_[s]->End(waited_us, timed_out);
    h->ticket[s] = 0;
  }
}

// Linear in the connections held on this worker: few at a time, and only on timeout/close.
AckWait::Held* AckWait::Find(net::Connection& c) {
  std::vector<Held>& held = slots_[c.worker()].held;
  auto it = std::find_if(held.begin(), held.end(), [&c](const Held& h) { return h.conn == &c; });
  return it == held.end() ? nullptr : &*it;
}

void AckWait::Remove(net::Connection& c) {
  std::vector<Held>& held = slots_[c.worker()].held;
  auto it = std::find_if(held.begin(), held.end(), [&c](const Held& h) { return h.conn == &c; });
  if (it == held.end()) return;
  *it = held.back();
  held.pop_back();
}

uint64_t AckWait::Elapsed(const Held& h, Clock::time_point now) const {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(now - h.since).count());
}

}  // namespace syncached::server
