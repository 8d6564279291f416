#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "record/record.h"

namespace syncached::record {
namespace {

constexpr uint64_t kT = 1'700'000'000'000ull;

TEST(HybridClockTest, StampsNodeAndWallMillis) {
  ManualClock wall(kT);
  HybridClock hlc(&wall, 7);
  const Version v = hlc.Next();
  EXPECT_EQ(v.node, 7);
  EXPECT_EQ(v.hlc, MakeHlc(kT, 0));
  EXPECT_EQ(hlc.Last(), v.hlc);
}

TEST(HybridClockTest, CountsWithinOneMillisecond) {
  ManualClock wall(kT);
  HybridClock hlc(&wall, 1);
  for (uint16_t i = 0; i < 1000; ++i) EXPECT_EQ(hlc.Next().hlc, MakeHlc(kT, i));
}

TEST(HybridClockTest, ResetsCounterWhenWallClockMovesOn) {
  ManualClock wall(kT);
  HybridClock hlc(&wall, 1);
  hlc.Next();
  hlc.Next();
  wall.Advance(5);
  EXPECT_EQ(hlc.Next().hlc, MakeHlc(kT + 5, 0));
}

TEST(HybridClockTest, StaysMonotonicWhenWallClockStepsBack) {
  ManualClock wall(kT);
  HybridClock hlc(&wall, 1);
  Version prev = hlc.Next();
  wall.Set(kT - 5'000);  // NTP step backwards
  for (int i = 0; i < 100; ++i) {
    const Version v = hlc.Next();
    EXPECT_GT(v, prev);
    EXPECT_EQ(HlcMillis(v.hlc), kT);  // holds the old millisecond, counts logically
    prev = v;
  }
  wall.Set(kT + 1);  // wall clock catches up: back to wall time, counter reset
  EXPECT_EQ(hlc.Next().hlc, MakeHlc(kT + 1, 0));
}

TEST(HybridClockTest, CounterOverflowCarriesIntoMillis) {
  ManualClock wall(kT);
  HybridClock hlc(&wall, 1);
  ASSERT_TRUE(hlc.Observe(MakeHlc(kT, 0xfffe)));
  EXPECT_EQ(hlc.Next().hlc, MakeHlc(kT, 0xffff));
  EXPECT_EQ(hlc.Next().hlc, MakeHlc(kT + 1, 0));
  EXPECT_EQ(hlc.Next().hlc, MakeHlc(kT + 1, 1));
}

TEST(HybridClockTest, SixtyFiveThousandWritesInOneMillisecondStayUnique) {
  ManualClock wall(kT);
  HybridClock hlc(&wall, 1);
  uint64_t prev = 0;
  for (int i = 0; i < 70'000; ++i) {
    const uint64_t v = hlc.Next().hlc;
    ASSERT_GT(v, prev);
    prev = v;
  }
  EXPECT_EQ(prev, MakeHlc(kT, 0) + 69'999);
}

TEST(HybridClockTest, ObserveMakesLaterVersionsNewerThanRemote) {
  ManualClock wall(kT);
  HybridClock hlc(&wall, 1);
  const uint64_t remote = MakeHlc(kT + 10'000, 5);  // peer 10 s ahead: within drift
  EXPECT_TRUE(hlc.Observe(remote));
  const Version v = hlc.Next();
  EXPECT_GT(v.hlc, remote);
  EXPECT_EQ(v.hlc, MakeHlc(kT + 10'000, 6));
  EXPECT_EQ(hlc.rejected(), 0u);
}

TEST(HybridClockTest, ObservingAnOlderReadingChangesNothing) {
  ManualClock wall(kT);
  HybridClock hlc(&wall, 1);
  const Version v = hlc.Next();
  EXPECT_TRUE(hlc.Observe(MakeHlc(kT - 1'000, 3)));
  EXPECT_EQ(hlc.Last(), v.hlc);
  EXPECT_EQ(hlc.Next().hlc, v.hlc + 1);
}

TEST(HybridClockTest, RefusesReadingBeyondMaxDrift) {
  ManualClock wall(kT);
  HybridClock hlc(&wall, 1);
  EXPECT_EQ(hlc.max_drift_millis(), 60'000u);
  EXPECT_TRUE(hlc.Observe(MakeHlc(kT + 60'000, 0xffff)));  // at the limit: accepted
  EXPECT_FALSE(hlc.Observe(MakeHlc(kT + 60'001, 0)));
  EXPECT_FALSE(hlc.Observe(UINT64_MAX));
  EXPECT_EQ(hlc.rejected(), 2u);
  EXPECT_EQ(hlc.Next().hlc, MakeHlc(kT + 60'001, 0));  // only the accepted one counted
}

TEST(HybridClockTest, MaxDriftIsConfigurable) {
  ManualClock wall(kT);
  HybridClock hlc(&wall, 1, /*max_drift_millis=*/100);
  EXPECT_FALSE(hlc.Observe(MakeHlc(kT + 101, 0)));
  EXPECT_TRUE(hlc.Observe(MakeHlc(kT + 100, 0)));
  wall.Advance(1'000);  // the limit follows the wall clock
  EXPECT_TRUE(hlc.Observe(MakeHlc(kT + 1'100, 0)));
  EXPECT_EQ(hlc.rejected(), 1u);
}

TEST(HybridClockTest, UnlimitedDriftStillCannotWrapTheClock) {
  ManualClock wall(kT);
  HybridClock hlc(&wall, 1, UINT64_MAX);
  EXPECT_FALSE(hlc.Observe(UINT64_MAX));
  EXPECT_FALSE(hlc.Observe(MakeHlc(kHlcMaxMillis, 0)));
  EXPECT_TRUE(hlc.Observe(MakeHlc(kHlcMaxMillis - 1, 0xffff)));
  EXPECT_EQ(hlc.Next().hlc, MakeHlc(kHlcMaxMillis, 0));
}

TEST(HybridClockTest, ConcurrentNextNeverRepeats) {
  ManualClock wall(kT);  // frozen wall clock: every value comes from the counter race
  HybridClock hlc(&wall, 3);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25'000;  // 100k in all: overflows the counter concurrently
  std::vector<std::vector<uint64_t>> got(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      got[t].reserve(kPerThread);
      for (int i = 0; i < kPerThread; ++i) got[t].push_back(hlc.Next().hlc);
    });
  }
  for (auto& th : threads) th.join();
  std::vector<uint64_t> all;
  for (const auto& g : got) {
    EXPECT_TRUE(std::is_sorted(g.begin(), g.end()));  // each thread sees increasing values
    all.insert(all.end(), g.begin(), g.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
  // No gaps either: with a frozen wall clock the values are exactly a contiguous run.
  EXPECT_EQ(all.front(), MakeHlc(kT, 0));
  EXPECT_EQ(all.back(), MakeHlc(kT, 0) + uint64_t{kThreads} * kPerThread - 1);
}

TEST(HybridClockTest, ConcurrentObserveAndNextStayAboveObserved) {
  ManualClock wall(kT);
  HybridClock hlc(&wall, 3);
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5'000; ++i) {
        const uint64_t remote = MakeHlc(kT + static_cast<uint64_t>(i % 50) * 100, t);
        if (!hlc.Observe(remote) || hlc.Next().hlc <= remote) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

}  // namespace
}  // namespace syncached::record
