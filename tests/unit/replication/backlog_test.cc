#include <gtest/gtest.h>

#include "replication/impl.h"

namespace syncached::replication {
namespace {

TEST(Backlog, FindsTheBatchHoldingASequence) {
  Backlog b(1 << 20);
  b.Append(1, 10, 100, "a");
  b.Append(11, 5, 200, "b");
  uint64_t first, hlc;
  uint32_t count;
  const std::string* m = b.Find(12, &first, &count, &hlc);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(*m, "b");
  EXPECT_EQ(first, 11u);
  EXPECT_EQ(hlc, 200u);  // the clock after its changes: where a delta copy would start
  EXPECT_EQ(b.Find(16, &first, &count, &hlc), nullptr);  // not written yet
  EXPECT_EQ(b.next_seq(), 16u);
}

TEST(Backlog, StaysWithinItsBoundDroppingTheOldest) {
  Backlog b(100);
  for (uint64_t i = 0; i < 50; ++i) b.Append(1 + i, 1, i, std::string(10, 'x'));
  EXPECT_LE(b.bytes(), 100u);
  uint64_t first, hlc;
  uint32_t count;
  EXPECT_EQ(b.Find(1, &first, &count, &hlc), nullptr);  // fell out: a copy is needed
  EXPECT_NE(b.Find(50, &first, &count, &hlc), nullptr);
  EXPECT_EQ(b.front_seq(), 41u);
}

TEST(Backlog, KeepsWhatAFullCopyInProgressResumesFromUpToAHardCap) {
  Backlog b(100);
  b.set_pin(5);  // a copy resumes streaming at seq 5
  for (uint64_t i = 0; i < 30; ++i) b.Append(1 + i, 1, i, std::string(10, 'x'));
  EXPECT_EQ(b.front_seq(), 5u);  // 1..4 dropped, 5.. kept past the bound
  EXPECT_GT(b.bytes(), 100u);
  b.set_pin(UINT64_MAX);  // the copy finished
  b.Append(31, 1, 31, std::string(10, 'x'));
  EXPECT_LE(b.bytes(), 100u);

  Backlog capped(100);  // hard cap: 4 x the bound
  capped.set_pin(1);
  for (uint64_t i = 0; i < 50; ++i) capped.Append(1 + i, 1, i, std::string(10, 'x'));
  EXPECT_LE(capped.bytes(), capped.hard_cap());
  EXPECT_GT(capped.front_seq(), 1u);  // the copy restarts rather than memory grows
}

}  // namespace
}  // namespace syncached::replication
