// flush_all and Maintain: lazy flushes, the walk that frees them, and the crawler.
#include <gtest/gtest.h>

#include <string>

#include "storage/storage.h"
#include "tests/unit/storage/store_test_util.h"

namespace syncached::storage {
namespace {

TEST(Store, MaintainReclaimsExpired) {
  ManualClock clock;
  Store s(SmallOptions(), &clock);
  for (int i = 0; i < 100; ++i) Put(s, "k" + std::to_string(i), "v", clock.NowSeconds() + 1);
  clock.Advance(2000);
  for (int i = 0; i < 8; ++i) s.Maintain();
  EXPECT_EQ(s.Stats().curr_items, 0u);
  EXPECT_EQ(s.Stats().crawler_reclaimed, 100u);
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

}  // namespace
}  // namespace syncached::storage
