// cluster (every node as the queried one and the others see it), wait-synced and repair.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster_view.h"
#include "json.h"
#include "modes.h"

namespace syncached::tool {

namespace {

using Stats = std::vector<std::pair<std::string, std::string>>;

// One node's answer to `stats replication` on its client port.
struct Probe {
  std::string status;  // up, down (no connection), no-reply (connected, no answer), error
  std::string detail;
  ReplicationView view;
  // `stats cluster` of a sharded node (--members): its ring and owned share; empty else.
  std::string ring_kind, owned_share;
};

Probe ProbeNode(const Address& a, double timeout_s) {
  Probe p;
  Client c;
  int ms = static_cast<int>(timeout_s * 1000);
  if (!c.Connect(a, ms)) {
    p.status = "down";
    p.detail = c.error();
    return p;
  }
  Stats st;
  if (!c.Stats("replication", &st)) {
    // A stopped process's kernel still accepts the connection; nothing answers.
    p.status = c.error().find("timed out") != std::string::npos ? "no-reply" : "error";
    p.detail = c.error();
    return p;
  }
  p.status = "up";
  p.view = ParseReplication(st);
  Stats cluster;
  if (c.Stats("cluster", &cluster)) {
    for (const auto& [name, value] : cluster) {
      if (name == "ring") p.ring_kind = value;
      if (name == "owned_share") p.owned_share = value;
    }
  }
  return p;
}

struct Row {
  unsigned node = 0;
  std::string client = "?";
  std::string replication = "?";
  std::string status = "?";
  std::string link = "-";
  std::string lag_changes = "-";
  std::string lag_ms = "-";
  std::string synced = "-";  // the node's own view: yes/no, "-" when not queried
  std::string last_error = "-";
  std::string ring = "-";   // "<kind> <owned share %>" of a sharded node
  std::string ring_kind;    // for --json
  std::string owned_share;  // for --json
};

void SetRing(const Probe& p, Row* r) {
  if (p.status != "up" || p.ring_kind.empty()) return;
  r->ring_kind = p.ring_kind;
  r->owned_share = p.owned_share;
  char pct[32];
  snprintf(pct, sizeof pct, "%.1f%%", atof(p.owned_share.c_str()) * 100);
  r->ring = p.ring_kind + ":" + pct;
}

std::string SyncedCell(const Probe& p) {
  if (p.status != "up") return "-";
  return NotSyncedReasons(p.view).empty() ? "yes" : "no";
}

std::string Pad(const std::string& s, size_t w) {
  return s.size() >= w ? s : s + std::string(w - s.size(), ' ');
}

}  // namespace

int RunCluster(const Options& o) {
  Probe self = ProbeNode(o.address, o.io_timeout_s);
  if (self.status != "up") {
    fprintf(stderr, "Couldn't connect to %s\n(%s: %s)\n", o.address.display.c_str(),
            self.status.c_str(), self.detail.c_str());
    return 1;
  }
  // The other nodes' client addresses: --nodes, each identified by its node id
  // (given as ID=, or read from the node), else a guess checked against the id.
  std::map<unsigned, std::pair<std::string, Probe>> known;  // node -> (client, probe)
  std::vector<std::pair<std::string, Probe>> unidentified;
  for (const std::string& spec : o.nodes) {
    unsigned id = 0;
    std::string addr_text;
    if (!ParseNodeSpec(spec, &id, &addr_text)) {
      fprintf(stderr, "syncached-tool: bad --nodes entry '%s' (expected [ID=]HOST:PORT)\n",
              spec.c_str());
      return 2;
    }
    auto addr = ParseAddress(addr_text);
    if (!addr) {
      fprintf(stderr, "syncached-tool: bad address '%s'\n", addr_text.c_str());
      return 2;
    }
    Probe p = ProbeNode(*addr, o.probe_timeout_s);
    if (p.status == "up" && p.view.node_id) id = p.view.node_id;
    if (id == self.view.node_id && self.view.replicated) continue;  // the queried node
    if (id) {
      known[id] = {addr->display, p};
    } else {
      unidentified.push_back({addr->display, p});
    }
  }
  for (const PeerLink& peer : self.view.peers) {
    if (!peer.node || known.count(peer.node)) continue;
    std::string guess = GuessClientAddress(peer.address);
    auto addr = ParseAddress(guess);
    if (!addr) continue;
    Probe p = ProbeNode(*addr, o.probe_timeout_s);
    if (p.status == "up" && p.view.node_id == peer.node) known[peer.node] = {addr->display, p};
  }

  std::vector<Row> rows;
  Row me;
  me.node = self.view.node_id;
  me.client = o.address.display;
  me.status = "up";
  me.link = "self";
  me.synced = SyncedCell(self);
  SetRing(self, &me);
  // Our own replication address, as the others list it.
  for (const auto& [id, kp] : known) {
    for (const PeerLink& l : kp.second.view.peers) {
      if (l.node == self.view.node_id && self.view.node_id) me.replication = l.address;
    }
  }
  if (!self.view.replicated) me.replication = "-";
  rows.push_back(me);
  for (const PeerLink& peer : self.view.peers) {
    Row r;
    r.node = peer.node;
    r.replication = peer.address;
    r.link = peer.state;
    r.lag_changes = std::to_string(peer.lag_changes);
    r.lag_ms = std::to_string(peer.lag_ms);
    r.last_error = peer.last_error;
    auto k = peer.node ? known.find(peer.node) : known.end();
    if (k != known.end()) {
      r.client = k->second.first;
      r.status = k->second.second.status;
      r.synced = SyncedCell(k->second.second);
      SetRing(k->second.second, &r);
      known.erase(k);
    }
    rows.push_back(r);
  }
  // Nodes given with --nodes that the queried node does not peer with, or that
  // could not be identified.
  for (auto& [id, kp] : known) {
    Row r;
    r.node = id;
    r.client = kp.first;
    r.status = kp.second.status;
    r.synced = SyncedCell(kp.second);
    SetRing(kp.second, &r);
    rows.push_back(r);
  }
  for (auto& [addr, p] : unidentified) {
    Row r;
    r.client = addr;
    r.status = p.status;
    rows.push_back(r);
  }

  if (o.json) {
    std::string out = "{\"queried\": " + JsonString(o.address.display) +
                      ", \"replicated\": " + (self.view.replicated ? "true" : "false") +
                      ", \"cluster_name\": " + JsonString(self.view.cluster_name) +
                      ", \"node_id\": " + std::to_string(self.view.node_id) +
                      ", \"synced\": " + (NotSyncedReasons(self.view).empty() ? "true" : "false") +
                      ", \"nodes\": [";
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      auto opt = [](const std::string& s) { return s == "-" || s == "?" ? "null" : JsonScalar(s); };
      out += std::string(i ? ", " : "") +
             "{\"node\": " + (r.node ? std::to_string(r.node) : "null") +
             ", \"client\": " + opt(r.client) + ", \"replication\": " + opt(r.replication) +
             ", \"status\": " + JsonString(r.status) + ", \"link\": " + JsonString(r.link) +
             ", \"lag_changes\": " + opt(r.lag_changes) + ", \"lag_ms\": " + opt(r.lag_ms) +
             ", \"synced\": " +
             (r.synced == "-"     ? "null"
              : r.synced == "yes" ? "true"
                                  : "false") +
             ", \"ring\": " +
             (r.ring_kind.empty() ? std::string("null")
                                  : "{\"kind\": " + JsonString(r.ring_kind) +
                                        ", \"owned_share\": " + JsonScalar(r.owned_share) + "}") +
             ", \"last_error\": " + opt(r.last_error) + "}";
    }
    printf("%s]}\n", out.c_str());
    return 0;
  }
  if (self.view.replicated) {
    printf("cluster %s, as node %u (%s) sees it\n", self.view.cluster_name.c_str(),
           self.view.node_id, o.address.display.c_str());
  } else {
    printf("%s: a single node (no replication)\n", o.address.display.c_str());
  }
  std::vector<std::vector<std::string>> cells = {{"node", "client", "replication", "status", "link",
                                                  "lag_changes", "lag_ms", "synced", "ring",
                                                  "last_error"}};
  for (const Row& r : rows) {
    std::string node = r.node ? std::to_string(r.node) : self.view.replicated ? "?" : "-";
    cells.push_back({node, r.client, r.replication, r.status, r.link, r.lag_changes, r.lag_ms,
                     r.synced, r.ring, r.last_error});
  }
  std::vector<size_t> w(cells[0].size(), 0);
  for (const auto& line : cells) {
    for (size_t i = 0; i < line.size(); ++i) w[i] = std::max(w[i], line[i].size());
  }
  for (const auto& line : cells) {
    std::string s;
    for (size_t i = 0; i < line.size(); ++i) {
      s += i + 1 < line.size() ? Pad(line[i], w[i] + 2) : line[i];
    }
    printf("%s\n", s.c_str());
  }
  return 0;
}

