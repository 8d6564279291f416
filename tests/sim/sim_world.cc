#include "sim_world.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "record/record.h"

namespace syncached::sim {
namespace {
constexpr size_t kRouterHwm = 64;  // messages queued to one subscriber (ZMQ_SNDHWM)
constexpr size_t kDealerHwm = 16;
constexpr uint64_t kMaxBackoffMs = 2000;
constexpr uint64_t kSyncTimeoutMs = 1000;
constexpr uint64_t kGraceMs = 3500;  // after a pause or partition ends (reconnect backoff)

// The store's sink: every local change goes to the core, as replicator.cc does.
class CoreSink final : public record::Sink {
 public:
  explicit CoreSink(replication::Core* core) : core_(core) {}
  void OnChange(const record::ChangeView& c) override { core_->OnChange(c); }

 private:
  replication::Core* core_;
};
}  // namespace

World::World(const Config& c) : cfg_(c), rng_(c.seed) {
  nodes_.resize(cfg_.nodes);
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
      conn.link = conns_[n].size();
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

// -- nodes --------------------------------------------------------------------------

void World::Start(int n, bool with_data) {
  Node& node = nodes_[n];
  storage::Options so;
  so.shard_bits = 2;
  so.initial_hash_power = 6;
  so.node_id = node.id;
  so.replicated = true;
  node.store = std::make_unique<storage::Store>(so, node.clock.get());
  replication::Options ro;
  ro.node_id = node.id;
  for (const Conn& c : conns_[n]) ro.peers.push_back("n" + std::to_string(c.pub + 1));
  ro.backlog_bytes = cfg_.backlog_bytes;
  ro.join_timeout_ms = 1000;
  ro.sync_replicas = cfg_.sync_replicas;
  if (cfg_.replication_factor > 0) {
    ro.owners = [this](std::string_view key, std::vector<uint16_t>* owners) {
      owners->clear();
      for (int n = 0; n < cfg_.nodes; ++n) {
        if (Owns(n, key)) owners->push_back(static_cast<uint16_t>(n + 1));
      }
    };
    ro.members_digest = 0x5eed;
  }
  bool data = with_data && node.has_disk;
  if (data) {
    for (const record::Change& c : node.disk) {
      node.store->Apply(c.view(), storage::ApplyMode::kRestore);
    }
    ro.has_data = true;
    ro.saved_positions = node.positions;
  } else {
    node.positions.clear();
    for (size_t i : node.unshipped) {
      if (!ops_[i].excused) ++ops_excused;
      ops_[i].excused = true;
    }
  }
  node.unshipped.clear();
  ro.save_position = [&node](const std::string& name, const std::string& value) {
    node.positions[name] = value;
  };
  node.transport = std::make_unique<NodeTransport>(this, n);
  uint64_t epoch = (node.clock->NowMillis() << 16) | (rng_() & 0xffff);
  node.core =
      std::make_unique<replication::Core>(ro, node.store.get(), node.transport.get(), epoch, now_);
  node.sink = std::make_unique<CoreSink>(node.core.get());
  node.store->SetSink(node.sink.get());
  node.alive = true;
  node.paused = false;
  node.started_at = now_;
  node.restarted_empty = !data;
  for (Conn& c : conns_[n]) {
    Break(c);
    c.next_attempt = now_;
  }
  Log("node %d starts (%s)", node.id, data ? "with its data" : "empty");
}

// Sharded --sync-replicas waits only for co-owners that follow the node's stream: one
// that does not (down, or still connecting) confirms nothing.
bool World::CoOwnerFollows(const Node& n, const std::string& key) const {
  if (cfg_.replication_factor <= 0) return true;
  for (const auto& [id, s] : n.core->sessions()) {
    if (!s.gone && s.mode == replication::Session::Mode::kStream && Owns(s.node_id - 1, key)) {
      return true;
    }
  }
  return false;
}

bool World::Owns(int n, std::string_view key) const {
  if (cfg_.replication_factor <= 0) return true;
  uint64_t h = 14695981039346656037ull;  // FNV-1a: the same on every platform
  for (char ch : key) h = (h ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
  int first = static_cast<int>(h % static_cast<uint64_t>(cfg_.nodes));
  return (n - first + cfg_.nodes) % cfg_.nodes < cfg_.replication_factor;
}

void World::Crash(int n) {
  Node& node = nodes_[n];
  if (!node.alive) return;
  // Async writes only this node holds (its own not shipped yet, or others' whose
  // other holders died) die with it unless it comes back with its disk: noted here,
  // excused (and counted) if it restarts empty.
  node.unshipped.clear();
  {
    std::map<std::string, record::Version> mine, others;
    for (const record::Change& c : Contents(node)) mine[c.key] = c.version;
    for (const Node& o : nodes_) {
      if (&o == &node) continue;
      std::vector<record::Change> held = o.alive      ? Contents(o)
                                         : o.has_disk ? o.disk
                                                      : std::vector<record::Change>{};
      for (const record::Change& c : held) others[c.key] = std::max(others[c.key], c.version);
    }
    for (size_t i = 0; i < ops_.size(); ++i) {
      const Op& op = ops_[i];
      if (!op.acked || op.excused || Gone(op.key, op.version)) continue;
      auto m = mine.find(op.key);
      bool here = op.node == n || (m != mine.end() && m->second >= op.version);
      auto o = others.find(op.key);
      bool elsewhere = o != others.end() && o->second >= op.version;
      if (here && !elsewhere) node.unshipped.push_back(i);
      // --sync-replicas: a peer applied it before the client heard of it, so only
      // another node's loss since can leave it on its origin alone.
      if (here && !elsewhere && cfg_.sync_replicas > 0 && op.node == n && op.confirmed &&
          last_other_crash_[n] < op.acked_at) {
        problems_.push_back("write of " + op.key + " at " + op.version.ToString() +
                            " acknowledged by a peer is held by none at its node's crash");
      }
    }
  }
  for (int o = 0; o < cfg_.nodes; ++o) {
    if (o != n) last_other_crash_[o] = now_;
  }
  node.has_disk = cfg_.data_dirs;
  node.disk = cfg_.data_dirs ? Contents(node) : std::vector<record::Change>{};
  node.store->SetSink(nullptr);
  node.core.reset();
  node.store.reset();
  node.alive = false;
  for (auto& cs : conns_) {
    for (Conn& c : cs) {
      if (c.sub == n || c.pub == n) Break(c);
    }
  }
  disturbed_at_ = now_;
  Log("node %d crashes", node.id);
}

std::vector<record::Change> World::Contents(const Node& n) const {
  std::vector<record::Change> out;
  for (size_t i = 0; i < n.store->shard_count(); ++i) {
    n.store->SnapshotShard(i, [&](const record::ChangeView& c) { out.emplace_back(c); });
  }
  return out;
}

// -- network ------------------------------------------------------------------------

replication::Transport::Sent NodeTransport::ToSubscriber(const std::string& identity,
                                                         const std::string& msg) {
  for (auto& cs : world_->conns_) {
    for (Conn& c : cs) {
      if (c.pub != node_ || !c.up || c.identity != identity) continue;
      if (c.to_sub.size() >= kRouterHwm) return Sent::kFull;
      uint64_t at = world_->now_ + 1 + world_->Rand(3) + (world_->Chance(0.01) ? 40 : 0);
      if (!c.to_sub.empty()) at = std::max(at, c.to_sub.back().at);
      c.to_sub.push_back({at, msg});
      ++world_->messages;
      return Sent::kOk;
    }
  }
  return Sent::kGone;
}

void NodeTransport::ToPublisher(size_t link, const std::string& msg) {
  Conn& c = world_->ConnOf(node_, link);
  if (!c.up || c.to_pub.size() >= kDealerHwm) return;  // ZMQ_IMMEDIATE, DONTWAIT
  uint64_t at = world_->now_ + 1 + world_->Rand(3);
  if (!c.to_pub.empty()) at = std::max(at, c.to_pub.back().at);
  c.to_pub.push_back({at, msg});
  ++world_->messages;
}

void NodeTransport::Reconnect(size_t link) {
  Conn& c = world_->ConnOf(node_, link);
  world_->Break(c);
  c.next_attempt = world_->now_;
}

void World::Break(Conn& c) {
  if (c.up) Log("connection %d->%d (%s) breaks", c.sub + 1, c.pub + 1, c.identity.c_str());
  c.up = false;
  c.identity.clear();
  c.to_pub.clear();
  c.to_sub.clear();
  c.backoff = 100;
  c.next_attempt = now_ + c.backoff;
}

bool World::Blocked(int sub, int pub) const { return blocked_.count({sub, pub}) > 0; }

void World::Connect() {
  for (auto& cs : conns_) {
    for (Conn& c : cs) {
      if (c.up || now_ < c.next_attempt) continue;
      const Node& s = nodes_[c.sub];
      const Node& p = nodes_[c.pub];
      if (s.alive && p.alive && !s.paused && !p.paused && !Blocked(c.sub, c.pub)) {
        c.up = true;
        c.identity = "c" + std::to_string(++conn_gen_);
        Log("connection %d->%d up (%s)", c.sub + 1, c.pub + 1, c.identity.c_str());
      } else {
        c.next_attempt = now_ + c.backoff;
        c.backoff = std::min(c.backoff * 2, kMaxBackoffMs);
      }
    }
  }
}

void World::Deliver() {
  for (auto& cs : conns_) {
    for (Conn& c : cs) {
      // A delivery may break this very connection (Reconnect): look again each time.
      while (c.up && !c.to_pub.empty() && c.to_pub.front().at <= now_) {
        Node& p = nodes_[c.pub];
        if (!p.alive || p.paused) break;
        Conn::Msg m = std::move(c.to_pub.front());
        c.to_pub.pop_front();
        std::string id = c.identity;
        p.core->OnSubscriberMessage(id, m.body, now_);
      }
      while (c.up && !c.to_sub.empty() && c.to_sub.front().at <= now_) {
        Node& s = nodes_[c.sub];
        if (!s.alive || s.paused) break;
        Conn::Msg m = std::move(c.to_sub.front());
        c.to_sub.pop_front();
        s.core->OnPublisherMessage(c.link, m.body, now_);
      }
    }
  }
}

// -- clients and faults ----------------------------------------------------------------

void World::ClientOp() {
  std::vector<int> serving;
  for (const Node& n : nodes_) {
    if (n.alive && !n.paused && n.core->gate_open()) serving.push_back(n.index);
  }
  if (serving.empty()) return;
  std::string key = "k" + std::to_string(Rand(cfg_.keys));
  // Sharded: requests reach a key's owners (clients place them so, and a non-owner
  // forwards them to one).
  std::erase_if(serving, [&](int n) { return !Owns(n, key); });
  if (serving.empty()) return;
  Node& node = nodes_[serving[Rand(serving.size())]];
  if (Chance(0.001)) {  // about two per run: flush_all, carried like any change
    node.store->FlushAll(0);
    flushes_.push_back({node.store->hlc().Last(), node.id});
    ++faults["flush_all"];
    Log("flush_all on node %d at %s", node.id, flushes_.back().ToString().c_str());
    return;
  }
  Op op;
  op.node = node.index;
  op.key = key;
  op.del = Chance(0.25);
  op.at_ms = now_;
  op.quiet = blocked_.empty() && now_ >= calm_at_ + kGraceMs;
  for (const Node& n : nodes_) op.quiet &= n.alive && !n.paused;
  std::string value = "v" + std::to_string(ops_.size()) + "@" + std::to_string(node.id);
  bool done = node.store->Access(op.key, [&](storage::Accessor& a) {
    if (op.del) {
      if (!a.Find()) return false;
      a.Delete();
      op.version = {node.store->hlc().Last(), node.id};
      return true;
    }
    storage::PutArgs args;
    args.value = value;
    args.flags = static_cast<uint32_t>(ops_.size());
    // Some expire within the run, on each node by its own (skewed) clock.
    if (Chance(0.3)) args.exptime = node.clock->NowSeconds() + 1 + static_cast<uint32_t>(Rand(20));
    op.exptime = args.exptime;
    storage::ItemRef ref;
    if (a.Put(args, &ref) != storage::PutStatus::kOk) return false;
    op.version = ref.version();
    return true;
  });
  if (!done) return;
  if (getenv("SIM_TRACE_KEY") && op.key == getenv("SIM_TRACE_KEY")) {
    Log("op %s %s at %s on node %d", op.del ? "delete" : "set", op.key.c_str(),
        op.version.ToString().c_str(), node.id);
  }
  op.ticket = node.core->BeginSyncWait();
  op.acked = cfg_.sync_replicas == 0 || op.ticket == 0;
  op.acked_at = now_;
  if (op.acked) ++ops_acked;
  record::Version& newest = newest_op_[op.key];
  newest = std::max(newest, op.version);
  if (op.exptime) exptimes_[op.key][op.version] = op.exptime;
  ops_.push_back(std::move(op));
}

void World::Fault() {
  int n = static_cast<int>(Rand(nodes_.size()));
  Node& node = nodes_[n];
  switch (Rand(6)) {
    case 0: {  // crash, back later with or without its data
      int alive = 0;
      for (const Node& o : nodes_) alive += o.alive;
      if (!node.alive || alive < 2) return;
      Crash(n);
      restart_at_[n] = now_ + 200 + Rand(3000);
      ++faults["crash"];
      break;
    }
    case 1:  // pause (SIGSTOP)
      if (!node.alive || node.paused) return;
      node.paused = true;
      disturbed_at_ = now_;
      resume_at_[n] = now_ + 100 + Rand(2000);
      ++faults["pause"];
      Log("node %d paused", node.id);
      break;
    case 2: {  // partition: both ways, or one way only
      int m = static_cast<int>(Rand(nodes_.size()));
      if (m == n) return;
      std::set<std::pair<int, int>> cut = {{n, m}};
      if (Chance(0.6)) cut.insert({m, n});
      for (const auto& pair : cut) {
        blocked_.insert(pair);
        for (Conn& c : conns_[pair.first]) {
          if (c.pub == pair.second) Break(c);
        }
      }
      heals_.push_back({now_ + 200 + Rand(4000), cut});
      disturbed_at_ = now_;
      ++faults[cut.size() == 2 ? "partition" : "partition_one_way"];
      Log("partition %d -/- %d (%s)", n + 1, m + 1, cut.size() == 2 ? "both ways" : "one way");
      break;
    }
    case 3:  // clock step
      node.clock->offset_ms += static_cast<int64_t>(Rand(6000)) - 3000;
      ++faults["clock_step"];
      break;
    case 4:  // clock drift
      node.clock->drift_ppm = static_cast<int64_t>(Rand(2000)) - 1000;
      ++faults["clock_drift"];
      break;
    case 5:  // a burst of writes on one node (backlog overflow, copies overtaken)
      for (int i = 0; i < 200; ++i) ClientOp();
      ++faults["burst"];
      break;
  }
}

// A node expires an item by its own clock: one whose time is within the clocks' spread
// of now may be gone on one node (expired, or reaped without a trace) and live on another.
bool World::MayHaveExpired(uint32_t exptime) const {
  if (exptime == 0) return false;
  int64_t spread_ms = 0;
  for (const Node& n : nodes_) {
    spread_ms = std::max(spread_ms, std::abs(static_cast<int64_t>(n.clock->NowMillis()) -
                                             static_cast<int64_t>(now_)));
  }
  return static_cast<int64_t>(exptime) * 1000 <= static_cast<int64_t>(now_) + spread_ms + 1000;
}

// Whether `key` at `v`, or a newer version of it, may have expired: then no trace of
// `v` need be left anywhere.
bool World::ExpiredSince(const std::string& key, record::Version v) const {
  auto k = exptimes_.find(key);
  if (k == exptimes_.end()) return false;
  for (auto e = k->second.lower_bound(v); e != k->second.end(); ++e) {
    if (MayHaveExpired(e->second)) return true;
  }
  return false;
}

// Whether `key` at `v` may legitimately have left no trace: it, or a newer version,
// expired, or a flush_all newer than it was made.
bool World::Gone(const std::string& key, record::Version v) const {
  for (const record::Version& f : flushes_) {
    if (v < f) return true;
  }
  return ExpiredSince(key, v);
}

void World::CheckGate(Node& n) {
  if (!n.restarted_empty || !n.core->gate_open()) return;
  n.restarted_empty = false;
  // Only in a quiet cluster: with a node away or cut off, what the others hold may
  // legitimately not have reached this one yet.
  for (const Node& o : nodes_) {
    if (!o.alive || o.paused) return;
  }
  if (!blocked_.empty()) return;
  int64_t skew = 0;
  for (const Node& o : nodes_) skew = std::max(skew, std::abs(o.clock->offset_ms));
  std::map<std::string, record::Version> mine;
  for (const record::Change& c : Contents(n)) mine[c.key] = c.version;
  for (const Node& o : nodes_) {
    if (&o == &n) continue;
    for (const record::Change& c : Contents(o)) {
      if (!Owns(n.index, c.key)) continue;
      uint64_t ms = record::HlcMillis(c.version.hlc);
      if (ms + 5000 + static_cast<uint64_t>(skew) * 2 > n.clock->NowMillis()) continue;
      if (Gone(c.key, c.version)) continue;
      auto it = mine.find(c.key);
      if (it == mine.end() || it->second < c.version) {
        problems_.push_back("node " + std::to_string(n.id) +
                            " served before holding what it was copied: key " + c.key + " at " +
                            c.version.ToString() + " on node " + std::to_string(o.id));
        return;
      }
    }
  }
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

// -- the verdict --------------------------------------------------------------------

// Every node's links and sessions, for a failure report.
std::string World::LinkStates() const {
  static const char* kPhase[] = {"connecting", "full_copy", "catch_up", "streaming", "refused"};
  std::string out;
  for (const Node& n : nodes_) {
    if (!n.alive) continue;
    out += "\n    node " + std::to_string(n.id) + ": links";
    for (const replication::Link& l : n.core->links()) {
      out += " " + l.address + "=" + kPhase[static_cast<int>(l.phase)] + "/seq" +
             std::to_string(l.next_seq) + (conns_[n.index][l.index].up ? "" : "(down)");
    }
    out += "; sessions";
    for (const auto& [id, ss] : n.core->sessions()) {
      out += " n" + std::to_string(ss.node_id) + "=" +
             (ss.mode == replication::Session::Mode::kFullCopy ? "copy" : "stream") + "/seq" +
             std::to_string(ss.next_seq) + (ss.gone ? "(gone)" : "");
    }
    out += "; backlog next " + std::to_string(n.core->backlog().next_seq());
  }
  return out;
}

// Liveness: a write made in a quiet cluster (every node up, none paused or cut off, and
// none for kGraceMs: ZeroMQ's reconnect backoff) and not disturbed since is on every
// node within kMaxLagMs. A node's own restart is not a disturbance: its peers must
// follow its new run at once. This is what a restarted node's first writes failed
// while its peers noticed the new run only after 3 s of silence.
void World::CheckLag() {
  constexpr uint64_t kMaxLagMs = 1000;
  while (lag_checked_ < ops_.size() && ops_[lag_checked_].at_ms + kMaxLagMs <= now_) {
    const Op& op = ops_[lag_checked_++];
    if (!op.acked || !op.quiet || op.at_ms <= disturbed_at_ || Gone(op.key, op.version)) continue;
    if (newest_op_[op.key] != op.version) continue;  // a newer op (by version) decides it
    ++lag_checks;
    for (const Node& n : nodes_) {
      if (!Owns(n.index, op.key)) continue;
      record::Version held{};
      n.store->Access(op.key, [&](storage::Accessor& a) {
        storage::ItemRef it = a.Find(false);
        if (it) held = it.version();
      });
      // A delete leaves no item to read: a newer live item would be a newer write.
      bool ok = op.del ? !(held.hlc != 0 && held < op.version) : held >= op.version;
      if (!ok) {
        problems_.push_back(std::string(op.del ? "delete" : "write") + " of " + op.key + " at " +
                            op.version.ToString() + " on node " + std::to_string(op.node + 1) +
                            " not on node " + std::to_string(n.id) + " after " +
                            std::to_string(kMaxLagMs) + " ms in a quiet cluster (it holds " +
                            held.ToString() + ")" + LinkStates());
        return;
      }
    }
  }
}

std::vector<std::string> World::CheckConverged() {
  std::vector<std::string> out;
  struct State {
    record::Version version;
    bool live = false;
    std::string value;
    uint32_t flags = 0;
    uint32_t exptime = 0;
  };
  auto expiring = [&](const State& st) { return MayHaveExpired(st.exptime); };
  std::vector<std::map<std::string, State>> states;
  for (const Node& n : nodes_) {
    std::map<std::string, State> m;
    for (const record::Change& c : Contents(n)) {
      bool live = c.kind == record::Kind::kPut || c.kind == record::Kind::kStalePut;
      m[c.key] = {c.version, live, c.value, c.flags, c.exptime};
    }
    states.push_back(std::move(m));
  }
  // Every owner of a key holds the same live item (sharded: a non-owner holds nothing).
  std::set<std::string> keys;
  for (const auto& m : states) {
    for (const auto& [k, st] : m) keys.insert(k);
  }
  for (const std::string& k : keys) {
    if (out.size() >= 5) break;
    int ref = -1;
    for (int i = 0; i < static_cast<int>(states.size()) && out.size() < 5; ++i) {
      auto b = states[i].find(k);
      if (!Owns(i, k)) {
        if (b != states[i].end()) {
          out.push_back("key " + k + " on node " + std::to_string(i + 1) + ", not an owner");
        }
        continue;
      }
      if (ref < 0) {
        ref = i;
        continue;
      }
      auto a = states[ref].find(k);
      bool la = a != states[ref].end() && a->second.live,
           lb = b != states[i].end() && b->second.live;
      if (la != lb && expiring(la ? a->second : b->second)) {
        continue;  // expired (or reaped) by one node's clock, not yet by the other's
      }
      if (la != lb ||
          (la && (a->second.version != b->second.version || a->second.value != b->second.value ||
                  a->second.flags != b->second.flags || a->second.exptime != b->second.exptime))) {
        out.push_back("not converged: key " + k + " on node " + std::to_string(ref + 1) + " " +
                      (la ? a->second.version.ToString() : "absent") + ", on node " +
                      std::to_string(i + 1) + " " + (lb ? b->second.version.ToString() : "absent"));
      }
    }
  }
  // No acknowledged write or delete is lost (older than what the key ends with), but
  // the excused ones; a delete never comes back.
  for (const Op& op : ops_) {
    if (!op.acked || op.excused || Gone(op.key, op.version)) continue;
    record::Version final{};
    for (const auto& m : states) {
      auto it = m.find(op.key);
      if (it != m.end()) final = std::max(final, it->second.version);
    }
    if (final < op.version) {
      out.push_back(std::string("acknowledged ") + (op.del ? "delete" : "write") + " of " + op.key +
                    " at " + op.version.ToString() + " on node " + std::to_string(op.node + 1) +
                    " lost (the key ends at " + final.ToString() + ")");
      if (out.size() >= 10) break;
    }
  }
  return out;
}

std::vector<std::string> World::Run() {
  for (int n = 0; n < cfg_.nodes; ++n) Start(n, false);
  uint64_t end = SimClock::kEpochMs + cfg_.fault_ms + cfg_.heal_ms;
  while (now_ < end && problems_.size() < 5) Tick();
  std::vector<std::string> out = problems_;
  if (out.empty()) out = CheckConverged();
  for (Node& n : nodes_) {
    if (n.alive) {
      n.store->SetSink(nullptr);
    }
  }
  return out;
}

}  // namespace syncached::sim
