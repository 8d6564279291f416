// The engine's Router on a sharded node (--replication-factor < N): owners from the
// ring, requests to other nodes through a Forwarder. docs/SHARDING.md "Any node
// serves any key".
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "engine/engine.h"
#include "forward/forward.h"
#include "placement/placement.h"
#include "server/placement_state.h"

namespace syncached::server {

class KeyRouter final : public engine::Router {
 public:
  // Whether this node holds every key it takes over in a members epoch, and whether
  // every node does (a membership change's handover, replication::Replicator); empty:
  // always.
  struct Readiness {
    std::function<bool(uint64_t epoch)> here, everywhere;
  };
  KeyRouter(const PlacementHolder* placement, placement::NodeId self, forward::Options options = {},
            Readiness readiness = {});

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
  double owned_share() const;
  void SetReadiness(Readiness r) { readiness_ = std::move(r); }

 private:
  const PlacementHolder* placement_;
  placement::NodeId self_;
  Readiness readiness_;
  // owned_share of the placement last asked for (measured once per placement).
  mutable std::mutex share_mu_;
  mutable const Placement* share_of_ = nullptr;
  mutable double share_ = 0;
  forward::Forwarder forwarder_;
  std::atomic<uint64_t> unavailable_{0};
};

}  // namespace syncached::server
