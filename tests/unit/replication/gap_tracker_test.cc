// In-order delivery of multicast batches: gaps held and named, duplicates dropped,
// bounded buffering, heartbeats revealing a lost tail.
#include "replication/gap_tracker.h"

#include <gtest/gtest.h>

namespace syncached::replication {
namespace {

using V = GapTracker::Verdict;

TEST(GapTracker, InOrderBatchesAreReadyAtOnce) {
  GapTracker t(1 << 20);
  EXPECT_EQ(t.OnBatch(1, 10, 2, "a"), V::kOtherRun);  // not following yet
  t.Reset(1, 10);
  EXPECT_EQ(t.OnBatch(1, 10, 2, "a"), V::kReady);
  EXPECT_EQ(t.OnBatch(1, 12, 3, "b"), V::kReady);
  EXPECT_EQ(t.TakeReady(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t.next_seq(), 15u);
  uint64_t from, to;
  EXPECT_FALSE(t.Missing(&from, &to));
  EXPECT_EQ(t.OnBatch(1, 12, 3, "b"), V::kDuplicate);  // a replay
  EXPECT_EQ(t.OnBatch(2, 15, 1, "c"), V::kOtherRun);
}

TEST(GapTracker, AGapIsHeldNamedAndFilledByTheRepair) {
  GapTracker t(1 << 20);
  t.Reset(1, 1);
  EXPECT_EQ(t.OnBatch(1, 1, 1, "a"), V::kReady);
  EXPECT_EQ(t.OnBatch(1, 4, 2, "d"), V::kBuffered);  // 2..3 lost
  EXPECT_EQ(t.OnBatch(1, 6, 1, "f"), V::kBuffered);
  uint64_t from, to;
  ASSERT_TRUE(t.Missing(&from, &to));
  EXPECT_EQ(from, 2u);
  EXPECT_EQ(to, 4u);
  EXPECT_EQ(t.TakeReady(), (std::vector<std::string>{"a"}));
  EXPECT_EQ(t.OnBatch(1, 2, 2, "b"), V::kReady);  // the repair over TCP
  EXPECT_EQ(t.TakeReady(), (std::vector<std::string>{"b", "d", "f"}));
  EXPECT_EQ(t.next_seq(), 7u);
  EXPECT_EQ(t.buffered_bytes(), 0u);
  EXPECT_FALSE(t.Missing(&from, &to));
}

TEST(GapTracker, AcceptInOrderTakesOnlyTheNextBatchAndReleasesWhatItUnblocks) {
  GapTracker t(1 << 20);
  EXPECT_FALSE(t.AcceptInOrder(1, 1, 1));  // not following yet
  t.Reset(1, 1);
  EXPECT_TRUE(t.AcceptInOrder(1, 1, 2));  // the host applies it itself
  EXPECT_TRUE(t.TakeReady().empty());
  EXPECT_EQ(t.next_seq(), 3u);
  EXPECT_FALSE(t.AcceptInOrder(1, 1, 2));  // already applied: OnBatch counts it
  EXPECT_FALSE(t.AcceptInOrder(1, 5, 1));  // ahead of a gap: OnBatch holds it
  EXPECT_EQ(t.OnBatch(1, 5, 1, "e"), V::kBuffered);
  EXPECT_FALSE(t.AcceptInOrder(2, 3, 2));  // another run
  EXPECT_TRUE(t.AcceptInOrder(1, 3, 2));   // fills the gap: what waited is ready
  EXPECT_EQ(t.TakeReady(), (std::vector<std::string>{"e"}));
  EXPECT_EQ(t.next_seq(), 6u);
  EXPECT_EQ(t.OnBatch(1, 6, 1, "f"), V::kReady);
  EXPECT_FALSE(t.AcceptInOrder(1, 7, 1));  // "f" not taken yet: keep the order
}

TEST(GapTracker, HeartbeatRevealsALostTail) {
  GapTracker t(1 << 20);
  t.Reset(5, 100);
  t.OnHeartbeat(5, 100);
  uint64_t from, to;
  EXPECT_FALSE(t.Missing(&from, &to));
  t.OnHeartbeat(5, 103);  // batches 100..102 never arrived
  ASSERT_TRUE(t.Missing(&from, &to));
  EXPECT_EQ(from, 100u);
  EXPECT_EQ(to, 103u);
  t.OnHeartbeat(6, 200);  // another run: ignored
  ASSERT_TRUE(t.Missing(&from, &to));
  EXPECT_EQ(to, 103u);
}

TEST(GapTracker, BufferIsBoundedAndOverflowStillKnowsTheGap) {
  GapTracker t(10);
  t.Reset(1, 1);
  EXPECT_EQ(t.OnBatch(1, 5, 1, std::string(8, 'x')), V::kBuffered);
  EXPECT_EQ(t.OnBatch(1, 6, 1, std::string(8, 'y')), V::kOverflow);
  uint64_t from, to;
  ASSERT_TRUE(t.Missing(&from, &to));
  EXPECT_EQ(from, 1u);
  EXPECT_EQ(to, 5u);
  EXPECT_EQ(t.OnBatch(1, 1, 4, "r"), V::kReady);
  EXPECT_EQ(t.TakeReady(), (std::vector<std::string>{"r", std::string(8, 'x')}));
  ASSERT_TRUE(t.Missing(&from, &to));  // 6 was dropped: still to repair
  EXPECT_EQ(from, 6u);
  EXPECT_EQ(to, 7u);
  EXPECT_EQ(t.overflows(), 1u);
}

TEST(GapTracker, ResetForgetsWhatWasHeld) {
  GapTracker t(1 << 20);
  t.Reset(1, 1);
  t.OnBatch(1, 3, 1, "c");
  t.Reset(2, 50);
  EXPECT_EQ(t.buffered_bytes(), 0u);
  uint64_t from, to;
  EXPECT_FALSE(t.Missing(&from, &to));
  EXPECT_EQ(t.OnBatch(2, 50, 1, "z"), V::kReady);
}

}  // namespace
}  // namespace syncached::replication
