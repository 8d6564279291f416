#include "server/router.h"

#include <algorithm>
#include <cstdio>
#include <string>

namespace syncached::server {
namespace {
constexpr int kShareSample = 4096;
}  // namespace

KeyRouter::KeyRouter(const PlacementHolder* placement, placement::NodeId self,
                     forward::Options options, Readiness readiness)
    : placement_(placement),
      self_(self),
      readiness_(std::move(readiness)),
      forwarder_(*placement->Get()->members, self, std::move(options)) {}

double KeyRouter::owned_share() const {
  const Placement* p = placement_->Get();
  std::lock_guard lock(share_mu_);
  if (share_of_ == p) return share_;
  int owned = 0;
  for (int i = 0; i < kShareSample; ++i) {
    std::vector<placement::NodeId> owners =
        p->ring->Owners("syncached:share:" + std::to_string(i), p->replicas);
    owned += std::find(owners.begin(), owners.end(), self_) != owners.end();
  }
  share_of_ = p;
  share_ = static_cast<double>(owned) / kShareSample;
  return share_;
}

// While a membership change is handed over, keys are routed by the old placement (its
// owners hold everything) until every node holds what it takes over, then by the new
// one. A node that takes keys over serves them only once it holds them.
int KeyRouter::Pick(std::string_view key, bool relayed) {
  const Placement* p = placement_->Get();
  bool here_ready = !readiness_.here || readiness_.here(p->epoch);
  bool old_routes =
      p->handing_over() && !(readiness_.everywhere && readiness_.everywhere(p->epoch));
  const placement::Ring& ring = old_routes ? *p->old_ring : *p->ring;
  thread_local std::vector<placement::NodeId> owners;  // reused: a lookup per request
  owners.clear();
  ring.AppendOwners(key, old_routes ? p->old_replicas : p->replicas, &owners);
  size_t mine = std::find(owners.begin(), owners.end(), self_) - owners.begin();
  bool owner = mine < owners.size() && (old_routes || here_ready);
  // A relayed request is not sent on from one of its owners, ready or not: two nodes
  // taking the same keys over would pass it back and forth.
  if (relayed && mine < owners.size()) return kLocal;
  // Candidates: every owner for a non-owner, the owners before this one for an owner.
  size_t limit = owner ? mine : owners.size();
  for (size_t i = 0; i < limit; ++i) {
    if (owners[i] != self_ && forwarder_.Alive(owners[i])) return owners[i];
  }
  return owner ? kLocal : kNoOwner;
}

engine::Router::Sent KeyRouter::Forward(int node, Wire wire, std::string_view request,
                                        std::string* reply) {
  forward::Result r = forwarder_.Send(
      static_cast<placement::NodeId>(node),
      wire == Wire::kText ? forward::Wire::kText : forward::Wire::kBinary, request, reply);
  switch (r) {
    case forward::Result::kOk:
      return Sent::kOk;
    case forward::Result::kUnreachable:
      return Sent::kUnreachable;
    case forward::Result::kTooLarge:
      return Sent::kTooLarge;
    case forward::Result::kFailed:
      break;
  }
  return Sent::kFailed;
}

void KeyRouter::AppendStats(std::string* out) const {
  char line[128];
  auto add = [&](const char* name, unsigned long long v) {
    int n = snprintf(line, sizeof line, "STAT %s %llu\r\n", name, v);
    out->append(line, static_cast<size_t>(n));
  };
  add("forwarded", forwarder_.forwarded());
  add("forward_errors", forwarder_.errors());
  add("forward_unavailable", unavailable_.load(std::memory_order_relaxed));
}

}  // namespace syncached::server
