// Index: which digest sets a change lands in, with and without sharding.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "repair/repair.h"

namespace syncached::repair {
namespace {

// Keys name their owners: "a12:x" is held by nodes 1 and 2.
void OwnersFromKey(std::string_view key, std::vector<uint16_t>* owners) {
  owners->clear();
  for (size_t i = 1; i < key.size() && key[i] != ':'; ++i) owners->push_back(key[i] - '0');
}

TEST(Index, FullReplicationKeepsOneSetForEveryPeer) {
  Index index(12, 1, {}, nullptr);
  index.Note("k", {100, 1}, false, true);
  const Digests* d = index.For(7);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d, index.For(2));
  Digests expect(12);
  expect.Add("k", {100, 1}, false);
  EXPECT_EQ(Tree(*d).root(), Tree(expect).root());
  index.Note("k", {100, 1}, false, false);
  EXPECT_EQ(Tree(*d).root(), Tree(Digests(12)).root());
  EXPECT_TRUE(index.Shares(9, "anything"));
}

TEST(Index, ShardedSetsHoldOnlyTheKeysBothOwn) {
  Index index(8, 1, {2, 3, 4}, OwnersFromKey);
  index.Note("a12:x", {1, 1}, false, true);
  index.Note("a13:y", {2, 1}, true, true);
  index.Note("a123:z", {3, 1}, false, true);
  index.Note("a23:w", {4, 2}, false, true);  // not ours: in no set
  Digests two(8), three(8);
  two.Add("a12:x", {1, 1}, false);
  two.Add("a123:z", {3, 1}, false);
  three.Add("a13:y", {2, 1}, true);
  three.Add("a123:z", {3, 1}, false);
  EXPECT_EQ(Tree(*index.For(2)).root(), Tree(two).root());
  EXPECT_EQ(Tree(*index.For(3)).root(), Tree(three).root());
  EXPECT_EQ(Tree(*index.For(4)).root(), Tree(Digests(8)).root());
  EXPECT_EQ(index.For(9), nullptr);
  EXPECT_TRUE(index.Shares(2, "a12:x"));
  EXPECT_FALSE(index.Shares(3, "a12:x"));
  EXPECT_FALSE(index.Shares(2, "a23:w"));
}

// While handing over, "a123/14:x": owners 1, 2, 3 under both files, 1 and 4 under the new.
void BothFiles(std::string_view key, std::vector<uint16_t>* owners) {
  owners->clear();
  for (size_t i = 1; i < key.size() && key[i] != '/'; ++i) owners->push_back(key[i] - '0');
}
void NewFile(std::string_view key, std::vector<uint16_t>* owners) {
  owners->clear();
  for (size_t i = key.find('/') + 1; i < key.size() && key[i] != ':'; ++i) {
    owners->push_back(key[i] - '0');
  }
}

TEST(Index, NewNodesCountTheKeysBothOwnUnderTheNewFile) {
  Index index(8, 1, {2, 3, 4}, BothFiles);
  index.CountByNewOwners({4}, NewFile);
  EXPECT_TRUE(index.CountsByNewOwners(4));
  EXPECT_FALSE(index.CountsByNewOwners(2));
  index.Note("a124/14:x", {1, 1}, false, true);  // 1 and 4 own it under the new file
  index.Note("a124/24:y", {2, 1}, false, true);  // node 1 hands it over to 4: not shared
  index.Note("a14/4:z", {3, 1}, false, true);    // nor this
  Digests four(8), two(8);
  four.Add("a124/14:x", {1, 1}, false);
  two.Add("a124/14:x", {1, 1}, false);
  two.Add("a124/24:y", {2, 1}, false);  // node 2 counts by both files
  EXPECT_EQ(Tree(*index.For(4)).root(), Tree(four).root());
  EXPECT_EQ(Tree(*index.For(2)).root(), Tree(two).root());
  EXPECT_TRUE(index.Shares(4, "a124/14:x"));
  EXPECT_FALSE(index.Shares(4, "a124/24:y"));
  EXPECT_TRUE(index.Shares(2, "a124/24:y"));
  index.Note("a124/14:x", {1, 1}, false, false);
  EXPECT_EQ(Tree(*index.For(4)).root(), Tree(Digests(8)).root());
}

TEST(Index, EvictionsMarkTheBucketForAWhile) {
  Index index(8, 1, {2, 3}, OwnersFromKey);
  index.NoteEviction("a12:x", 1000);
  uint32_t b = BucketOf("a12:x", 8);
  EXPECT_TRUE(index.EvictedWithin(2, b, 1000, 60));
  EXPECT_TRUE(index.EvictedWithin(2, b, 1060, 60));
  EXPECT_FALSE(index.EvictedWithin(2, b, 1061, 60));
  EXPECT_FALSE(index.EvictedWithin(3, b, 1000, 60));  // not shared with node 3
  EXPECT_FALSE(index.EvictedWithin(2, (b + 1) % 256, 1000, 60));
}

}  // namespace
}  // namespace syncached::repair
