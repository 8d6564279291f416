// Publisher side, our changes: queued by any thread (OnChange), numbered into backlog
// batches with their sharded routing (DrainPending), and released to --sync-replicas
// waiters as peers acknowledge them.
#include <algorithm>
#include <cstring>
#include <functional>

#include "common/log.h"
#include "replication/core.h"

namespace syncached::replication {
namespace {
constexpr size_t kSealBytes = 256 * 1024;  // a batch message stays about this size
// A copy whose peer took nothing for this long is stalled: it no longer holds the backlog.
constexpr uint64_t kStalledMs = 1000;
// Local changes waiting for the replication thread. Independent of --backlog-size (a
// small backlog must not make a busy thread's queue overflow): 64 MiB at least.
constexpr uint64_t kMinPendingBytes = 64ull << 20;

// The newest ticket this thread's changes got, and the newest it waited for.
struct ThreadTicket {
  uint64_t owner = 0;  // Core::instance_ (an address could be a later Core's)
  uint64_t ticket = 0, waited = 0;
};
thread_local ThreadTicket tl_ticket;
}  // namespace

bool Core::OnChange(const record::ChangeView& change) {
  // Only changes this node originated travel: peers hear others' from the others.
  if (change.version.node != opts_.node_id) return false;
  Pending& p = pending_;
  bool wake;
  {
    MutexLock lock(p.mu);
    if (p.overflowed) return false;
    wake = p.open.empty() && p.sealed.empty();
    if (p.open_count == 0) p.open_first_ticket = p.tickets + 1;
    size_t from = p.open.size();
    record::EncodeChange(change, &p.open);
    p.nonempty.store(true, std::memory_order_seq_cst);
    ++p.open_count;
    if (tl_ticket.owner != instance_) tl_ticket = {instance_, 0, 0};
    tl_ticket.ticket = ++p.tickets;
    if (lane_ && opts_.sync_replicas > 0)
      lane_->Capture(std::string_view(p.open).substr(from), tl_ticket.ticket);
    if (p.open.size() >= kSealBytes) {
      p.bytes += p.open.size();
      p.sealed.push_back(std::move(p.open));
      p.sealed_counts.push_back(p.open_count);
      p.sealed_first_tickets.push_back(p.open_first_ticket);
      p.open.clear();
      p.open_count = 0;
      // The replication thread fell this far behind: rather than grow without bound,
      // drop the queue and make every peer take a full copy (new epoch).
      if (p.bytes > std::max(kMinPendingBytes, opts_.backlog_bytes)) {
        p.overflowed = true;
        p.sealed.clear();
        p.sealed_counts.clear();
        p.sealed_first_tickets.clear();
        p.bytes = 0;
      }
    }
  }
  // The driver wakes the thread only if it sleeps (see Replicator::OnChange).
  return wake;
}

void Core::DrainPending() {
  std::vector<std::string> runs;
  std::vector<uint32_t> counts;
  std::vector<uint64_t> first_tickets;
  bool overflowed;
  {
    MutexLock lock(pending_.mu);
    runs.swap(pending_.sealed);
    counts.swap(pending_.sealed_counts);
    first_tickets.swap(pending_.sealed_first_tickets);
    if (!pending_.open.empty()) {
      runs.push_back(std::move(pending_.open));
      counts.push_back(pending_.open_count);
      first_tickets.push_back(pending_.open_first_ticket);
      pending_.open.clear();
      pending_.open_count = 0;
    }
    pending_.bytes = 0;
    pending_.nonempty.store(false, std::memory_order_seq_cst);
    overflowed = pending_.overflowed;
    pending_.overflowed = false;
  }
  if (overflowed) {
    SC_LOG(kWarn, "replication: change queue overflowed; peers will take a full copy");
    ++overflows_;
    epoch_ = (WallMillis() << 16) | ((epoch_ + 1) & 0xffff);
    backlog_.Clear();
    for (auto& [id, s] : sessions_) {
      s.queued.clear();
      StartCopy(s, 0);
    }
  }
  uint64_t pin = UINT64_MAX;
  uint64_t now = now_;
  for (const auto& [id, s] : sessions_) {
    // Only a copy that is moving: one stuck on a paused peer must not hold memory.
    if (s.mode == Session::Mode::kFullCopy && !s.gone &&
        Elapsed(now, s.last_sent_ms) < kStalledMs) {
      pin = std::min(pin, s.next_seq);
    }
  }
  backlog_.set_pin(pin);
  uint64_t hlc = store_->hlc().Last();
  for (size_t i = 0; i < runs.size(); ++i) {
    std::string msg;
    msg.reserve(runs[i].size() + 21);
    BeginBatch(epoch_, backlog_.next_seq(), counts[i], &msg);
    auto begin = static_cast<uint32_t>(msg.size());
    msg.append(runs[i]);
    if (opts_.sync_replicas > 0) {
      ticket_runs_.push_back({backlog_.next_seq(), first_tickets[i], counts[i]});
      // Without enough peers nothing is acknowledged and the waiters time out: keep
      // the map bounded meanwhile.
      if (ticket_runs_.size() > 65536) ticket_runs_.pop_front();
    }
    BatchRouting routing;
    if (opts_.owners) routing = RouteBatch(runs[i], begin, counts[i]);
    if (multicast_on()) MulticastBatch(backlog_.next_seq(), counts[i], msg);
    backlog_.Append(backlog_.next_seq(), counts[i], hlc, std::move(msg), std::move(routing));
  }
}

// Sharded: the owners of each of a new batch's changes (`changes`: their encodings,
// at `begin` in the message), once for every peer's stream.
BatchRouting Core::RouteBatch(std::string_view changes, uint32_t begin, uint32_t count) const {
  BatchRouting r;
  r.begin = begin;
  r.ends.reserve(count);
  std::vector<uint16_t> all;  // each change's list, then laid out with one stride
  std::vector<uint32_t> sizes;
  sizes.reserve(count);
  uint32_t pos = begin;
  while (!changes.empty()) {
    record::ChangeView c;
    record::DecodeResult d = record::DecodeChange(changes, &c);
    if (!d.ok()) break;  // our own encoding: it decodes
    if (c.kind == record::Kind::kFlush) {
      owners_scratch_.assign(1, BatchRouting::kEveryNode);
    } else {
      opts_.owners(c.key, &owners_scratch_);
    }
    all.insert(all.end(), owners_scratch_.begin(), owners_scratch_.end());
    sizes.push_back(static_cast<uint32_t>(owners_scratch_.size()));
    r.stride = std::max<size_t>(r.stride, owners_scratch_.size());
    pos += static_cast<uint32_t>(d.consumed);
    r.ends.push_back(pos);
    changes.remove_prefix(d.consumed);
  }
  r.owners.assign(r.stride * sizes.size(), BatchRouting::kNoNode);
  size_t from = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(from), sizes[i],
                r.owners.begin() + static_cast<std::ptrdiff_t>(i * r.stride));
    from += sizes[i];
  }
  return r;
}

