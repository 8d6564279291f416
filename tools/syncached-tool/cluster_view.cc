#include "cluster_view.h"

#include <cstdlib>

namespace syncached::tool {

namespace {

int64_t ToInt(const std::string& s) { return strtoll(s.c_str(), nullptr, 10); }

PeerLink& PeerFor(ReplicationView* v, const std::string& addr) {
  for (PeerLink& p : v->peers) {
    if (p.address == addr) return p;
  }
  v->peers.push_back(PeerLink{});
  v->peers.back().address = addr;
  return v->peers.back();
}

Subscriber& SubscriberFor(ReplicationView* v, unsigned node) {
  for (Subscriber& s : v->subscribers) {
    if (s.node == node) return s;
  }
  v->subscribers.push_back(Subscriber{});
  v->subscribers.back().node = node;
  return v->subscribers.back();
}

}  // namespace

ReplicationView ParseReplication(const std::vector<std::pair<std::string, std::string>>& stats) {
  ReplicationView v;
  for (const auto& [name, value] : stats) {
    v.replicated = true;
    if (name == "node_id") {
      v.node_id = static_cast<unsigned>(ToInt(value));
    } else if (name == "cluster_name") {
      v.cluster_name = value;
    } else if (name.rfind("peer:", 0) == 0) {
      // peer:<host:port>:<field>; the address holds colons, the field none.
      size_t last = name.rfind(':');
      if (last <= 5) continue;
      std::string addr = name.substr(5, last - 5);
      std::string field = name.substr(last + 1);
      PeerLink& p = PeerFor(&v, addr);
      if (field == "node") p.node = static_cast<unsigned>(ToInt(value));
      if (field == "state") p.state = value;
      if (field == "lag_changes") p.lag_changes = ToInt(value);
      if (field == "lag_ms") p.lag_ms = ToInt(value);
      if (field == "last_error") p.last_error = value;
    } else if (name.rfind("subscriber:", 0) == 0) {
      size_t last = name.rfind(':');
      if (last <= 11) continue;
      Subscriber& s = SubscriberFor(&v, static_cast<unsigned>(ToInt(name.substr(11, last - 11))));
      std::string field = name.substr(last + 1);
      if (field == "mode") s.mode = value;
      if (field == "unacked_changes") s.unacked_changes = ToInt(value);
    }
  }
  return v;
}

std::vector<std::string> NotSyncedReasons(const ReplicationView& v) {
  std::vector<std::string> why;
  for (const PeerLink& p : v.peers) {
    std::string who = "peer " + p.address;
    if (p.node) who += " (node " + std::to_string(p.node) + ")";
    if (p.state != "streaming") {
      std::string s = who + ": " + (p.state.empty() ? "unknown" : p.state);
      if (p.last_error != "none" && !p.last_error.empty()) s += ", last error " + p.last_error;
      why.push_back(s);
    } else if (p.lag_changes > 0) {
      why.push_back(who + ": " + std::to_string(p.lag_changes) + " changes (" +
                    std::to_string(p.lag_ms) + " ms) behind");
    }
  }
  for (const Subscriber& s : v.subscribers) {
    if (s.mode == "full_copy") {
      why.push_back("node " + std::to_string(s.node) + " is taking a full copy from this node");
    }
  }
  return why;
}

bool ParseNodeSpec(const std::string& spec, unsigned* id, std::string* address) {
  *id = 0;
  std::string rest = spec;
  size_t eq = spec.find('=');
  if (eq != std::string::npos) {
    std::string n = spec.substr(0, eq);
    if (n.empty() || n.size() > 5) return false;
    for (char c : n) {
      if (c < '0' || c > '9') return false;
    }
    long v = strtol(n.c_str(), nullptr, 10);
    if (v < 1 || v > 65535) return false;
    *id = static_cast<unsigned>(v);
    rest = spec.substr(eq + 1);
  }
  if (rest.empty()) return false;
  *address = rest;
  return true;
}

std::string GuessClientAddress(const std::string& replication_address) {
  size_t colon = replication_address.rfind(':');
  if (colon == std::string::npos || colon + 1 >= replication_address.size()) return "";
  long port = strtol(replication_address.c_str() + colon + 1, nullptr, 10);
  if (port <= 1 || port > 65535) return "";
  std::string host = replication_address.substr(0, colon);
  // ZeroMQ-style "tcp://host" prefixes are not in --peers; a v6 literal would need
  // brackets, which ParseAddress takes.
  if (host.find(':') != std::string::npos && host[0] != '[') host = "[" + host + "]";
  return host + ":" + std::to_string(port - 1);
}

}  // namespace syncached::tool
