#include <gtest/gtest.h>

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
