#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "storage/storage.h"

namespace syncached::storage {
namespace {

class RecordingSink : public record::Sink {
 public:
  void OnChange(const record::ChangeView& c) override { changes.emplace_back(c); }
  std::vector<record::Change> changes;
};

Options SmallOptions() {
  Options o;
  o.shard_bits = 2;
  o.initial_hash_power = 2;
  return o;
}

PutStatus Put(Store& s, std::string_view key, std::string_view value, uint32_t exptime = 0) {
  return s.Access(key, [&](Accessor& a) {
    PutArgs p;
    p.value = value;
    p.exptime = exptime;
    return a.Put(p, nullptr);
  });
}

std::string Get(Store& s, std::string_view key) {
  return s.Access(key, [&](Accessor& a) {
    ItemRef it = a.Find();
    return it ? std::string(it.value()) : std::string("<miss>");
  });
}

TEST(Store, PutFindReplace) {
  ManualClock clock;
  Store s(SmallOptions(), &clock);
  EXPECT_EQ(Put(s, "a", "1"), PutStatus::kOk);
  EXPECT_EQ(Get(s, "a"), "1");
  EXPECT_EQ(Put(s, "a", "22"), PutStatus::kOk);
  EXPECT_EQ(Get(s, "a"), "22");
  EXPECT_EQ(s.Stats().curr_items, 1u);
  EXPECT_EQ(s.Stats().total_items, 2u);
}

TEST(Store, GrowsIncrementallyAndKeepsEveryKey) {
  ManualClock clock;
  Store s(SmallOptions(), &clock);
  for (int i = 0; i < 20000; ++i) ASSERT_EQ(Put(s, "key" + std::to_string(i), "v"), PutStatus::kOk);
  for (int i = 0; i < 20000; ++i) ASSERT_EQ(Get(s, "key" + std::to_string(i)), "v") << i;
  EXPECT_EQ(s.Stats().curr_items, 20000u);
  EXPECT_GT(s.Stats().hash_power_level, 8u);
}

TEST(Store, CasChangesOnEveryMutation) {
  ManualClock clock;
  Store s(SmallOptions(), &clock);
  uint64_t last = 0;
  for (int i = 0; i < 100; ++i) {
    uint64_t cas = s.Access("k", [&](Accessor& a) {
      ItemRef it;
      PutArgs p;
      p.value = "x";
      a.Put(p, &it);
      return it.cas();
    });
    EXPECT_GT(cas, last);
    last = cas;
  }
}

TEST(Store, ExpiredItemsAreNeverReturned) {
  ManualClock clock;
  Store s(SmallOptions(), &clock);
  Put(s, "k", "v", clock.NowSeconds() + 5);
  EXPECT_EQ(Get(s, "k"), "v");
  clock.Advance(5000);
  EXPECT_EQ(Get(s, "k"), "<miss>");
  EXPECT_EQ(s.Stats().get_expired, 1u);
  EXPECT_EQ(s.Stats().curr_items, 0u);
}

TEST(Store, MaintainReclaimsExpired) {
  ManualClock clock;
  Store s(SmallOptions(), &clock);
  for (int i = 0; i < 100; ++i) Put(s, "k" + std::to_string(i), "v", clock.NowSeconds() + 1);
  clock.Advance(2000);
  for (int i = 0; i < 8; ++i) s.Maintain();
  EXPECT_EQ(s.Stats().curr_items, 0u);
  EXPECT_EQ(s.Stats().crawler_reclaimed, 100u);
}

TEST(Store, EvictsLeastRecentlyUsed) {
  ManualClock clock;
  Options o = SmallOptions();
  o.shard_bits = 0;  // one LRU, so the order is exact
  o.max_bytes = 200 * 1024;
  Store s(o, &clock);
  std::string v(1000, 'x');
  Put(s, "keep", v);
  for (int i = 0; i < 1000; ++i) {
    Put(s, "k" + std::to_string(i), v);
    s.Access("keep", [](Accessor& a) {
      a.Find();
      a.MarkFetched();
      return 0;
    });
  }
  EXPECT_EQ(Get(s, "keep"), v);
  EXPECT_EQ(Get(s, "k0"), "<miss>");
  EXPECT_EQ(Get(s, "k999"), v);
  EXPECT_GT(s.Stats().evictions, 0u);
  EXPECT_LE(s.used_bytes(), o.max_bytes);
}

// With many shards and few items in each (large values), which shard a key lands in
// must not decide what survives: what is left is what was stored last, as with one LRU.
TEST(Store, EvictionFollowsAgeAcrossShards) {
  ManualClock clock;
  Options o = SmallOptions();
  o.shard_bits = 8;
  o.max_bytes = 8 << 20;
  Store s(o, &clock);
  std::string v(64 << 10, 'x');
  const int n = 1000;
  for (int i = 0; i < n; ++i) ASSERT_EQ(Put(s, "k" + std::to_string(i), v), PutStatus::kOk);
  EXPECT_LE(s.used_bytes(), o.max_bytes);
  uint64_t alive = s.Stats().curr_items;
  ASSERT_GT(alive, 50u);
  int oldest = n, gaps = 0;
  for (int i = 0; i < n; ++i) {
    if (Get(s, "k" + std::to_string(i)) == v) oldest = std::min(oldest, i);
  }
  for (int i = oldest; i < n; ++i) gaps += Get(s, "k" + std::to_string(i)) != v;
  // One LRU keeps exactly the last `alive` (here ~137). Per-shard LRUs alone kept keys
  // from anywhere (measured: oldest survivor 250, 623 of the keys after it evicted);
  // with the sampling the horizon is within a few percent of exact (831, 42). The
  // sampling is random: over 300 runs the worst was 101 keys short of exact with 100
  // gaps, so the bounds are one `alive` each, still far from per-shard LRUs.
  int ideal = n - static_cast<int>(alive);
  EXPECT_GE(oldest, ideal - static_cast<int>(alive));
  EXPECT_LE(gaps, static_cast<int>(alive));
}

// Slab memory follows the size mix: after small items filled -m, larger ones take
// their pages over (whole pages evicted) instead of the store growing past -m.
TEST(Store, SizeMixShiftStaysWithinLimit) {
  ManualClock clock;
  Options o = SmallOptions();
  o.max_bytes = 4 << 20;
  Store s(o, &clock);
  for (int round = 0; round < 6; ++round) {
    std::string v(40 + round * 70, 'a' + round);  // each round a different chunk size
    for (int i = 0; i < 40000; ++i) {
      ASSERT_EQ(Put(s, "r" + std::to_string(round) + ":" + std::to_string(i), v), PutStatus::kOk);
    }
    clock.Advance(2);
    EXPECT_LE(s.used_bytes(), o.max_bytes) << round;
    EXPECT_EQ(Get(s, "r" + std::to_string(round) + ":39999"), v);
  }
  EXPECT_GT(s.Stats().evictions, 0u);
  EXPECT_GT(s.Stats().curr_items, 4000u);
}

// Freed chunks are reused: replacing and deleting do not leak memory.
TEST(Store, ReplaceAndDeleteReturnMemory) {
  ManualClock clock;
  Store s(SmallOptions(), &clock);
  uint64_t empty = s.used_bytes();
  for (int pass = 0; pass < 5; ++pass) {
    for (int i = 0; i < 5000; ++i)
      Put(s, "k" + std::to_string(i), std::string(10 + pass * 60, 'x'));
  }
  EXPECT_EQ(Get(s, "k7"), std::string(250, 'x'));
  for (int i = 0; i < 5000; ++i) {
    s.Access("k" + std::to_string(i), [](Accessor& a) {
      a.Delete();
      return 0;
    });
  }
  EXPECT_EQ(s.Stats().bytes, 0u);
  // Tables grew; every slab page went back but the one each class carves from
  // (5 sizes x 4 shards), whose free chunks are kept for the next item of that size.
  EXPECT_LT(s.used_bytes() - empty, (5 * 4 + 1) * (64u << 10));
}

// An append whose result needs a bigger chunk still reads the old value while the
// store is full.
TEST(Store, AppendAcrossChunkSizesWhenFull) {
  ManualClock clock;
  Options o = SmallOptions();
  o.shard_bits = 0;
  o.max_bytes = 256 << 10;
  Store s(o, &clock);
  for (int i = 0; i < 4000; ++i) Put(s, "f" + std::to_string(i), std::string(100, 'f'));
  Put(s, "a", "head");
  for (int i = 0; i < 300; ++i) {
    s.Access("a", [](Accessor& a) {
      ItemRef old = a.Find();
      PutArgs p;
      p.prefix = old ? old.value() : std::string_view();
      p.value = "+";
      return a.Put(p, nullptr);
    });
  }
  EXPECT_EQ(Get(s, "a"), "head" + std::string(300, '+'));
  EXPECT_LE(s.used_bytes(), o.max_bytes);
}

// Hits only mark items active; eviction gives an active tail item one more round. A cache
// where every item was read must still make room for new ones.
TEST(Store, EvictsWhenEveryItemWasRead) {
  ManualClock clock;
  Options o = SmallOptions();
  o.shard_bits = 0;
  o.max_bytes = 200 * 1024;
  Store s(o, &clock);
  std::string v(1000, 'x');
  auto fetch = [&](const std::string& key) {
    s.Access(key, [](Accessor& a) {
      if (a.Find()) a.MarkFetched();
      return 0;
    });
  };
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(Put(s, "k" + std::to_string(i), v), PutStatus::kOk) << i;
    for (int j = std::max(0, i - 300); j <= i; ++j) fetch("k" + std::to_string(j));
  }
  EXPECT_EQ(Get(s, "k999"), v);
  EXPECT_EQ(Get(s, "k0"), "<miss>");
  EXPECT_GT(s.Stats().evictions, 0u);
  EXPECT_LE(s.used_bytes(), o.max_bytes);
}

// Second chance keeps LRU's order for what matters: an item read after others were stored
// outlives them, one never read since goes first.
TEST(Store, SecondChanceKeepsRecentlyReadItems) {
  ManualClock clock;
  Options o = SmallOptions();
  o.shard_bits = 0;
  o.max_bytes = 200 * 1024;
  Store s(o, &clock);
  std::string v(1000, 'x');
  for (int i = 0; i < 100; ++i) Put(s, "old" + std::to_string(i), v);
  s.Access("old5", [](Accessor& a) {
    a.Find();
    a.MarkFetched();
    return 0;
  });
  for (int i = 0; i < 150; ++i) Put(s, "new" + std::to_string(i), v);
  EXPECT_EQ(Get(s, "old5"), v);
  EXPECT_EQ(Get(s, "old4"), "<miss>");
  EXPECT_EQ(Get(s, "old6"), "<miss>");
  EXPECT_EQ(Get(s, "new149"), v);
  EXPECT_GT(s.Stats().evictions, 0u);
}

// The same in a slab class's LRU: the active tail item goes to the head of its own
// class's list (its chunk stays), the unread ones around it are evicted.
TEST(Store, SecondChanceInSlabClassLru) {
  ManualClock clock;
  Options o = SmallOptions();
  o.shard_bits = 0;
  o.max_bytes = 1 << 20;
  Store s(o, &clock);
  std::string v(100, 'x');
  // Keys of one length: one chunk size, so one LRU.
  auto old_key = [](int i) { return "old" + std::to_string(10000 + i); };
  for (int i = 0; i < 1000; ++i) Put(s, old_key(i), v);
  s.Access(old_key(5), [](Accessor& a) {
    a.Find();
    a.MarkFetched();
    return 0;
  });
  for (int i = 0; i < 100000 && s.Stats().evictions < 200; ++i) {
    ASSERT_EQ(Put(s, "new" + std::to_string(10000 + i), v), PutStatus::kOk) << i;
  }
  EXPECT_GE(s.Stats().evictions, 200u);
  EXPECT_EQ(Get(s, old_key(5)), v);
  EXPECT_EQ(Get(s, old_key(4)), "<miss>");
  EXPECT_EQ(Get(s, old_key(6)), "<miss>");
  EXPECT_EQ(Get(s, old_key(999)), v);
  EXPECT_LE(s.used_bytes(), o.max_bytes);
}

TEST(Store, PublishesOneChangePerMutation) {
  ManualClock clock;
  Store s(SmallOptions(), &clock);
  RecordingSink sink;
  s.SetSink(&sink);
  Put(s, "a", "1", 0);
  s.Access("a", [](Accessor& a) {
    a.Delete();
    return 0;
  });
  s.FlushAll(0);
  ASSERT_EQ(sink.changes.size(), 3u);
  EXPECT_EQ(sink.changes[0].kind, record::Kind::kPut);
  EXPECT_EQ(sink.changes[0].value, "1");
  EXPECT_EQ(sink.changes[1].kind, record::Kind::kDelete);
  EXPECT_EQ(sink.changes[2].kind, record::Kind::kFlush);
  EXPECT_LT(sink.changes[0].version, sink.changes[1].version);
}

PutStatus PutWithCas(Store& s, std::string_view key, std::string_view value, uint64_t cas) {
  return s.Access(key, [&](Accessor& a) {
    PutArgs p;
    p.value = value;
    p.cas = cas;  // meta E: the client chooses the CAS
    return a.Put(p, nullptr);
  });
}

// flush_all hides at once and frees on the next Maintain, as memcached's lazy flush: a get
// in between misses and counts get_flushed.
TEST(Store, FlushAllHidesAtOnceAndMaintainFreesTheMemory) {
  ManualClock clock;
  Store s(SmallOptions(), &clock);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(Put(s, "k" + std::to_string(i), "v"), PutStatus::kOk);
  s.FlushAll(0);
  EXPECT_EQ(Get(s, "k1"), "<miss>");
  EXPECT_EQ(s.Stats().get_flushed, 1u);
  EXPECT_EQ(s.Stats().curr_items, 99u);  // not walked yet
  s.Maintain();
  EXPECT_EQ(s.Stats().curr_items, 0u);
  EXPECT_EQ(Get(s, "k2"), "<miss>");
  EXPECT_EQ(s.Stats().get_flushed, 1u);
  ASSERT_EQ(Put(s, "k3", "new"), PutStatus::kOk);
  EXPECT_EQ(Get(s, "k3"), "new");
}

// A CAS chosen below the flush boundary (the boundary is a clock reading, so any small E
// value is) must not make a store after the flush read as flushed, before or after the
// walk; one stored before the flush goes with it.
TEST(Store, ClientChosenCasBelowAPendingFlushStaysLive) {
  ManualClock clock;
  Store s(SmallOptions(), &clock);
  ASSERT_EQ(PutWithCas(s, "old-e", "v", 7), PutStatus::kOk);
  ASSERT_EQ(PutWithCas(s, "old-e2", "v", 9), PutStatus::kOk);
  for (int i = 0; i < 50; ++i) ASSERT_EQ(Put(s, "k" + std::to_string(i), "v"), PutStatus::kOk);
  s.FlushAll(0);
  ASSERT_EQ(PutWithCas(s, "new-e", "x", 5), PutStatus::kOk);
  ASSERT_EQ(PutWithCas(s, "old-e", "y", 6), PutStatus::kOk);
  EXPECT_EQ(Get(s, "new-e"), "x");
  EXPECT_EQ(Get(s, "old-e"), "y");
  EXPECT_EQ(Get(s, "old-e2"), "<miss>");
  for (int i = 0; i < 50; ++i) EXPECT_EQ(Get(s, "k" + std::to_string(i)), "<miss>") << i;
  s.Maintain();
  EXPECT_EQ(Get(s, "new-e"), "x");
  EXPECT_EQ(Get(s, "old-e"), "y");
  EXPECT_EQ(s.Stats().curr_items, 2u);
  // A second flush takes them too.
  s.FlushAll(0);
  EXPECT_EQ(Get(s, "new-e"), "<miss>");
  s.Maintain();
  EXPECT_EQ(s.Stats().curr_items, 0u);
}

// A store's lookup of a dead key takes the item out and counts its memory reclaimed even
// when the store then does not happen (a replace): nothing dead stays linked.
TEST(Store, StoreLookupOfADeadKeyReclaimsIt) {
  ManualClock clock;
  Store s(SmallOptions(), &clock);
  uint32_t now = clock.NowSeconds();
  ASSERT_EQ(Put(s, "gone", "v", now + 1), PutStatus::kOk);
  clock.Advance(2000);
  bool found = s.Access("gone", [](Accessor& a) { return static_cast<bool>(a.FindForStore()); });
  EXPECT_FALSE(found);
  EXPECT_EQ(s.Stats().reclaimed, 1u);
  EXPECT_EQ(s.Stats().curr_items, 0u);
  EXPECT_EQ(s.Stats().get_expired, 0u);  // not a get
}

// A store over an item of the same size is written in place: the accounting, the
// value, the CAS and the item's place in the LRU are what a fresh item would have.
TEST(Store, OverwriteInPlaceIsAFreshItem) {
  ManualClock clock;
  Options o = SmallOptions();
  o.shard_bits = 0;  // one LRU, so the eviction order is exact
  o.max_bytes = 200 * 1024;
  Store s(o, &clock);
  std::string v(1000, 'x');
  ASSERT_EQ(Put(s, "old", v), PutStatus::kOk);
  uint64_t cas1 = s.Access("old", [](Accessor& a) { return a.Find().cas(); });
  uint64_t used = s.used_bytes(), bytes = s.Stats().bytes;
  for (char c = 'a'; c <= 'e'; ++c) ASSERT_EQ(Put(s, "old", std::string(1000, c)), PutStatus::kOk);
  EXPECT_EQ(Get(s, "old"), std::string(1000, 'e'));
  EXPECT_EQ(s.used_bytes(), used);
  EXPECT_EQ(s.Stats().bytes, bytes);
  EXPECT_EQ(s.Stats().curr_items, 1u);
  EXPECT_EQ(s.Stats().total_items, 6u);
  EXPECT_GT(s.Access("old", [](Accessor& a) { return a.Find().cas(); }), cas1);
  // Rewritten last, "old" is now the most recent: the keys stored before it go first.
  for (int i = 0; i < 100; ++i) Put(s, "k" + std::to_string(i), v);
  ASSERT_EQ(Put(s, "old", v), PutStatus::kOk);
  for (int i = 100; i < 220; ++i) Put(s, "k" + std::to_string(i), v);
  EXPECT_GT(s.Stats().evictions, 0u);
  EXPECT_EQ(Get(s, "k0"), "<miss>");
  EXPECT_EQ(Get(s, "old"), v);
}

// Sizes that do not fit the old memory take a new allocation; what is charged follows.
TEST(Store, OverwriteWithAnotherSizeMovesTheItem) {
  ManualClock clock;
  Store s(SmallOptions(), &clock);
  ASSERT_EQ(Put(s, "big", std::string(64 << 10, 'a')), PutStatus::kOk);
  uint64_t big = s.Stats().bytes;
  ASSERT_EQ(Put(s, "big", std::string(60 << 10, 'b')), PutStatus::kOk);  // within an eighth
  EXPECT_EQ(s.Stats().bytes, big);
  ASSERT_EQ(Put(s, "big", std::string(8 << 10, 'c')), PutStatus::kOk);
  EXPECT_LT(s.Stats().bytes, big / 4);
  EXPECT_EQ(Get(s, "big"), std::string(8 << 10, 'c'));
  ASSERT_EQ(Put(s, "big", "small"), PutStatus::kOk);  // back into a slab chunk
  EXPECT_LT(s.Stats().bytes, 200u);
  EXPECT_EQ(Get(s, "big"), "small");
  EXPECT_EQ(s.Stats().curr_items, 1u);
}

// A value built from the old one (append, prepend) is never written over its source.
TEST(Store, AppendAndPrependOfTheSameSizeClassReadTheOldValue) {
  ManualClock clock;
  Store s(SmallOptions(), &clock);
  ASSERT_EQ(Put(s, "a", std::string(3000, 'm')), PutStatus::kOk);
  s.Access("a", [](Accessor& a) {
    ItemRef old = a.Find();
    PutArgs p;
    p.value = "<";
    p.suffix = old.value();
    return a.Put(p, nullptr);
  });
  s.Access("a", [](Accessor& a) {
    ItemRef old = a.Find();
    PutArgs p;
    p.prefix = old.value();
    p.value = ">";
    return a.Put(p, nullptr);
  });
  EXPECT_EQ(Get(s, "a"), "<" + std::string(3000, 'm') + ">");
}

TEST(Store, ConcurrentWritersKeepCountsExact) {
  ManualClock clock;
  Options o;
  o.shard_bits = 4;
  Store s(o, &clock);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&s, t] {
      for (int i = 0; i < 5000; ++i) Put(s, "t" + std::to_string(t) + "-" + std::to_string(i), "v");
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(s.Stats().curr_items, 20000u);
}

}  // namespace
}  // namespace syncached::storage

