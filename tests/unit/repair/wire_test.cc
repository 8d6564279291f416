// The comparison's messages round-trip, and lies about sizes are refused.
#include "repair/wire.h"

#include <gtest/gtest.h>

namespace syncached::repair {
namespace {

TEST(RepairWire, RoundTrips) {
  HashesMsg h{12, 2, {{0, 1}, {15, ~0ull}}};
  HashesMsg h2;
  ASSERT_TRUE(DecodeHashes(EncodeHashes(h), &h2));
  EXPECT_EQ(h2.bits, 12);
  EXPECT_EQ(h2.level, 2);
  EXPECT_EQ(h2.nodes, h.nodes);

  KeysMsg k;
  k.bits = 8;
  k.last = true;
  k.buckets.push_back({0, 3, true, {{"a", {5, 2}, false}, {"bb", {6, 1}, true}}});
  k.buckets.push_back({0, 255, false, {}});
  k.buckets.push_back({1, 15, false, {}});  // the buckets below a node of level 1
  KeysMsg k2;
  ASSERT_TRUE(DecodeKeys(EncodeKeys(k), &k2));
  EXPECT_TRUE(k2.last);
  ASSERT_EQ(k2.buckets.size(), 3u);
  EXPECT_TRUE(k2.buckets[0].evicted);
  EXPECT_EQ(k2.buckets[0].keys, k.buckets[0].keys);
  EXPECT_EQ(k2.buckets[1].index, 255u);
  EXPECT_EQ(k2.buckets[2].level, 1);
  EXPECT_EQ(k2.buckets[2].index, 15u);

  std::vector<std::string> w;
  ASSERT_TRUE(DecodeWant(EncodeWant({"x", "", "yz"}), &w));
  EXPECT_EQ(w, (std::vector<std::string>{"x", "", "yz"}));
}

TEST(RepairWire, RefusesWhatDoesNotFit) {
  HashesMsg h;
  std::string m = EncodeHashes({12, 1, {{1, 2}}});
  EXPECT_FALSE(DecodeHashes(m.substr(0, m.size() - 1), &h));  // short
  EXPECT_FALSE(DecodeHashes(m + "x", &h));                    // trailing bytes
  EXPECT_FALSE(DecodeHashes(EncodeHashes({12, 4, {}}), &h));  // level past the root
  EXPECT_FALSE(DecodeHashes(EncodeHashes({10, 0, {}}), &h));  // bits not a multiple of 4
  KeysMsg k;
  std::string keys = EncodeKeys({8, false, {{0, 256, false, {}}}});  // bucket past 2^8
  EXPECT_FALSE(DecodeKeys(keys, &k));
  keys = EncodeKeys({8, false, {{1, 16, false, {}}}});  // node past level 1's 16
  EXPECT_FALSE(DecodeKeys(keys, &k));
  keys = EncodeKeys({8, false, {{3, 0, false, {}}}});  // level past the root (2)
  EXPECT_FALSE(DecodeKeys(keys, &k));
  std::string many = EncodeKeys({8, false, {}});
  many[6] = '\x7f';  // 0x7f000000 buckets claimed
  EXPECT_FALSE(DecodeKeys(many, &k));
  std::vector<std::string> w;
  std::string want = EncodeWant({"abc"});
  want[6] = '\x09';  // a key longer than what follows
  EXPECT_FALSE(DecodeWant(want, &w));
}

}  // namespace
}  // namespace syncached::repair
