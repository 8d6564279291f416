// The engine's Router on a sharded node (--replication-factor < N): owners from the
// ring, requests to other nodes through a Forwarder. docs/SHARDING.md "Any node
// serves any key".
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "engine/engine.h"
#include "forward/forward.h"
#include "placement/placement.h"

namespace syncached::server {

class KeyRouter final : public engine::Router {
 public:
  KeyRouter(const placement::Members& members, placement::NodeId self, size_t replicas,
            std::shared_ptr<const placement::Ring> ring, forward::Options options = {});

  // The first live owner of `key` (here when every owner before this one is down, or
  // the request was relayed here and this is an owner): reads, writes and read-
  // modify-writes alike, so a client reads its own writes through any node and an add
  // (a lock) is granted once.
  int Pick(std::string_view key, bool relayed) override;
  Sent Forward(int node, Wire wire, std::string_view request, std::string* reply) override;
  void CountFailure() override { unavailable_.fetch_add(1, std::memory_order_relaxed); }

  // A further liveness test for owners (Forwarder::SetAlive); before serving.
  void SetAlive(std::function<bool(placement::NodeId)> alive) {
    forwarder_.SetAlive(std::move(alive));
  }
  forward::Forwarder& forwarder() { return forwarder_; }
  // `stats cluster` lines (the ring's facts and this router's counters).
  void AppendStats(std::string* out) const;
  // The fraction of keys this node owns, from a sample of synthetic keys.
  double owned_share() const { return owned_share_; }

 private:
  std::shared_ptr<const placement::Ring> ring_;  // shared with replication's filter
  placement::NodeId self_;
  size_t replicas_;
  size_t members_;
  double owned_share_ = 0;
  forward::Forwarder forwarder_;
  std::atomic<uint64_t> unavailable_{0};
};

}  // namespace syncached::server
