#include "server/placement_state.h"

#include <algorithm>
#include <string>

namespace syncached::server {
namespace {
constexpr int kGainSample = 1 << 16;

void AddOwners(const placement::Members& members, const placement::Ring* ring, size_t replicas,
               std::string_view key, std::vector<uint16_t>* out) {
  if (!ring) {
    for (const placement::Member& m : members.nodes()) out->push_back(m.id);
    return;
  }
  ring->AppendOwners(key, replicas, out);
}
}  // namespace

void Placement::StreamOwners(std::string_view key, std::vector<uint16_t>* out) const {
  out->clear();
  AddOwners(*members, ring.get(), replicas, key, out);
  if (!old_members) return;
  size_t mine = out->size();
  AddOwners(*old_members, old_ring.get(), old_replicas, key, out);
  // Both lists are short (R each): drop the old list's repeats of the new one's.
  auto first_old = out->begin() + static_cast<std::ptrdiff_t>(mine);
  out->erase(std::remove_if(
                 first_old, out->end(),
                 [&](uint16_t id) { return std::find(out->begin(), first_old, id) != first_old; }),
             out->end());
}

bool Placement::SendsTo(placement::NodeId self, std::string_view key, placement::NodeId writer,
                        placement::NodeId peer) const {
  if (!ring || !old_ring) return false;
  thread_local std::vector<placement::NodeId> now, before;  // reused: called per key
  now.clear();
  ring->AppendOwners(key, replicas, &now);
  if (std::find(now.begin(), now.end(), peer) == now.end()) return false;
  before.clear();
  old_ring->AppendOwners(key, old_replicas, &before);
  auto old_owner = [&](placement::NodeId id) {
    return std::find(before.begin(), before.end(), id) != before.end();
  };
  if (old_owner(peer) || !old_owner(self)) return false;
  if (old_owner(writer)) return writer == self;  // a leaving node too: it is asked
  return before.front() == self;
}

bool Placement::Gains(placement::NodeId self) const {
  // Unsharded, a new node takes full copies behind the join gate, as at any start.
  if (!old_members || !ring) return false;
  if (!old_members->Find(self)) return members->Find(self) != nullptr;
  std::vector<uint16_t> now, before;
  for (int i = 0; i < kGainSample; ++i) {
    std::string key = "syncached:gain:" + std::to_string(i);
    now.clear();
    before.clear();
    AddOwners(*members, ring.get(), replicas, key, &now);
    AddOwners(*old_members, old_ring.get(), old_replicas, key, &before);
    bool mine_now = std::find(now.begin(), now.end(), self) != now.end();
    bool mine_before = std::find(before.begin(), before.end(), self) != before.end();
    if (mine_now && !mine_before) return true;
  }
  return false;
}

const Placement* PlacementHolder::Set(std::unique_ptr<const Placement> p) {
  std::lock_guard lock(mu_);
  const Placement* raw = p.get();
  all_.push_back(std::move(p));
  current_.store(raw, std::memory_order_release);
  return raw;
}

}  // namespace syncached::server
