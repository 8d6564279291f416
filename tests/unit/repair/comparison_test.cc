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

// A node that holds nothing below a differing tree node says so at that level:
// neither side descends further or lists keys there.
TEST(Comparison, AnEmptySideEndsTheDescentEarly) {
  for (bool empty_starts : {false, true}) {
    Replica full(16), empty(16);
    Fill(full, 100000);
    auto o = empty_starts ? Compare(empty, full) : Compare(full, empty);
    ASSERT_TRUE(o.ok);
    const auto& pushes = empty_starts ? o.b_pushes : o.a_pushes;
    EXPECT_EQ(pushes.size(), 100000u);
    EXPECT_TRUE((empty_starts ? o.a_pushes : o.b_pushes).empty());
    EXPECT_LT(o.a.bytes_out + o.b.bytes_out, 512u) << empty_starts;
    EXPECT_EQ(full.listings, 1);
    EXPECT_EQ(empty.listings, 0);
  }
}

// A node joining holds a few recent writes: only the nodes above them are
// descended, and the keys it lacks travel without being listed.
TEST(Comparison, ANearlyEmptySideExchangesLittle) {
  Replica full(16), joining(16);
  Fill(full, 100000);
  for (int i = 0; i < 100; ++i) joining.Put("item:" + std::to_string(i * 7), 5000000);
  auto o = Compare(joining, full);
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.b_pushes.size(), 100000u - 100u);
  EXPECT_EQ(o.a_pushes.size(), 100u);                     // newer there
  EXPECT_LT(o.a.bytes_out + o.b.bytes_out, 160u * 1024);  // listing all: ~2.3 MB
  full.PushTo(joining, o.b_pushes);
  joining.PushTo(full, o.a_pushes);
  EXPECT_EQ(Tree(full.digests).root(), Tree(joining.digests).root());
}

// Sparse replicas (a few keys per node of the tree's lower levels) list those few
// keys instead of comparing the buckets' hashes below them.
TEST(Comparison, FewKeysBelowANodeAreListedNotDescended) {
  Replica a(16), b(16);
  for (int i = 0; i < 3000; ++i) {
    std::string key = "s:" + std::to_string(i);
    if (i % 10 != 1) a.Put(key, 100);
    if (i % 10 != 2) b.Put(key, 100);
  }
  auto o = Compare(a, b);
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.a_pushes.size(), 300u);
  EXPECT_EQ(o.b_pushes.size(), 300u);
  // Hashes down to the 4096 nodes of level 1 (49 KB), then keys; the buckets' hashes
  // below the ~600 differing ones would add 115 KB.
  EXPECT_LT(o.a.bytes_out + o.b.bytes_out, 100u * 1024);
  a.PushTo(b, o.a_pushes);
  b.PushTo(a, o.b_pushes);
  EXPECT_EQ(Tree(a.digests).root(), Tree(b.digests).root());
}

// Below a node where the empty side evicted, it does not end the descent early:
// only the evicted bucket keeps what it lacks, the rest is pushed.
TEST(Comparison, AnEmptySideThatEvictedIsComparedBucketByBucket) {
  Replica full(8), empty(8);
  Fill(full, 5000);
  empty.Put("item:1", 1000 + 1);
  empty.Evict("item:1");
  auto o = Compare(full, empty);
  ASSERT_TRUE(o.ok);
  uint32_t evicted = BucketOf("item:1", 8);
  size_t in_evicted = 0;
  for (const auto& [key, k] : full.items) in_evicted += BucketOf(key, 8) == evicted;
  EXPECT_EQ(o.a_pushes.size(), 5000u - in_evicted);
  for (const std::string& k : o.a_pushes) EXPECT_NE(BucketOf(k, 8), evicted) << k;
}

// Pull only: the joining side sends only what the peer asks for.
TEST(Comparison, PullOnlyTakesEverythingFromAFullPeer) {
  Replica full(12), joining(12);
  Fill(full, 3000);
  joining.Put("only-joining", 1);
  auto o = Compare(joining, full, /*a_pulls=*/true);
  ASSERT_TRUE(o.ok);
  const auto& gives = o.a_pushes;
  EXPECT_TRUE(gives.empty() || gives == std::vector<std::string>{"only-joining"});
  EXPECT_EQ(o.b_pushes.size(), 3000u);
}

// A key the peer lists that this node would not keep (another node's, in a handover
// whose initiator lists everything it holds) is not asked for.
TEST(Comparison, KeysThisNodeDoesNotTakeAreNotAskedFor) {
  Replica full, joining;
  Fill(full, 2000);
  for (int i = 0; i < 50; ++i) joining.Put("theirs:" + std::to_string(i), 5);
  for (int i = 0; i < 50; ++i) joining.Put("mine:" + std::to_string(i), 5);
  full.takes = [](std::string_view key) { return key.substr(0, 7) != "theirs:"; };
  auto o = Compare(joining, full, /*a_pulls=*/true);
  ASSERT_TRUE(o.ok);
  const auto& gives = o.a_pushes;
  EXPECT_EQ(o.b_pushes.size(), 2000u);
  EXPECT_FALSE(gives.empty());  // asked for some of its own
  for (const std::string& k : gives) EXPECT_EQ(k.substr(0, 5), "mine:") << k;
}

TEST(Comparison, KeysGoInBoundedMessages) {
  Replica a(4), b(4);  // 16 buckets: every bucket differs, each with many keys
  for (int i = 0; i < 40000; ++i) a.Put("big:" + std::to_string(i), 1);
  for (int i = 0; i < 200; ++i) b.Put("lonely:" + std::to_string(i), 1);  // every bucket
  auto o = Compare(a, b);
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.a_pushes.size(), 40000u);
  EXPECT_EQ(o.b_pushes.size(), 200u);
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
