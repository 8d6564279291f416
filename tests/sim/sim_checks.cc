// The verdict: what may have legitimately vanished (expired, flushed), and the checks
// that a node joining serves only once it holds what it was copied, that writes in a
// quiet cluster reach every owner promptly, and that the cluster converges losing no
// acknowledged write.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "record/record.h"
#include "sim_world.h"

namespace syncached::sim {

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
  // Taking keys over (--change): it serves them only once ready (CheckHandover).
  if (n.phase == 1 && n.gains) return;
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
      if (!(cfg_.change.empty() ? Owns(n.index, c.key) : OwnsByPhase(n.index, c.key))) continue;
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
void World::CheckFollowersHold(const Node& n, const Op& op) {
  if (Gone(op.key, op.version)) return;  // a flush_all or its expiry took it
  for (const auto& [id, s] : n.core->sessions()) {
    // Only peers that followed when the write was made: one in a copy then did not
    // count, and may have finished it since (the client reads it there after that).
    if (s.gone || s.mode != replication::Session::Mode::kStream || s.stream_since_ms >= op.at_ms) {
      continue;
    }
    if (!Owns(s.node_id - 1, op.key)) continue;  // sharded: not a co-owner
    const Node& f = nodes_[s.node_id - 1];
    // A node whose gate is shut serves no client until its copies are in.
    if (!f.alive || !f.core->gate_open()) continue;
    bool held = false;  // the key's item or tombstone, not a walk of the store per ack
    f.store->SnapshotKey(op.key,
                         [&](const record::ChangeView& c) { held = !(c.version < op.version); });
    if (!held) {
      problems_.push_back(
          "write of " + op.key + " at " + op.version.ToString() + " acknowledged by node " +
          std::to_string(n.id) + " (--sync-replicas all) is not on its follower node " +
          std::to_string(f.id) + " at " + std::to_string(now_ - SimClock::kEpochMs) + " ms");
    }
  }
}

void World::CheckLag() {
  constexpr uint64_t kMaxLagMs = 1000;
  while (lag_checked_ < ops_.size() && ops_[lag_checked_].at_ms + kMaxLagMs <= now_) {
    const Op& op = ops_[lag_checked_++];
    if (!op.acked || !op.quiet || op.at_ms <= disturbed_at_ || Gone(op.key, op.version)) continue;
    if (newest_op_[op.key] != op.version) continue;  // a newer op (by version) decides it
    ++lag_checks;
    for (const Node& n : nodes_) {
      // --change: only owners under both member lists are sure to be sent it.
      bool owner = cfg_.change.empty() ? Owns(n.index, op.key)
                                       : OwnsIn(old_members_, n.index, op.key) &&
                                             OwnsIn(new_members_, n.index, op.key);
      if (!owner || !n.alive) continue;
      // Node 1 drops these: they reach it by repair, seconds later.
      if (cfg_.repair && n.index == 0 && op.key.starts_with(kDropPrefix)) continue;
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

}  // namespace syncached::sim