int RunWaitSynced(const Options& o) {
  using Clock = std::chrono::steady_clock;
  auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
  std::vector<std::string> why;
  for (;;) {
    Client c;
    // Until the join gate opens the port refuses connections (--join-mode
    // refuse) or answers SERVER_ERROR syncing (--join-mode error).
    if (!c.Connect(o.address, static_cast<int>(o.io_timeout_s * 1000))) {
      why = {"not serving yet (" + c.error() + ")"};
    } else {
      Stats st;
      if (!c.Stats("replication", &st)) {
        why = {"not serving yet (" + c.error() + ")"};
      } else {
        ReplicationView v = ParseReplication(st);
        why = NotSyncedReasons(v);
        if (why.empty()) {
          if (v.replicated) {
            printf("%s: synced (node %u, %zu peers streaming)\n", o.address.display.c_str(),
                   v.node_id, v.peers.size());
          } else {
            printf("%s: serving (no replication)\n", o.address.display.c_str());
          }
          return 0;
        }
      }
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  fprintf(stderr, "syncached-tool: %s not synced after %g s:\n", o.address.display.c_str(),
          o.timeout_s);
  for (const std::string& w : why) fprintf(stderr, "  %s\n", w.c_str());
  return 1;
}

// Sends one admin command; true when the node answers OK (else the reason is printed).
static bool AdminOk(const Options& o, Client& c, const std::string& command) {
  std::string line;
  if (!c.Send(command + "\r\n") || !c.ReadLine(&line)) {
    fprintf(stderr, "syncached-tool: %s\n", c.error().c_str());
    return false;
  }
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line != "OK") {
    fprintf(stderr, "syncached-tool: %s: %s\n", o.address.display.c_str(), line.c_str());
    return false;
  }
  return true;
}

int RunRepair(const Options& o) {
  Client c;
  if (!ConnectOrComplain(o, &c) || !AdminOk(o, c, "repair")) return 1;
  printf("%s: repair started with every peer (repair_* in 'stats replication')\n",
         o.address.display.c_str());
  return 0;
}

// members: a node's view of a membership change (docs/SHARDING.md), or, with reload or
// commit, that step on the node.
int RunMembers(const Options& o) {
  Client c;
  if (!ConnectOrComplain(o, &c)) return 1;
  if (!o.args.empty()) {
    const std::string& action = o.args[0];
    if (action != "reload" && action != "commit") {
      fprintf(stderr, "syncached-tool: members [reload|commit], not '%s'\n", action.c_str());
      return 2;
    }
    if (!AdminOk(o, c, "members " + action)) return 1;
    printf("%s: members %s: OK\n", o.address.display.c_str(), action.c_str());
    return 0;
  }
  std::vector<std::pair<std::string, std::string>> st;
  if (!c.Stats("replication", &st)) {
    fprintf(stderr, "syncached-tool: %s\n", c.error().c_str());
    return 1;
  }
  // The node's lines, then each peer's (peer:ADDRESS:members_*, and while a node takes
  // keys over, its progress with each peer: :handed_over, :handover, :handover_keys),
  // and the range copies it sends (subscriber:NODE:range_copy_*).
  for (const auto& [name, value] : st) {
    bool mine = name.rfind("members_", 0) == 0 || name == "repair_handover_runs" ||
                name.rfind("repair_range_copies", 0) == 0 || name == "repair_keys_applied" ||
                name == "repair_bytes_received";
    bool peers = name.rfind("peer:", 0) == 0 &&
                 (name.find(":members_") != std::string::npos || name.ends_with(":handed_over") ||
                  name.find(":handover") != std::string::npos);
    bool copies =
        name.rfind("subscriber:", 0) == 0 && name.find(":range_copy") != std::string::npos;
    if (mine || peers || copies) printf("%-48s %s\n", name.c_str(), value.c_str());
  }
  // 1 while a reload or commit still walks the node's store (stats cluster).
  std::vector<std::pair<std::string, std::string>> cluster;
  if (c.Stats("cluster", &cluster)) {
    for (const auto& [name, value] : cluster) {
      if (name == "members_applying") printf("%-48s %s\n", name.c_str(), value.c_str());
    }
  }
  return 0;
}

}  // namespace syncached::tool
