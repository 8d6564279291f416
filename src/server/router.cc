#include "server/router.h"

#include <algorithm>
#include <cstdio>

namespace syncached::server {
namespace {
constexpr int kShareSample = 4096;
}  // namespace

KeyRouter::KeyRouter(const placement::Members& members, placement::NodeId self, size_t replicas,
                     std::shared_ptr<const placement::Ring> ring, forward::Options options)
    : ring_(std::move(ring)),
      self_(self),
      replicas_(replicas),
      members_(members.nodes().size()),
      forwarder_(members, self, std::move(options)) {
  // Fixed for the run (the members file is), so measured once.
  int owned = 0;
  for (int i = 0; i < kShareSample; ++i) {
    std::vector<placement::NodeId> owners =
        ring_->Owners("syncached:share:" + std::to_string(i), replicas_);
    owned += std::find(owners.begin(), owners.end(), self_) != owners.end();
  }
  owned_share_ = static_cast<double>(owned) / kShareSample;
}

int KeyRouter::Pick(std::string_view key, bool relayed) {
  std::vector<placement::NodeId> owners = ring_->Owners(key, replicas_);
  size_t mine = std::find(owners.begin(), owners.end(), self_) - owners.begin();
  bool owner = mine < owners.size();
  if (owner && relayed) return kLocal;
  // Candidates: every owner for a non-owner, the owners before this one for an owner.
  size_t limit = owner ? mine : owners.size();
  for (size_t i = 0; i < limit; ++i) {
    if (forwarder_.Alive(owners[i])) return owners[i];
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
