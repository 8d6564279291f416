// Eviction under -m: LRU order within and across shards, second chances, and slab
// memory following the size mix.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "storage/storage.h"
#include "tests/unit/storage/store_test_util.h"

namespace syncached::storage {
namespace {

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

// The clock over a class's chunks: deletes free chunks anywhere in its order (a store
// takes one of them next), and a page whose items all went returns to the arena, the
// hand on it or not. Eviction keeps working, within -m, and what was stored last is
// what stays.
TEST(Store, ClockAfterDeletesAndReturnedPages) {
  ManualClock clock;
  Options o = SmallOptions();
  o.shard_bits = 0;  // one clock
  o.max_bytes = 1 << 20;
  Store s(o, &clock);
  std::string v(100, 'x');
  int next = 0;
  auto fill = [&](int n) {
    for (int i = 0; i < n; ++i, ++next) {
      ASSERT_EQ(Put(s, "k" + std::to_string(next), v), PutStatus::kOk) << next;
    }
  };
  auto del = [&](int key) {
    s.Access("k" + std::to_string(key), [](Accessor& a) {
      a.Delete();
      return 0;
    });
  };
  for (int round = 0; round < 4; ++round) {
    fill(20000);  // well past -m: evicting
    EXPECT_GT(s.Stats().evictions, 0u);
    for (int k = next - 20000; k < next; k += 2) del(k);  // every other one
    for (int k = next - 3000; k < next; ++k) del(k);      // whole pages emptied
    fill(100);
    for (int k = next - 100; k < next; ++k) ASSERT_EQ(Get(s, "k" + std::to_string(k)), v) << k;
    EXPECT_LE(s.used_bytes(), o.max_bytes);
  }
  fill(20000);
  EXPECT_LE(s.used_bytes(), o.max_bytes);
  int kept = 0;
  for (int k = next - 20000; k < next; ++k) kept += Get(s, "k" + std::to_string(k)) == v;
  // Nearly everything kept is from the last fill, and the newest of it is there. Not
  // all: a store into a chunk a delete freed just ahead of the hand goes before older
  // items behind it (here about 500 of 7,000 kept are older), where an LRU list would
  // have kept exactly the newest.
  EXPECT_GE(static_cast<uint64_t>(kept) * 10, s.Stats().curr_items * 9);
  EXPECT_EQ(Get(s, "k" + std::to_string(next - 1)), v);
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

}  // namespace
}  // namespace syncached::storage
