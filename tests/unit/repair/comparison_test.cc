// Two replicas compare trees and keys and end up pushing exactly what the other
// lacks or holds older.
#include <gtest/gtest.h>

#include <random>

#include "repair/wire.h"
#include "tests/unit/repair/replica.h"

namespace syncached::repair {
namespace {

using testing::Compare;
using testing::Replica;

void Fill(Replica& r, int n, uint64_t hlc = 1000) {
  for (int i = 0; i < n; ++i) r.Put("item:" + std::to_string(i), hlc + static_cast<uint64_t>(i));
}

TEST(Comparison, IdenticalReplicasExchangeOnlyRoots) {
  Replica a(16), b(16);
  Fill(a, 200000);
  Fill(b, 200000);
  auto o = Compare(a, b);
  ASSERT_TRUE(o.ok);
  EXPECT_TRUE(o.a_pushes.empty() && o.b_pushes.empty());
  EXPECT_EQ(o.a.messages_out, 1u);
  EXPECT_EQ(o.b.messages_out, 1u);
  EXPECT_LT(o.a.bytes_out + o.b.bytes_out, 64u);
}

TEST(Comparison, EachSidePushesWhatTheOtherLacksOrHoldsOlder) {
  Replica a, b;
  Fill(a, 3000);
  Fill(b, 3000);
  a.Put("only-a", 5);
  b.Put("only-b", 5);
  a.Put("item:7", 99999);           // a newer
  b.Put("item:8", 99999);           // b newer
  b.Put("item:9", 99999, 1, true);  // a delete b has and a missed
  auto o = Compare(a, b);
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.a_pushes, (std::vector<std::string>{"item:7", "only-a"}));
  EXPECT_EQ(o.b_pushes, (std::vector<std::string>{"item:8", "item:9", "only-b"}));
  a.PushTo(b, o.a_pushes);
  b.PushTo(a, o.b_pushes);
  EXPECT_EQ(Tree(a.digests).root(), Tree(b.digests).root());
  EXPECT_TRUE(Compare(a, b).a_pushes.empty());
}

TEST(Comparison, EvictionsAreNotRepairedBackButNewerVersionsAre) {
  Replica a, b;
  Fill(a, 2000);
  Fill(b, 2000);
  a.Evict("item:5");    // memory pressure on a: b must not push it back
  b.Evict("item:6");    // and the other way round
  a.Put("item:5x", 1);  // a write a has, in another bucket maybe; b lacks it
  // A newer version of a key in a's evicted bucket still travels.
  uint32_t bucket = BucketOf("item:5", 12);
  std::string same;
  for (int i = 0; i < 100000 && same.empty(); ++i) {
    std::string k = "probe:" + std::to_string(i);
    if (BucketOf(k, 12) == bucket) same = k;
  }
  ASSERT_FALSE(same.empty());
  a.Put(same, 10);
  b.Put(same, 20);
  auto o = Compare(a, b);
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.b_pushes, (std::vector<std::string>{same}));
  EXPECT_EQ(o.a_pushes, (std::vector<std::string>{"item:5x"}));
}

TEST(Comparison, RandomDivergenceConverges) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 20; ++round) {
    Replica a(8), b(8);
    int n = 1 + static_cast<int>(rng() % 3000);
    for (int i = 0; i < n; ++i) {
      std::string key = "r" + std::to_string(rng() % 5000);
      uint64_t hlc = 1 + rng() % 1000;
      bool tomb = rng() % 10 == 0;
      switch (rng() % 4) {
        case 0:
          a.Put(key, hlc, 1, tomb);
          break;
        case 1:
          b.Put(key, hlc, 2, tomb);
          break;
        default:
          a.Put(key, hlc, 1, tomb);
          b.Put(key, hlc, 1, tomb);
      }
    }
    auto o = Compare(a, b);
    ASSERT_TRUE(o.ok) << round;
    a.PushTo(b, o.a_pushes);
    b.PushTo(a, o.b_pushes);
    EXPECT_EQ(a.items, b.items) << round;
    EXPECT_EQ(Tree(a.digests).root(), Tree(b.digests).root()) << round;
  }
}

TEST(Comparison, KeysGoInBoundedMessages) {
  Replica a(4), b(4);  // 16 buckets: every bucket differs, each with many keys
  for (int i = 0; i < 40000; ++i) a.Put("big:" + std::to_string(i), 1);
  b.Put("lonely", 1);
  auto o = Compare(a, b);
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.a_pushes.size(), 40000u);
  EXPECT_EQ(o.b_pushes, (std::vector<std::string>{"lonely"}));
  EXPECT_EQ(a.listings, 1);  // one walk for all 16 buckets, however many messages
  EXPECT_EQ(b.listings, static_cast<int>(o.b.messages_in) - 1);  // one per Keys
}

TEST(Comparison, BadOrUnexpectedMessagesFailIt) {
  Replica a;
  Fill(a, 10);
  Tree t(a.digests);
  std::vector<std::string> out;
  for (std::string bad : {std::string(), std::string("\x09"), std::string("\x01\x0c\x09"),
                          EncodeWant({"x"}),                  // no Keys was sent
                          EncodeHashes({8, 0, {{0, 1}}})}) {  // another tree shape
    Comparison c(&t, &a);
    c.OnMessage(bad, &out);
    EXPECT_TRUE(c.failed()) << bad.size();
  }
  Comparison c(&t, &a);
  c.OnMessage(EncodeHashes({12, 0, {{4096, 1}}}), &out);  // index past the level
  EXPECT_TRUE(c.failed());
}

}  // namespace
}  // namespace syncached::repair
