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

  // Not among owners(key): the first live owner. An owner: here, but a read-modify-
  // write goes to the first live owner before this node in owners(key) (only ever to
  // an earlier one, so forwards end).
  int Pick(std::string_view key, bool rmw) override;
  Sent Forward(int node, Wire wire, std::string_view request, std::string* reply) override;
  void CountFailure() override { unavailable_.fetch_add(1, std::memory_order_relaxed); }

  // A further liveness test for owners (Forwarder::SetAlive); before serving.
  void SetAlive(std::function<bool(placement::NodeId)> alive) {
    forwarder_.SetAlive(std::move(alive));
  }
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
