// What `stats replication` says about a node and its peers (docs/REPLICATION.md,
// src/replication/core.cc RenderStats), and whether that node is caught up.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace syncached::tool {

struct PeerLink {
  std::string address;  // the peer's replication address, as in --peers
  unsigned node = 0;    // 0 until the peer answered
  std::string state;    // connecting, full_copy, catch_up, streaming, refused
  int64_t lag_changes = 0;
  int64_t lag_ms = 0;
  std::string last_error = "none";  // spaces written as '_' by the server
};

struct Subscriber {
  unsigned node = 0;
  std::string mode;  // full_copy, streaming
  int64_t unacked_changes = 0;
};

struct ReplicationView {
  bool replicated = false;  // false: no `stats replication` lines (a single node)
  unsigned node_id = 0;
  std::string cluster_name;
  std::vector<PeerLink> peers;  // in the server's order
  std::vector<Subscriber> subscribers;
};

ReplicationView ParseReplication(const std::vector<std::pair<std::string, std::string>>& stats);

// Why the node is not caught up, one reason per line; empty when every peer link
// is streaming with no lag and no peer is taking a full copy from it.
std::vector<std::string> NotSyncedReasons(const ReplicationView& v);

// "[ID=]HOST:PORT" of --nodes: node id 0 when not given. False when malformed.
bool ParseNodeSpec(const std::string& spec, unsigned* id, std::string* address);

// A peer's client address guessed from its replication address: the same host,
// port - 1 (11212 -> 11211, the defaults). Empty when there is no port.
std::string GuessClientAddress(const std::string& replication_address);

}  // namespace syncached::tool
