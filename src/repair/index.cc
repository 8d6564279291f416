#include <algorithm>

#include "repair/repair.h"

namespace syncached::repair {

Index::Set::Set(int bits)
    : digests(bits), evicted_at(new std::atomic<uint32_t>[size_t{1} << bits]) {
  for (uint32_t b = 0; b < digests.buckets(); ++b) evicted_at[b].store(0);
}

Index::Index(int bits, uint16_t self, std::vector<uint16_t> peers, Owners owners)
    : bits_(bits), self_(self), owners_(std::move(owners)), peers_(std::move(peers)) {
  if (!owners_) peers_.clear();
  size_t sets = owners_ ? peers_.size() : 1;
  for (size_t i = 0; i < sets; ++i) sets_.push_back(std::make_unique<Set>(bits));
}

Index::Set* Index::SetFor(uint16_t peer) const {
  if (!owners_) return sets_[0].get();
  auto it = std::find(peers_.begin(), peers_.end(), peer);
  return it == peers_.end() ? nullptr : sets_[it - peers_.begin()].get();
}

void Index::SharedWith(std::string_view key, std::vector<uint16_t>* peers) const {
  owners_(key, peers);
  if (std::find(peers->begin(), peers->end(), self_) == peers->end()) {
    peers->clear();
    return;
  }
  peers->erase(std::remove(peers->begin(), peers->end(), self_), peers->end());
}

void Index::CountByNewOwners(std::vector<uint16_t> peers, Owners new_owners) {
  if (!owners_ || !new_owners) return;
  new_peers_ = std::move(peers);
  new_owners_ = std::move(new_owners);
}

bool Index::CountsByNewOwners(uint16_t peer) const {
  return std::find(new_peers_.begin(), new_peers_.end(), peer) != new_peers_.end();
}

void Index::KeepNewPeersByNewOwners(std::string_view key, std::vector<uint16_t>* peers) const {
  auto is_new = [&](uint16_t p) { return CountsByNewOwners(p); };
  if (std::none_of(peers->begin(), peers->end(), is_new)) return;
  thread_local std::vector<uint16_t> now;
  new_owners_(key, &now);
  auto owns = [&](uint16_t id) { return std::find(now.begin(), now.end(), id) != now.end(); };
  bool mine = owns(self_);
  peers->erase(std::remove_if(peers->begin(), peers->end(),
                              [&](uint16_t p) { return is_new(p) && !(mine && owns(p)); }),
               peers->end());
}

// Each set `key` counts in (full replication: the one set).
template <typename F>
void Index::ForEachSet(std::string_view key, F&& fn) const {
  if (!owners_) return fn(sets_[0].get());
  thread_local std::vector<uint16_t> shared;
  SharedWith(key, &shared);
  if (!new_peers_.empty()) KeepNewPeersByNewOwners(key, &shared);
  for (uint16_t peer : shared) {
    if (Set* s = SetFor(peer)) fn(s);
  }
}

void Index::Note(std::string_view key, record::Version version, bool tombstone, bool held) {
  ForEachSet(key, [&](Set* s) {
    if (held)
      s->digests.Add(key, version, tombstone);
    else
      s->digests.Remove(key, version, tombstone);
  });
}

void Index::NoteEviction(std::string_view key, uint32_t now) {
  uint32_t b = BucketOf(key, bits_);
  ForEachSet(key, [&](Set* s) { s->evicted_at[b].store(now, std::memory_order_relaxed); });
}

const Digests* Index::For(uint16_t peer) const {
  Set* s = SetFor(peer);
  return s ? &s->digests : nullptr;
}

bool Index::Shares(uint16_t peer, std::string_view key) const {
  Set* want = SetFor(peer);
  bool found = false;
  ForEachSet(key, [&](Set* s) { found |= s == want; });
  return want && found;
}

bool Index::EvictedWithin(uint16_t peer, uint32_t bucket, uint32_t now, uint32_t window) const {
  Set* s = SetFor(peer);
  if (!s || bucket >= s->digests.buckets()) return false;
  uint32_t at = s->evicted_at[bucket].load(std::memory_order_relaxed);
  return at != 0 && now - std::min(now, at) <= window;
}

}  // namespace syncached::repair