namespace syncached::storage {
namespace {

record::ChangeView PutChange(std::string_view key, std::string_view value, uint64_t hlc,
                             uint16_t node) {
  return record::ChangeView{record::Kind::kPut, {hlc, node}, key, value, 7, 0};
}

Options Replicated() {
  Options o = SmallOptions();
  o.replicated = true;
  o.node_id = 1;
  return o;
}

TEST(StoreApply, NewestVersionWinsWhateverTheOrder) {
  ManualClock clock;
  std::vector<record::ChangeView> changes = {
      PutChange("k", "a", 100, 2), PutChange("k", "b", 300, 3), PutChange("k", "c", 200, 2),
      PutChange("k", "d", 300, 2)};
  std::sort(changes.begin(), changes.end(),
            [](const auto& x, const auto& y) { return x.value < y.value; });
  do {
    Store s(Replicated(), &clock);
    for (const auto& c : changes) s.Apply(c);
    EXPECT_EQ(Get(s, "k"), "b");  // hlc 300 @ node 3 beats hlc 300 @ node 2
  } while (std::next_permutation(changes.begin(), changes.end(),
                                 [](const auto& x, const auto& y) { return x.value < y.value; }));
}

TEST(StoreApply, TombstoneStopsAnOlderWrite) {
  ManualClock clock;
  Store s(Replicated(), &clock);
  s.Apply(PutChange("k", "v1", 100, 2));
  s.Apply(record::ChangeView{record::Kind::kDelete, {200, 3}, "k", {}, 0, 0});
  EXPECT_EQ(s.Apply(PutChange("k", "late", 150, 2)), ApplyResult::kStale);
  EXPECT_EQ(Get(s, "k"), "<miss>");
  EXPECT_EQ(s.Apply(PutChange("k", "new", 250, 2)), ApplyResult::kApplied);
  EXPECT_EQ(Get(s, "k"), "new");
  EXPECT_EQ(s.conflicts(), 1u);
}

TEST(StoreApply, LocalDeleteLeavesTombstoneWhenReplicated) {
  ManualClock clock;
  Store s(Replicated(), &clock);
  Put(s, "k", "v");
  uint64_t before = s.hlc().Last();
  s.Access("k", [](Accessor& a) {
    a.Delete();
    return 0;
  });
  EXPECT_EQ(s.Apply(PutChange("k", "old", before, 9)), ApplyResult::kStale);
  EXPECT_EQ(s.tombstones(), 1u);
}

TEST(StoreApply, FlushFloorRefusesOlderWrites) {
  ManualClock clock;
  Store s(Replicated(), &clock);
  s.Apply(PutChange("a", "1", 100, 2));
  s.Apply(record::ChangeView{record::Kind::kFlush, {200, 2}, {}, {}, 0, 0});
  EXPECT_EQ(Get(s, "a"), "<miss>");
  EXPECT_EQ(s.Apply(PutChange("b", "old", 150, 3)), ApplyResult::kStale);
  EXPECT_EQ(s.Apply(PutChange("b", "new", 250, 3)), ApplyResult::kApplied);
}

// A write with the flush's very HLC reading from another node is concurrent with it:
// the origin's flush hides only lower readings, so every replica must keep it too.
TEST(StoreApply, FlushKeepsAnotherNodesWriteOfTheSameReading) {
  ManualClock clock;
  Store s(Replicated(), &clock);
  s.Apply(PutChange("tie", "1", 200, 1));
  s.Apply(PutChange("older", "1", 199, 9));
  s.Apply(record::ChangeView{record::Kind::kFlush, {200, 3}, {}, {}, 0, 0});
  EXPECT_EQ(Get(s, "tie"), "1");
  EXPECT_EQ(Get(s, "older"), "<miss>");
  EXPECT_EQ(s.Apply(PutChange("late", "1", 200, 2)), ApplyResult::kApplied);
  EXPECT_EQ(s.Apply(PutChange("late2", "1", 199, 2)), ApplyResult::kStale);
}

// Another node of the cluster (node 5).
Options ReplicaOptions() {
  Options o = Replicated();
  o.node_id = 5;
  return o;
}

// A full copy of src into dst, shard by shard, as replication sends one.
void CopyInto(Store& src, Store& dst) {
  for (size_t i = 0; i < src.shard_count(); ++i) {
    src.SnapshotShard(i, [&](const record::ChangeView& c) { dst.Apply(c); });
  }
}

TEST(StoreApply, SnapshotCarriesItemsAndTombstonesWithVersions) {
  ManualClock clock;
  Store src(Replicated(), &clock);
  src.Apply(PutChange("a", "1", 100, 2));
  src.Apply(PutChange("b", "2", 110, 2));
  src.Apply(record::ChangeView{record::Kind::kDelete, {120, 2}, "b", {}, 0, 0});
  Store dst(ReplicaOptions(), &clock);
  CopyInto(src, dst);
  EXPECT_EQ(Get(dst, "a"), "1");
  EXPECT_EQ(dst.Apply(PutChange("b", "late", 115, 3)), ApplyResult::kStale);
  uint64_t cas = dst.Access("a", [](Accessor& acc) { return acc.Find().cas(); });
  EXPECT_EQ(cas, 100u);  // the same version gives the same CAS on every replica
}

TEST(StoreApply, SnapshotCarriesTheVersionOfAnExpiredUpdate) {
  ManualClock clock;
  Store src(Replicated(), &clock);
  Store dst(ReplicaOptions(), &clock);
  dst.Apply(PutChange("k", "old, no expiry", 100, 2));
  uint32_t soon = clock.NowSeconds() + 1;
  src.Apply(record::ChangeView{record::Kind::kPut, {200, 2}, "k", "new, short", 0, soon});
  clock.Advance(2000);
  CopyInto(src, dst);
  EXPECT_EQ(Get(dst, "k"), "<miss>");
  EXPECT_EQ(dst.Apply(PutChange("k", "late", 150, 2)), ApplyResult::kStale);
}

TEST(StoreApply, SweepDropsOnlyTheUncarriedItemsOfThatOrigin) {
  ManualClock clock;
  Store s(Replicated(), &clock);
  s.Apply(PutChange("kept", "1", 100, 2));
  s.Apply(PutChange("gone", "2", 110, 2));
  s.Apply(PutChange("other", "3", 120, 3));  // another origin: not this sweep's
  s.Apply(PutChange("after", "5", 900, 2));  // newer than the copy's end: not judged
  Put(s, "ours", "4");
  uint64_t swept = s.SweepOrigin(2, 500, [](std::string_view key) { return key == "kept"; });
  EXPECT_EQ(swept, 1u);
  EXPECT_EQ(Get(s, "after"), "5");
  EXPECT_EQ(Get(s, "kept"), "1");
  EXPECT_EQ(Get(s, "gone"), "<miss>");
  EXPECT_EQ(Get(s, "other"), "3");
  EXPECT_EQ(Get(s, "ours"), "4");
  // The sweep's delete refuses the item's version arriving late, not a newer one.
  EXPECT_EQ(s.Apply(PutChange("gone", "late", 110, 2)), ApplyResult::kStale);
  EXPECT_EQ(s.Apply(PutChange("gone", "new", 200, 2)), ApplyResult::kApplied);
}

void DeleteKey(Store& s, std::string_view key) {
  s.Access(key, [](Accessor& a) {
    a.Delete();
    return 0;
  });
}

TEST(StoreApply, OwnDeletesAreWholeOnlyWhileTheirTombstonesAreKept) {
  ManualClock clock;
  Options o = Replicated();
  o.tombstone_ttl = 100;
  Store s(o, &clock);
  Put(s, "k", "v");
  uint64_t start = s.hlc().Last();
  DeleteKey(s, "k");
  EXPECT_TRUE(s.HoldsOwnDeletesSince(start));
  clock.Advance(80'000);  // past three quarters of the lifetime: skew could have purged it
  EXPECT_FALSE(s.HoldsOwnDeletesSince(start));
  Put(s, "k2", "v");
  EXPECT_TRUE(s.HoldsOwnDeletesSince(s.hlc().Last()));
  clock.Advance(30'000);
  s.Maintain();
  EXPECT_EQ(s.tombstones(), 0u);
}

TEST(StoreApply, OwnDeletesPurgedByNumberAreNotWhole) {
  ManualClock clock;
  Options o = Replicated();
  o.max_tombstones = 4;  // one per shard
  Store s(o, &clock);
  Put(s, "first", "v");
  uint64_t start = s.hlc().Last();
  for (int i = 0; i < 20; ++i) {
    Put(s, "k" + std::to_string(i), "v");
    DeleteKey(s, "k" + std::to_string(i));
  }
  EXPECT_TRUE(s.HoldsOwnDeletesSince(start));
  s.Maintain();
  EXPECT_LE(s.tombstones(), 4u);
  EXPECT_FALSE(s.HoldsOwnDeletesSince(start));
  Put(s, "later", "v");
  EXPECT_TRUE(s.HoldsOwnDeletesSince(s.hlc().Last()));
}

}  // namespace
}  // namespace syncached::storage
