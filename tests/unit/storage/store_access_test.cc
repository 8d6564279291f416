// The per-key path: stores, lookups, expiry on access, in-place overwrites, CAS and the
// change records mutations publish.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "storage/storage.h"
#include "tests/unit/storage/store_test_util.h"

namespace syncached::storage {
namespace {

class RecordingSink : public record::Sink {
 public:
  void OnChange(const record::ChangeView& c) override { changes.emplace_back(c); }
  std::vector<record::Change> changes;
};

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

// Flags take room only when they are not 0, which moves the key: stores that add or
// drop flags, in a slab chunk and written in place over a malloc'd item, read back whole.
TEST(Store, FlagsComeAndGoWithTheKeyAndValueIntact) {
  ManualClock clock;
  Store s(SmallOptions(), &clock);
  auto put = [&](std::string_view key, const std::string& value, uint32_t flags) {
    return s.Access(key, [&](Accessor& a) {
      PutArgs p;
      p.value = value;
      p.flags = flags;
      return a.Put(p, nullptr);
    });
  };
  auto read = [&](std::string_view key) {
    return s.Access(key, [&](Accessor& a) {
      ItemRef it = a.Find();
      EXPECT_TRUE(it);
      EXPECT_EQ(it.key(), key);
      return std::make_pair(std::string(it.value()), it.flags());
    });
  };
  for (size_t vlen : {size_t{1}, size_t{100}, size_t{3000}}) {
    std::string key = "key-" + std::to_string(vlen);
    for (uint32_t flags : {0u, 0xdeadbeefu, 1u, 0u, 0u, UINT32_MAX}) {
      std::string value(vlen, static_cast<char>('a' + flags % 26));
      ASSERT_EQ(put(key, value, flags), PutStatus::kOk);
      EXPECT_EQ(read(key), std::make_pair(value, flags)) << vlen << " " << flags;
    }
  }
  uint64_t large = s.Stats().bytes;
  ASSERT_EQ(put("key-3000", std::string(3000, 'z'), 0), PutStatus::kOk);  // in place
  EXPECT_EQ(s.Stats().bytes, large);
  EXPECT_EQ(read("key-3000"), std::make_pair(std::string(3000, 'z'), 0u));
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
