// A replica for repair tests: keys with versions, kept in step with its Digests as
// storage will, plus the Host a Comparison asks.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "repair/repair.h"

namespace syncached::repair::testing {

class Replica : public Host {
 public:
  explicit Replica(int bits = 12) : digests(bits) {}

  void Put(const std::string& key, uint64_t hlc, uint16_t node = 1, bool tombstone = false) {
    Drop(key);
    KeyVersion k{key, {hlc, node}, tombstone};
    digests.Add(k.key, k.version, k.tombstone);
    items[key] = k;
  }
  void Drop(const std::string& key) {  // as an eviction does (the caller marks it)
    auto it = items.find(key);
    if (it == items.end()) return;
    digests.Remove(it->second.key, it->second.version, it->second.tombstone);
    items.erase(it);
  }
  void Evict(const std::string& key) {
    evicted.insert(BucketOf(key, digests.bits()));
    Drop(key);
  }
  // Sends `keys` to `to` as replication would: the newer version wins there.
  void PushTo(Replica& to, const std::vector<std::string>& keys) const {
    for (const std::string& key : keys) {
      auto it = items.find(key);
      if (it == items.end()) continue;
      auto there = to.items.find(key);
      if (there == to.items.end() || there->second.version < it->second.version) {
        to.Put(key, it->second.version.hlc, it->second.version.node, it->second.tombstone);
      }
    }
  }

  void ListBuckets(const std::vector<uint32_t>& buckets,
                   std::vector<std::vector<KeyVersion>>* out) override {
    ++listings;
    for (const auto& [key, k] : items) {
      uint32_t b = BucketOf(key, digests.bits());
      for (size_t i = 0; i < buckets.size(); ++i) {
        if (buckets[i] == b) (*out)[i].push_back(k);
      }
    }
  }
  bool EvictedIn(uint32_t bucket) override { return evicted.count(bucket) > 0; }
  bool Takes(std::string_view key) override { return !takes || takes(key); }

  Digests digests;
  std::map<std::string, KeyVersion> items;
  std::set<uint32_t> evicted;
  int listings = 0;                             // ListBuckets calls
  std::function<bool(std::string_view)> takes;  // unset: every key
};

// Runs a comparison between a and b (a starts; pull only if a_pulls) to the end; false
// if either failed or it did not end within max_rounds messages.
struct Outcome {
  bool ok = false;
  std::vector<std::string> a_pushes, b_pushes;
  CompareStats a, b;
};
inline Outcome Compare(Replica& a, Replica& b, bool a_pulls = false, int max_rounds = 1000) {
  Tree ta(a.digests), tb(b.digests);
  Comparison ca(&ta, &a), cb(&tb, &b);
  if (a_pulls) ca.SetPullOnly();
  std::vector<std::string> to_b{ca.Start()}, to_a;
  for (int round = 0; round < max_rounds && (!to_a.empty() || !to_b.empty()); ++round) {
    std::vector<std::string> next_a, next_b;
    for (const std::string& m : to_b) cb.OnMessage(m, &next_a);
    for (const std::string& m : to_a) ca.OnMessage(m, &next_b);
    to_a = std::move(next_a);
    to_b = std::move(next_b);
  }
  Outcome o;
  o.ok = ca.done() && cb.done() && !ca.failed() && !cb.failed() && to_a.empty() && to_b.empty();
  o.a_pushes = ca.TakePush();
  o.b_pushes = cb.TakePush();
  o.a = ca.stats();
  o.b = cb.stats();
  return o;
}

}  // namespace syncached::repair::testing
