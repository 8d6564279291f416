// The workload: client writes and deletes (and a rare flush_all) on a key's owners,
// recorded for the checks, and the faults injected among them: crashes, pauses,
// partitions, clock steps and drift, bursts of writes.
#include <cstdlib>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sim_world.h"

namespace syncached::sim {
namespace {
constexpr uint64_t kGraceMs = 3500;  // after a pause or partition ends (reconnect backoff)
}  // namespace

void World::ClientOp() {
  std::vector<int> serving;
  for (const Node& n : nodes_) {
    if (n.alive && !n.paused && n.core->gate_open()) serving.push_back(n.index);
  }
  if (serving.empty()) return;
  std::string key = "k" + std::to_string(Rand(cfg_.keys));
  // Sharded: requests reach a key's owners (clients place them so, and a non-owner
  // forwards them to one).
  std::erase_if(serving, [&](int n) { return !Serves(n, key); });
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
  op.phase = node.phase;
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

}  // namespace syncached::sim
