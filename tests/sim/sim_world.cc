// The simulation's loop: the world's setup, one tick of it (restarts, resumes and
// heals falling due, the network, every live node's step, --sync-replicas acks, writes
// and faults), and a whole run to its verdict.
#include "sim_world.h"

#include <cstdarg>
#include <cstdio>

namespace syncached::sim {
namespace {
constexpr uint64_t kSyncTimeoutMs = 1000;
}  // namespace

World::World(const Config& c) : cfg_(c), rng_(c.seed) {
  nodes_.resize(cfg_.nodes);
  old_members_ = new_members_ = (1u << cfg_.nodes) - 1;
  if (cfg_.change == "grow") old_members_ &= ~(1u << (cfg_.nodes - 1));
  if (cfg_.change == "shrink") new_members_ &= ~(1u << 2);
  conns_.resize(cfg_.nodes);
  for (int n = 0; n < cfg_.nodes; ++n) {
    nodes_[n].index = n;
    nodes_[n].id = static_cast<uint16_t>(n + 1);
    nodes_[n].clock = std::make_unique<SimClock>(&now_);
    for (int p = 0; p < cfg_.nodes; ++p) {
      if (p == n) continue;
      Conn conn;
      conn.sub = n;
      conn.pub = p;
      conns_[n].push_back(conn);
    }
  }
}

void World::Log(const char* fmt, ...) {
  if (!cfg_.verbose) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "[%6llu ms] ", static_cast<unsigned long long>(now_ - SimClock::kEpochMs));
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

void World::Tick() {
  ++now_;
  if (!healing_ && now_ - SimClock::kEpochMs >= cfg_.fault_ms) {
    healing_ = true;
    for (Node& n : nodes_) n.paused = false;
    blocked_.clear();
    heals_.clear();
    resume_at_.clear();
    for (auto& [n, at] : restart_at_) at = now_;
    calm_at_ = now_;
    Log("heal");
  }
  for (auto it = restart_at_.begin(); it != restart_at_.end();) {
    if (now_ >= it->second) {
      Start(it->first, cfg_.data_dirs && Chance(0.8));
      it = restart_at_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = resume_at_.begin(); it != resume_at_.end();) {
    if (now_ >= it->second) {
      nodes_[it->first].paused = false;
      calm_at_ = now_;
      it = resume_at_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = heals_.begin(); it != heals_.end();) {
    if (now_ >= it->first) {
      for (const auto& pair : it->second) blocked_.erase(pair);
      calm_at_ = now_;
      it = heals_.erase(it);
    } else {
      ++it;
    }
  }
  TickChange();
  Connect();
  Deliver();
  for (Node& n : nodes_) {
    if (!n.alive || n.paused) continue;
    n.core->Step(now_);
    const replication::Backlog& b = n.core->backlog();
    if (b.bytes() > b.hard_cap() + (512u << 10)) {
      problems_.push_back("node " + std::to_string(n.id) + " backlog holds " +
                          std::to_string(b.bytes()) + " bytes, over its bound");
    }
    CheckGate(n);
  }
  // --sync-replicas: a write is acknowledged once enough peers applied it, or never
  // (past the timeout the client gets no answer it may count on).
  if (cfg_.sync_replicas > 0) {
    for (Op& op : ops_) {
      if (op.acked || op.ticket == 0 || now_ - op.at_ms > kSyncTimeoutMs) continue;
      const Node& n = nodes_[op.node];
      if (n.alive && n.core->IsAcked(op.ticket)) {
        op.acked = true;
        op.acked_at = now_;
        op.confirmed = CoOwnerFollows(n, op.key);
        if (cfg_.sync_replicas == replication::kSyncAllPeers) CheckFollowersHold(n, op);
        ++ops_acked;
      }
    }
  }
  CheckLag();
  // Writes go on into the first half of the heal (restarts, catch-ups, copies), then
  // stop so the cluster can converge.
  if (!healing_ || now_ - SimClock::kEpochMs < cfg_.fault_ms + cfg_.heal_ms / 2) {
    if (Chance(0.2)) ClientOp();
  }
  if (!healing_ && Chance(0.0015)) Fault();
}

std::vector<std::string> World::Run() {
  for (int n = 0; n < cfg_.nodes; ++n) {
    if (old_members_ & (1u << n)) Start(n, false);
  }
  ScheduleChange();
  uint64_t end = SimClock::kEpochMs + cfg_.fault_ms + cfg_.heal_ms;
  while (now_ < end && problems_.size() < 5) Tick();
  std::vector<std::string> out = problems_;
  if (out.empty() && !cfg_.change.empty()) {
    for (const Node& n : nodes_) {
      if (n.phase != 2) {
        out.push_back("node " + std::to_string(n.id) +
                      " did not commit the membership change by the end (phase " +
                      std::to_string(n.phase) + ")" + LinkStates());
        break;
      }
    }
  }
  if (out.empty()) out = CheckConverged();
  for (Node& n : nodes_) {
    if (n.alive) {
      Tally(*n.core);
      n.store->SetSink(nullptr);
    }
  }
  return out;
}

}  // namespace syncached::sim
