// --change: a membership change in the middle of the faults. Keys are placed by a
// consistent ring (a few points per node, the first R distinct nodes from the key's
// point), so a change moves only the keys whose owners change, as the clients' rings
// do. Each node adopts the new members at its own moment (as SIGHUPs land), places
// keys by both while handing over, serves a key it gains only once ready, and commits
// (drops what it no longer owns) once every node is ready.
#include <algorithm>
#include <string>
#include <vector>

#include "sim_world.h"

namespace syncached::sim {
namespace {
constexpr uint64_t kOldEpoch = 0x01d, kNewEpoch = 0x2e3;
constexpr int kPointsPerNode = 8;

// FNV-1a (the same on every platform) mixed by MurmurHash3's finalizer: FNV alone
// puts "n1#0".."n1#7" next to each other on the ring.
uint64_t Hash(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (char ch : s) h = (h ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}
}  // namespace

bool World::OwnsIn(uint32_t members, int n, std::string_view key) const {
  if (!(members & (1u << n))) return false;
  std::vector<std::pair<uint64_t, int>>& ring = rings_[members];
  if (ring.empty()) {
    for (int m = 0; m < cfg_.nodes; ++m) {
      if (!(members & (1u << m))) continue;
      for (int p = 0; p < kPointsPerNode; ++p) {
        ring.emplace_back(Hash("n" + std::to_string(m) + "#" + std::to_string(p)), m);
      }
    }
    std::sort(ring.begin(), ring.end());
  }
  auto at = std::lower_bound(ring.begin(), ring.end(), std::make_pair(Hash(key), 0));
  std::vector<int> owners;
  for (size_t i = 0; i < ring.size() && static_cast<int>(owners.size()) < cfg_.replication_factor;
       ++i, ++at) {
    if (at == ring.end()) at = ring.begin();
    if (std::find(owners.begin(), owners.end(), at->second) == owners.end()) {
      owners.push_back(at->second);
    }
  }
  return std::find(owners.begin(), owners.end(), n) != owners.end();
}

uint32_t World::MembersOf(int phase) const {
  return phase == 0 ? old_members_ : phase == 1 ? old_members_ | new_members_ : new_members_;
}

bool World::OwnsByPhase(int n, std::string_view key) const {
  int phase = nodes_[n].phase;
  bool owns_new = OwnsIn(new_members_, n, key);
  if (phase == 2) return owns_new;
  bool owns_old = OwnsIn(old_members_, n, key);
  return phase == 1 ? owns_old || owns_new : owns_old;
}

bool World::Serves(int n, std::string_view key) const {
  if (cfg_.change.empty()) return Owns(n, key);
  const Node& node = nodes_[n];
  bool owns_new = OwnsIn(new_members_, n, key);
  switch (node.phase) {
    case 0:
      return OwnsIn(old_members_, n, key);
    case 1:
      return (node.complete_old && OwnsIn(old_members_, n, key)) ||
             (owns_new && node.core->handover_ready());
    default:
      return owns_new;
  }
}

replication::Membership World::MembershipOf(int n) {
  const Node& node = nodes_[n];
  replication::Membership m;
  m.epoch = node.phase == 0 ? kOldEpoch : kNewEpoch;
  uint32_t members = MembersOf(node.phase);
  for (const Conn& c : conns_[n]) {
    if (members & (1u << c.pub)) m.peers.push_back("n" + std::to_string(c.pub + 1));
  }
  int phase = node.phase;
  // A node added knows only the new members file, as one started with --join does.
  bool joiner = phase == 1 && !(old_members_ & (1u << n));
  m.owners = [this, phase, joiner](std::string_view key, std::vector<uint16_t>* owners) {
    owners->clear();
    for (int i = 0; i < cfg_.nodes; ++i) {
      bool o = OwnsIn(old_members_, i, key), w = OwnsIn(new_members_, i, key);
      if (joiner ? w : phase == 0 ? o : phase == 1 ? o || w : w) {
        owners->push_back(static_cast<uint16_t>(i + 1));
      }
    }
  };
  m.places_by_both = phase == 1 && !joiner;
  if (phase == 1) {
    m.new_owners = [this](std::string_view key, std::vector<uint16_t>* owners) {
      owners->clear();
      for (int i = 0; i < cfg_.nodes; ++i) {
        if (OwnsIn(new_members_, i, key)) owners->push_back(static_cast<uint16_t>(i + 1));
      }
    };
    // As the server's Placement::SendsTo: the peer gains the key, and n is the old owner
    // that wrote it, or the first old owner when none of them wrote it.
    m.sends_to = [this, n](std::string_view key, uint16_t writer, uint16_t peer) {
      int p = peer - 1, w = writer - 1;
      if (!OwnsIn(new_members_, p, key) || OwnsIn(old_members_, p, key)) return false;
      if (!OwnsIn(old_members_, n, key)) return false;
      if (w >= 0 && w < cfg_.nodes && OwnsIn(old_members_, w, key)) return w == n;
      for (int i = 0; i < cfg_.nodes; ++i) {
        if (OwnsIn(old_members_, i, key)) return i == n;
      }
      return false;
    };
  }
  m.gains = node.phase == 1 && node.gains;
  m.changing = node.phase == 1;
  return m;
}

void World::ScheduleChange() {
  if (cfg_.change.empty()) return;
  uint64_t at = now_ + cfg_.fault_ms / 4;
  for (int n = 0; n < cfg_.nodes; ++n) {
    if ((old_members_ | new_members_) & (1u << n)) adopt_at_[n] = at + Rand(800);
  }
}

// Digests by the placement the node now has, from the store as it is.
void World::Reindex(Node& node) {
  std::vector<uint16_t> others;
  for (const Node& o : nodes_) {
    if (o.id != node.id) others.push_back(o.id);
  }
  replication::Membership m = MembershipOf(node.index);
  auto index = std::make_unique<repair::Index>(8, node.id, std::move(others), m.owners);
  if (node.phase == 1) {  // as the server's: nodes new in the change count by the new file
    std::vector<uint16_t> joining;
    for (const Node& o : nodes_) {
      int i = o.id - 1;
      if ((new_members_ & (1u << i)) && !(old_members_ & (1u << i))) joining.push_back(o.id);
    }
    index->CountByNewOwners(std::move(joining), m.new_owners);
  }
  auto feed = std::make_unique<replication::RepairFeed>(index.get());
  node.store->ReplayContent(feed.get());
  node.store->SetContentListener(feed.get());
  m.repair = index.get();
  node.core->SetMembership(m);
  // The old index goes only now: the core dropped the comparisons that used it.
  node.repair = std::move(index);
  node.repair_feed = std::move(feed);
}

void World::Adopt(int n) {
  Node& node = nodes_[n];
  node.phase = 1;
  node.gains = false;
  for (int k = 0; k < cfg_.keys; ++k) {
    std::string key = "k" + std::to_string(k);
    node.gains |= OwnsIn(new_members_, n, key) && !OwnsIn(old_members_, n, key);
  }
  Log("node %d adopts the new members%s", node.id, node.gains ? " (gains keys)" : "");
  if (!(old_members_ & (1u << n))) {
    Start(n, false);  // the new node: started with the new members file
    return;
  }
  if (node.alive) Reindex(node);
}

void World::Commit(int n) {
  Node& node = nodes_[n];
  node.phase = 2;
  uint64_t dropped =
      node.store->DropKeys([&](std::string_view key) { return OwnsIn(new_members_, n, key); });
  Log("node %d commits the new members (drops %llu items)", node.id,
      static_cast<unsigned long long>(dropped));
  Reindex(node);
}

std::string World::OwnersText(uint32_t members, std::string_view key) const {
  std::string out;
  for (int i = 0; i < cfg_.nodes; ++i) {
    if (OwnsIn(members, i, key)) out += (out.empty() ? "" : ",") + std::to_string(i + 1);
  }
  return out;
}

// A node that gained keys is ready only once it holds every write acknowledged by a
// node still placing keys by the old members alone (one placing them by both streams
// it here, in due time), but those whose node crashed since (an asynchronous write may
// die with it).
void World::CheckHandover(Node& n) {
  bool ready = n.core->handover_ready();
  bool became = ready && !n.was_ready;
  n.was_ready = ready;
  if (!became || all_adopted_at_ == 0) return;
  std::map<std::string, record::Version> mine;
  for (const record::Change& c : Contents(n)) mine[c.key] = c.version;
  // The newest change to each key made by a node placing keys by both files: its
  // stream brings it, in due time, and it overwrites an old-only write here. The
  // copies skip such a write (its sender is the newer change's writer), so until
  // the stream delivers, this node may hold a version older than both (a lag, as any
  // replica's; the end-of-run checks see it arrive).
  std::map<std::string, record::Version> streamed;
  for (const Op& op : ops_) {
    if (op.phase == 0) continue;
    record::Version& v = streamed[op.key];
    v = std::max(v, op.version);
  }
  for (const Op& op : ops_) {
    if (op.at_ms >= all_adopted_at_) break;
    if (op.phase != 0 || !op.acked || op.excused || Gone(op.key, op.version)) continue;
    auto newer = streamed.find(op.key);
    if (newer != streamed.end() && op.version < newer->second) continue;
    if (!OwnsIn(new_members_, n.index, op.key)) continue;
    auto crashed = crashed_at_.find(op.node);
    if (crashed != crashed_at_.end() && crashed->second >= op.at_ms) continue;
    auto it = mine.find(op.key);
    if (it == mine.end() || it->second < op.version) {
      problems_.push_back("node " + std::to_string(n.id) + " ready without " +
                          (op.del ? "the delete" : "the write") + " of " + op.key + " at " +
                          op.version.ToString() + " (holds " +
                          (it == mine.end() ? std::string("nothing") : it->second.ToString()) +
                          "; owners before " + OwnersText(old_members_, op.key) + ", after " +
                          OwnersText(new_members_, op.key) + ")");
      return;
    }
  }
}

void World::TickChange() {
  if (cfg_.change.empty()) return;
  for (auto it = adopt_at_.begin(); it != adopt_at_.end();) {
    if (now_ >= it->second) {
      Adopt(it->first);
      it = adopt_at_.erase(it);
    } else {
      ++it;
    }
  }
  if (all_adopted_at_ == 0 && adopt_at_.empty()) all_adopted_at_ = now_;
  uint32_t everyone = old_members_ | new_members_;
  for (Node& n : nodes_) {
    if (n.alive && n.phase == 1) CheckHandover(n);
  }
  if (!committing_ && all_adopted_at_ != 0) {
    bool all = true;
    for (const Node& n : nodes_) {
      if (!(everyone & (1u << n.index))) continue;
      all &= n.alive && !n.paused && n.phase == 1 && n.core->AllReady();
    }
    if (all) {
      committing_ = true;
      Log("every node is ready: commit");
      for (int n = 0; n < cfg_.nodes; ++n) {
        if (everyone & (1u << n)) commit_at_[n] = now_ + Rand(500);
      }
    }
  }
  for (auto it = commit_at_.begin(); it != commit_at_.end();) {
    Node& n = nodes_[it->first];
    if (now_ >= it->second && n.alive && !n.paused) {
      Commit(it->first);
      it = commit_at_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace syncached::sim
