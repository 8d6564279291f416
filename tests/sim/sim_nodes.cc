// Nodes of the simulation: started (empty, or with their "disk"), crashed (noting the
// acknowledged writes that die with them), their contents, and key ownership when
// sharded.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "record/record.h"
#include "sim_world.h"

namespace syncached::sim {
namespace {
// The store's sink: every local change goes to the core, as replicator.cc does.
class CoreSink final : public record::Sink {
 public:
  explicit CoreSink(replication::Core* core) : core_(core) {}
  void OnChange(const record::ChangeView& c) override { core_->OnChange(c); }

 private:
  replication::Core* core_;
};
}  // namespace

void World::Start(int n, bool with_data) {
  Node& node = nodes_[n];
  storage::Options so;
  so.shard_bits = 2;
  so.initial_hash_power = 6;
  so.node_id = node.id;
  so.replicated = true;
  node.store = std::make_unique<storage::Store>(so, node.clock.get());
  node.repair.reset();
  replication::Options ro;
  ro.node_id = node.id;
  uint32_t members = cfg_.change.empty() ? (1u << cfg_.nodes) - 1 : MembersOf(node.phase);
  for (Conn& c : conns_[n]) {
    c.link = Conn::kUnlinked;
    if (!(members & (1u << c.pub))) continue;
    c.link = ro.peers.size();
    ro.peers.push_back("n" + std::to_string(c.pub + 1));
  }
  ro.backlog_bytes = cfg_.backlog_bytes;
  ro.join_timeout_ms = 1000;
  ro.sync_replicas = cfg_.sync_replicas;
  if (cfg_.multicast) ro.multicast_secret = "the simulated cluster's multicast secret";
  if (!cfg_.change.empty()) {
    replication::Membership m = MembershipOf(n);
    ro.owners = m.owners;
    ro.members_digest = m.epoch;
  } else if (cfg_.replication_factor > 0) {
    ro.owners = [this](std::string_view key, std::vector<uint16_t>* owners) {
      owners->clear();
      for (int n = 0; n < cfg_.nodes; ++n) {
        if (Owns(n, key)) owners->push_back(static_cast<uint16_t>(n + 1));
      }
    };
    ro.members_digest = 0x5eed;
  }
  if (cfg_.repair || !cfg_.change.empty()) {
    std::vector<uint16_t> others;
    for (const Node& o : nodes_) {
      if (o.id != node.id) others.push_back(o.id);
    }
    node.repair = std::make_unique<repair::Index>(8, node.id, std::move(others), ro.owners);
    node.repair_feed = std::make_unique<replication::RepairFeed>(node.repair.get());
    node.store->SetContentListener(node.repair_feed.get());
    ro.repair = node.repair.get();
    ro.repair_interval_ms = 2000;
    if (n == 0 && cfg_.repair) ro.drop_prefix_for_tests = kDropPrefix;
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
  if (node.phase > 0) {
    // The members it last adopted (as a node restarted with the new members file).
    node.complete_old = !(node.phase == 1 && node.gains);
    node.core->SetMembership(MembershipOf(n));
  }
  node.was_ready = node.core->handover_ready();
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
  if (!cfg_.change.empty()) return OwnsIn(new_members_, n, key);
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
  // Writes still waiting for their --sync-replicas acknowledgement die unanswered (the
  // next run's tickets start over: one of them must not answer these).
  for (Op& op : ops_) {
    if (op.node == n && !op.acked) op.ticket = 0;
  }
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
  Tally(*node.core);
  node.core.reset();
  node.store.reset();
  node.alive = false;
  crashed_at_[n] = now_;
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

}  // namespace syncached::sim
