// Per-bucket digests and the tree over them.
#include <gtest/gtest.h>

#include "tests/unit/repair/replica.h"

namespace syncached::repair {
namespace {

using testing::Replica;

TEST(Digests, OrderDoesNotMatterAndRemoveUndoesAdd) {
  Replica a, b;
  for (int i = 0; i < 1000; ++i) a.Put("k" + std::to_string(i), 100 + i);
  for (int i = 999; i >= 0; --i) b.Put("k" + std::to_string(i), 100 + i);
  EXPECT_EQ(Tree(a.digests).root(), Tree(b.digests).root());
  for (int i = 0; i < 1000; ++i) a.Drop("k" + std::to_string(i));
  for (uint32_t bucket = 0; bucket < a.digests.buckets(); ++bucket) {
    EXPECT_EQ(a.digests.bucket(bucket), 0u);
  }
}

TEST(Digests, VersionNodeAndTombstoneEachCount) {
  Replica base;
  base.Put("k", 5, 1, false);
  uint64_t root = Tree(base.digests).root();
  for (auto [hlc, node, tomb] : {std::tuple{6, 1, false}, {5, 2, false}, {5, 1, true}}) {
    Replica r;
    r.Put("k", hlc, static_cast<uint16_t>(node), tomb);
    EXPECT_NE(Tree(r.digests).root(), root);
  }
}

TEST(Tree, OneChangeMovesOneLeafAndItsAncestors) {
  Replica a, b;
  for (int i = 0; i < 5000; ++i) {
    a.Put("key:" + std::to_string(i), 7);
    b.Put("key:" + std::to_string(i), 7);
  }
  b.Put("key:42", 8);
  Tree ta(a.digests), tb(b.digests);
  ASSERT_EQ(ta.levels(), 4);  // 4096 buckets, then 256, 16, 1
  EXPECT_EQ(ta.width(0), 4096u);
  EXPECT_EQ(ta.width(3), 1u);
  uint32_t leaf = BucketOf("key:42", 12);
  for (int level = 0; level < ta.levels(); ++level) {
    for (uint32_t i = 0; i < ta.width(level); ++i) {
      EXPECT_EQ(ta.node(level, i) != tb.node(level, i), i == leaf >> (4 * level))
          << level << " " << i;
    }
  }
}

TEST(Tree, SmallestTreeIsALeafLevelAndARoot) {
  Digests d(4);
  Tree t(d);
  EXPECT_EQ(t.levels(), 2);
  EXPECT_EQ(t.width(0), 16u);
}

}  // namespace
}  // namespace syncached::repair