void Core::HandleAck(const std::string& identity, const Position& pos) {
  auto it = sessions_.find(identity);
  if (it == sessions_.end()) return;
  it->second.last_heard_ms = now_;
  if (pos.epoch == epoch_) it->second.acked_seq = pos.seq;
  if (opts_.sync_replicas > 0) AdvanceAcked();
}

// --sync-replicas: the K-th highest acknowledged sequence among streaming peers
// covers every change below it; their tickets are released to waiting workers. With
// `all`, K is the number of streaming peers (a peer found gone no longer counts).
void Core::AdvanceAcked() {
  if (opts_.owners) return AdvanceAckedSharded();
  std::vector<uint64_t> acked;
  for (const auto& [id, s] : sessions_) {
    if (!s.gone && s.mode == Session::Mode::kStream) acked.push_back(s.acked_seq);
  }
  size_t need = opts_.sync_replicas == kSyncAllPeers ? std::max<size_t>(acked.size(), 1)
                                                     : opts_.sync_replicas;
  if (acked.size() < need) return;
  std::nth_element(acked.begin(), acked.begin() + static_cast<std::ptrdiff_t>(need - 1),
                   acked.end(), std::greater<>());
  uint64_t covered = acked[need - 1];  // every seq < covered is applied there
  uint64_t released = 0;
  while (!ticket_runs_.empty() && ticket_runs_.front().first_seq < covered) {
    TicketRun& r = ticket_runs_.front();
    uint64_t n = std::min(r.count, covered - r.first_seq);
    released = r.first_ticket + n - 1;
    if (n < r.count) {
      r.first_seq += n;
      r.first_ticket += n;
      r.count -= n;
      break;
    }
    ticket_runs_.pop_front();
  }
  if (released > acked_ticket_.load(std::memory_order_relaxed)) {
    acked_ticket_.store(released, std::memory_order_seq_cst);  // see IsAcked
    if (ack_listener_) ack_listener_(released);
  }
}

