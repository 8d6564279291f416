#include "placement/ring_impl.h"

namespace syncached::placement {

std::optional<RingKind> ParseRingKind(std::string_view name) {
  if (name == "ketama") return RingKind::kKetama;
  if (name == "ketama-weighted") return RingKind::kKetamaWeighted;
  if (name == "memcache") return RingKind::kMemcache;
  if (name == "memcache-session") return RingKind::kMemcacheSession;
  return std::nullopt;
}

const char* RingKindName(RingKind kind) {
  switch (kind) {
    case RingKind::kKetama:
      return "ketama";
    case RingKind::kKetamaWeighted:
      return "ketama-weighted";
    case RingKind::kMemcache:
      return "memcache";
    case RingKind::kMemcacheSession:
      return "memcache-session";
  }
  return "?";
}

Ring::Ring(const Members& members, RingOptions options) : options_(std::move(options)) {
  switch (options_.kind) {
    case RingKind::kKetama:
      impl_ = MakeKetamaRing(members, false);
      break;
    case RingKind::kKetamaWeighted:
      impl_ = MakeKetamaRing(members, true);
      break;
    case RingKind::kMemcache:
    case RingKind::kMemcacheSession:
      impl_ = MakeMemcacheRing(members, options_.max_failover_attempts,
                               options_.kind == RingKind::kMemcacheSession);
      break;
  }
}

Ring::~Ring() = default;
Ring::Ring(Ring&&) noexcept = default;
Ring& Ring::operator=(Ring&&) noexcept = default;

namespace {
std::string_view Hashed(std::string_view key, const std::string& prefix) {
  if (!prefix.empty() && key.substr(0, prefix.size()) == prefix) key.remove_prefix(prefix.size());
  return key;
}
}  // namespace

std::vector<NodeId> Ring::Owners(std::string_view key, size_t r) const {
  std::vector<NodeId> out;
  impl_->Owners(Hashed(key, options_.prefix), r, nullptr, &out);
  return out;
}

std::vector<NodeId> Ring::Owners(std::string_view key, size_t r, const Alive& alive) const {
  std::vector<NodeId> out;
  impl_->Owners(Hashed(key, options_.prefix), r, &alive, &out);
  return out;
}

void Ring::AppendOwners(std::string_view key, size_t r, std::vector<NodeId>* out) const {
  impl_->Owners(Hashed(key, options_.prefix), r, nullptr, out);
}

}  // namespace syncached::placement
