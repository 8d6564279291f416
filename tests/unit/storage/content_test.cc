// The content listener (what anti-entropy's digests follow): after any mix of stores,
// deletes, touches, peers' changes, evictions and tombstone purges, the listener's
// running account of (key, version, tombstone) is exactly what the store holds.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

#include "storage/storage.h"
#include "tests/unit/storage/store_test_util.h"

namespace syncached::storage {
namespace {

struct Held {
  record::Version version;
  bool tombstone;
  friend bool operator==(const Held&, const Held&) = default;
};

// Keeps the account, and fails on an addition over something held or a removal of
// something not held (each key holds one version at a time: an item or a tombstone).
class Mirror final : public ContentListener {
 public:
  void OnContent(std::string_view key, record::Version v, bool tombstone, bool held) override {
    std::string k(key);
    auto it = held_.find(k);
    if (held) {
      EXPECT_EQ(it, held_.end()) << "added over a held version: " << k;
      held_[k] = {v, tombstone};
    } else {
      ASSERT_NE(it, held_.end()) << "removed what was not held: " << k;
      EXPECT_EQ(it->second, (Held{v, tombstone})) << k;
      held_.erase(it);
    }
  }
  void OnEvicted(std::string_view, uint32_t) override { ++evictions; }
  std::map<std::string, Held> held_;
  int evictions = 0;
};

std::map<std::string, Held> Contents(Store& s) {
  std::map<std::string, Held> out;
  for (size_t i = 0; i < s.shard_count(); ++i) {
    s.SnapshotShard(i, [&](const record::ChangeView& c) {
      out[std::string(c.key)] = {c.version, c.kind == record::Kind::kDelete};
    });
  }
  return out;
}

TEST(StoreContent, ListenerFollowsEveryChange) {
  ManualClock clock;
  Options o = SmallOptions();
  o.replicated = true;
  o.node_id = 1;
  o.max_bytes = 1 << 20;  // evictions happen
  o.tombstone_ttl = 60;
  Store s(o, &clock);
  Mirror mirror;
  s.SetContentListener(&mirror);
  std::mt19937 rng(7);
  std::string value(4000, 'v');
  for (int i = 0; i < 40000; ++i) {
    std::string key = "k" + std::to_string(rng() % 3000);
    uint32_t op = rng() % 10;
    uint64_t hlc = s.hlc().Last() + (rng() % 3 == 0 ? -(uint64_t{1} << 20) : (uint64_t{1} << 20));
    if (op < 4) {
      Put(s, key, std::string_view(value).substr(0, 100 + rng() % 3900));
    } else if (op == 4) {
      s.Access(key, [](Accessor& a) {
        if (a.Find()) a.Delete();
      });
    } else if (op == 5) {
      s.Access(key, [](Accessor& a) {
        if (a.Find()) a.SetExptime(0);
      });
    } else if (op == 6) {
      s.Access(key, [](Accessor& a) {
        if (a.Find()) a.MarkStale(true);
      });
    } else if (op == 7) {
      s.Apply(record::ChangeView{record::Kind::kPut, {hlc, 2}, key, "peer", 0, 0});
    } else if (op == 8) {
      s.Apply(record::ChangeView{record::Kind::kDelete, {hlc, 2}, key, {}, 0, 0});
    } else {
      clock.Advance(7000);  // tombstones older than the TTL go
      s.Maintain();
    }
  }
  EXPECT_GT(mirror.evictions, 0);
  EXPECT_GT(s.tombstones(), 0u);
  EXPECT_EQ(mirror.held_, Contents(s));
  size_t tombstones = 0;
  for (const auto& [k, h] : mirror.held_) tombstones += h.tombstone;
  EXPECT_EQ(s.tombstones(), tombstones);  // the count follows restores over a tombstone
}

}  // namespace
}  // namespace syncached::storage