// Sharded: a change is acknowledged once sync_replicas of its co-owners applied it, or
// all of them that follow our stream if fewer do (a co-owner that is down holds no
// write for long: waiting for it would only slow every write to its keys to the
// timeout). Changes are released in order, walking the backlog's batches.
void Core::AdvanceAckedSharded() {
  uint64_t released = 0;
  while (!ticket_runs_.empty()) {
    TicketRun& r = ticket_runs_.front();
    uint64_t first, hlc;
    uint32_t count;
    const BatchRouting* routing = nullptr;
    const std::string* msg = backlog_.Find(r.first_seq, &first, &count, &hlc, &routing);
    if (!msg || routing->ends.size() != count) {
      released = r.first_ticket + r.count - 1;  // fell out of the backlog: not waited for
      ticket_runs_.pop_front();
      continue;
    }
    while (r.count > 0 && r.first_seq < first + count) {
      size_t index = r.first_seq - first;
      size_t owners = 0, applied = 0;
      for (const auto& [id, s] : sessions_) {
        if (s.gone || s.mode != Session::Mode::kStream || !routing->Carries(index, s.node_id)) {
          continue;
        }
        ++owners;
        if (s.acked_seq > r.first_seq) ++applied;
      }
      if (applied < std::min<size_t>(owners, opts_.sync_replicas)) break;
      released = r.first_ticket;
      ++r.first_seq;
      ++r.first_ticket;
      --r.count;
    }
    if (r.count > 0) break;
    ticket_runs_.pop_front();
  }
  if (released > acked_ticket_.load(std::memory_order_relaxed)) {
    acked_ticket_.store(released, std::memory_order_seq_cst);  // see IsAcked
    if (ack_listener_) ack_listener_(released);
  }
}

void Core::PublishLanePeers() {
  std::vector<LanePeer> peers;
  uint32_t streaming = 0;
  for (const auto& [id, s] : sessions_) {
    if (s.gone || s.mode != Session::Mode::kStream) continue;
    ++streaming;
    const std::string& client = s.hello.client_address;
    size_t colon = client.rfind(':');
    if (colon == std::string::npos) continue;  // it takes no plain TCP clients
    unsigned long port = strtoul(client.c_str() + colon + 1, nullptr, 10);
    if (port == 0 || port > 65535) continue;
    LanePeer p{s.node_id, client.substr(0, colon), static_cast<uint16_t>(port)};
    if (p.host.empty()) {  // the host our link reaches it at
      for (const Link& l : links_) {
        if (l.retired || l.peer_node != s.node_id) continue;
        size_t c = l.address.rfind(':');
        if (c != std::string::npos) p.host = l.address.substr(0, c);
      }
      if (p.host.empty()) continue;
    }
    if (p.host.size() > 2 && p.host.front() == '[' && p.host.back() == ']') {
      p.host = p.host.substr(1, p.host.size() - 2);
    }
    peers.push_back(std::move(p));
  }
  uint32_t needed =
      opts_.sync_replicas == kSyncAllPeers ? std::max<uint32_t>(streaming, 1) : opts_.sync_replicas;
  lane_covers_ = peers.size() >= needed;
  lane_->SetPeers(std::move(peers), needed);
}

void Core::PublishFollowing() {
  std::vector<uint16_t> nodes;
  for (const Link& l : links_) {
    if (!l.retired && (l.phase == Link::Phase::kCatchUp || l.phase == Link::Phase::kStreaming)) {
      nodes.push_back(l.peer_node);
    }
  }
  if (nodes == lane_following_) return;
  lane_->SetFollowing(nodes);
  lane_following_ = std::move(nodes);
}

uint64_t Core::BeginSyncWait() {
  if (opts_.sync_replicas == 0 || tl_ticket.owner != instance_) return 0;
  uint64_t t = tl_ticket.ticket;
  if (t <= tl_ticket.waited) return 0;
  tl_ticket.waited = t;
  if (t <= acked_ticket_.load(std::memory_order_acquire)) return 0;
  ++sync_waits_;
  return t;
}

void Core::EndSyncWait(uint64_t waited_us, bool timed_out) {
  sync_wait_us_.fetch_add(waited_us, std::memory_order_relaxed);
  if (timed_out) sync_timeouts_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace syncached::replication
