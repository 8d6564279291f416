// The store's counters as `stats`, `stats items` and `stats slabs` read them, and the
// size class engine asks for per request.
#include <gtest/gtest.h>

#include <string>

#include "storage/storage.h"
#include "tests/unit/storage/store_test_util.h"

namespace syncached::storage {
namespace {

PutStatus PutWithFlags(Store& s, std::string_view key, std::string_view value, uint32_t flags) {
  return s.Access(key, [&](Accessor& a) {
    PutArgs p;
    p.value = value;
    p.flags = flags;
    return a.Put(p, nullptr);
  });
}

// The class engine counts a command in is the one `stats items` counts the item in, and
// it is memcached's: the smallest chunk that holds memcached's item size (48 B header +
// 8 B CAS + key + 1 + 4 with flags + value + 2).
TEST(Store, SizeClassOfIsTheClassItemsAreCountedIn) {
  ManualClock clock;
  Store s(SmallOptions(), &clock);
  std::vector<ClassStats> empty = s.ClassStatsSnapshot();
  ASSERT_GT(empty.size(), 2u);
  int n = 0;
  for (size_t vlen : {size_t{0}, size_t{20}, size_t{29}, size_t{30}, size_t{500}, size_t{600000}}) {
    for (uint32_t flags : {0u, 7u}) {
      std::string key = "key" + std::to_string(n++);
      ASSERT_EQ(PutWithFlags(s, key, std::string(vlen, 'v'), flags), PutStatus::kOk);
      uint32_t cls = s.SizeClassOf(key.size(), vlen, flags);
      size_t memcached_size = 56 + key.size() + 1 + (flags ? 4 : 0) + vlen + 2;
      ASSERT_GE(cls, 1u);
      ASSERT_LE(cls, empty.size());
      ClassStats c = s.ClassStatsSnapshot()[cls - 1];
      EXPECT_EQ(c.id, cls);
      EXPECT_GE(c.items, 1u) << key;
      if (cls < empty.size()) {  // the last class holds larger items in several chunks
        EXPECT_GE(c.chunk_size, memcached_size) << key;
      }
      if (cls > 1) {
        EXPECT_LT(empty[cls - 2].chunk_size, memcached_size) << key;
      }
    }
  }
  uint64_t items = 0;
  for (const ClassStats& c : s.ClassStatsSnapshot()) items += c.items;
  EXPECT_EQ(items, s.Stats().curr_items);
}

// `stats reset` clears the counters, not what the store holds.
TEST(Store, ResetClearsCountersNotGauges) {
  ManualClock clock;
  Options o = SmallOptions();
  o.item_size_max = 1024;
  Store s(o, &clock);
  ASSERT_EQ(Put(s, "a", "1"), PutStatus::kOk);
  ASSERT_EQ(Put(s, "b", "2", clock.NowSeconds() + 1), PutStatus::kOk);
  EXPECT_EQ(Put(s, "big", std::string(2048, 'x')), PutStatus::kTooLarge);
  clock.Advance(2000);
  EXPECT_EQ(Get(s, "b"), "<miss>");
  StoreStats before = s.Stats();
  EXPECT_EQ(before.total_items, 2u);
  EXPECT_EQ(before.get_expired, 1u);
  EXPECT_EQ(before.store_too_large, 1u);
  s.ResetStats();
  StoreStats after = s.Stats();
  EXPECT_EQ(after.total_items, 0u);
  EXPECT_EQ(after.get_expired, 0u);
  EXPECT_EQ(after.store_too_large, 0u);
  EXPECT_EQ(after.curr_items, 1u);
  EXPECT_EQ(after.bytes, before.bytes);
}

// Every class counter, evicted_nonzero and evicted_time too, as memcached's
// item_stats_reset clears them all; a store that holds nothing reports zeros.
TEST(Store, ResetClearsEveryClassCounter) {
  ManualClock clock;
  Options o = SmallOptions();
  o.max_bytes = 4 << 20;
  Store s(o, &clock);
  for (const ClassStats& c : s.ClassStatsSnapshot()) EXPECT_EQ(c.items + c.evicted, 0u);
  std::string v(1000, 'x');
  for (int i = 0; i < 8000; ++i) {
    ASSERT_EQ(Put(s, "k" + std::to_string(i), v, clock.NowSeconds() + 3600), PutStatus::kOk);
  }
  auto sum = [&](auto field) {
    uint64_t n = 0;
    for (const ClassStats& c : s.ClassStatsSnapshot()) n += field(c);
    return n;
  };
  uint64_t items = sum([](const ClassStats& c) { return c.items; });
  ASSERT_GT(sum([](const ClassStats& c) { return c.evicted; }), 0u);
  ASSERT_GT(sum([](const ClassStats& c) { return c.evicted_nonzero; }), 0u);
  s.ResetStats();
  EXPECT_EQ(sum([](const ClassStats& c) { return c.evicted + c.evicted_nonzero; }), 0u);
  EXPECT_EQ(sum([](const ClassStats& c) { return uint64_t{c.evicted_time}; }), 0u);
  EXPECT_EQ(sum([](const ClassStats& c) { return c.items; }), items);
}

}  // namespace
}  // namespace syncached::storage
