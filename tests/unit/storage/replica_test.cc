// The replica side: last-writer-wins Apply, tombstones, flush floors, full copies and
// sweeps.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "storage/storage.h"
#include "tests/unit/storage/store_test_util.h"

namespace syncached::storage {
namespace {

record::ChangeView PutChange(std::string_view key, std::string_view value, uint64_t hlc,
                             uint16_t node) {
  return record::ChangeView{record::Kind::kPut, {hlc, node}, key, value, 7, 0};
}

Options Replicated() {
  Options o = SmallOptions();
  o.replicated = true;
  o.node_id = 1;
  return o;
}

TEST(StoreApply, NewestVersionWinsWhateverTheOrder) {
  ManualClock clock;
  std::vector<record::ChangeView> changes = {
      PutChange("k", "a", 100, 2), PutChange("k", "b", 300, 3), PutChange("k", "c", 200, 2),
      PutChange("k", "d", 300, 2)};
  std::sort(changes.begin(), changes.end(),
            [](const auto& x, const auto& y) { return x.value < y.value; });
  do {
    Store s(Replicated(), &clock);
    for (const auto& c : changes) s.Apply(c);
    EXPECT_EQ(Get(s, "k"), "b");  // hlc 300 @ node 3 beats hlc 300 @ node 2
  } while (std::next_permutation(changes.begin(), changes.end(),
                                 [](const auto& x, const auto& y) { return x.value < y.value; }));
}

TEST(StoreApply, TombstoneStopsAnOlderWrite) {
  ManualClock clock;
  Store s(Replicated(), &clock);
  s.Apply(PutChange("k", "v1", 100, 2));
  s.Apply(record::ChangeView{record::Kind::kDelete, {200, 3}, "k", {}, 0, 0});
  EXPECT_EQ(s.Apply(PutChange("k", "late", 150, 2)), ApplyResult::kStale);
  EXPECT_EQ(Get(s, "k"), "<miss>");
  EXPECT_EQ(s.Apply(PutChange("k", "new", 250, 2)), ApplyResult::kApplied);
  EXPECT_EQ(Get(s, "k"), "new");
  EXPECT_EQ(s.conflicts(), 1u);
}

TEST(StoreApply, LocalDeleteLeavesTombstoneWhenReplicated) {
  ManualClock clock;
  Store s(Replicated(), &clock);
  Put(s, "k", "v");
  uint64_t before = s.hlc().Last();
  s.Access("k", [](Accessor& a) {
    a.Delete();
    return 0;
  });
  EXPECT_EQ(s.Apply(PutChange("k", "old", before, 9)), ApplyResult::kStale);
  EXPECT_EQ(s.tombstones(), 1u);
}

TEST(StoreApply, FlushFloorRefusesOlderWrites) {
  ManualClock clock;
  Store s(Replicated(), &clock);
  s.Apply(PutChange("a", "1", 100, 2));
  s.Apply(record::ChangeView{record::Kind::kFlush, {200, 2}, {}, {}, 0, 0});
  EXPECT_EQ(Get(s, "a"), "<miss>");
  EXPECT_EQ(s.Apply(PutChange("b", "old", 150, 3)), ApplyResult::kStale);
  EXPECT_EQ(s.Apply(PutChange("b", "new", 250, 3)), ApplyResult::kApplied);
}

// A write with the flush's very HLC reading from another node is concurrent with it:
// the origin's flush hides only lower readings, so every replica must keep it too.
TEST(StoreApply, FlushKeepsAnotherNodesWriteOfTheSameReading) {
  ManualClock clock;
  Store s(Replicated(), &clock);
  s.Apply(PutChange("tie", "1", 200, 1));
  s.Apply(PutChange("older", "1", 199, 9));
  s.Apply(record::ChangeView{record::Kind::kFlush, {200, 3}, {}, {}, 0, 0});
  EXPECT_EQ(Get(s, "tie"), "1");
  EXPECT_EQ(Get(s, "older"), "<miss>");
  EXPECT_EQ(s.Apply(PutChange("late", "1", 200, 2)), ApplyResult::kApplied);
  EXPECT_EQ(s.Apply(PutChange("late2", "1", 199, 2)), ApplyResult::kStale);
}

// Another node of the cluster (node 5).
Options ReplicaOptions() {
  Options o = Replicated();
  o.node_id = 5;
  return o;
}

// A full copy of src into dst, shard by shard, as replication sends one.
void CopyInto(Store& src, Store& dst) {
  for (size_t i = 0; i < src.shard_count(); ++i) {
    src.SnapshotShard(i, [&](const record::ChangeView& c) { dst.Apply(c); });
  }
}

TEST(StoreApply, SnapshotCarriesItemsAndTombstonesWithVersions) {
  ManualClock clock;
  Store src(Replicated(), &clock);
  src.Apply(PutChange("a", "1", 100, 2));
  src.Apply(PutChange("b", "2", 110, 2));
  src.Apply(record::ChangeView{record::Kind::kDelete, {120, 2}, "b", {}, 0, 0});
  Store dst(ReplicaOptions(), &clock);
  CopyInto(src, dst);
  EXPECT_EQ(Get(dst, "a"), "1");
  EXPECT_EQ(dst.Apply(PutChange("b", "late", 115, 3)), ApplyResult::kStale);
  uint64_t cas = dst.Access("a", [](Accessor& acc) { return acc.Find().cas(); });
  EXPECT_EQ(cas, 100u);  // the same version gives the same CAS on every replica
}

TEST(StoreApply, SnapshotCarriesTheVersionOfAnExpiredUpdate) {
  ManualClock clock;
  Store src(Replicated(), &clock);
  Store dst(ReplicaOptions(), &clock);
  dst.Apply(PutChange("k", "old, no expiry", 100, 2));
  uint32_t soon = clock.NowSeconds() + 1;
  src.Apply(record::ChangeView{record::Kind::kPut, {200, 2}, "k", "new, short", 0, soon});
  clock.Advance(2000);
  CopyInto(src, dst);
  EXPECT_EQ(Get(dst, "k"), "<miss>");
  EXPECT_EQ(dst.Apply(PutChange("k", "late", 150, 2)), ApplyResult::kStale);
}

TEST(StoreApply, SweepDropsOnlyTheUncarriedItemsOfThatOrigin) {
  ManualClock clock;
  Store s(Replicated(), &clock);
  s.Apply(PutChange("kept", "1", 100, 2));
  s.Apply(PutChange("gone", "2", 110, 2));
  s.Apply(PutChange("other", "3", 120, 3));  // another origin: not this sweep's
  s.Apply(PutChange("after", "5", 900, 2));  // newer than the copy's end: not judged
  Put(s, "ours", "4");
  uint64_t swept = s.SweepOrigin(2, 500, [](std::string_view key) { return key == "kept"; });
  EXPECT_EQ(swept, 1u);
  EXPECT_EQ(Get(s, "after"), "5");
  EXPECT_EQ(Get(s, "kept"), "1");
  EXPECT_EQ(Get(s, "gone"), "<miss>");
  EXPECT_EQ(Get(s, "other"), "3");
  EXPECT_EQ(Get(s, "ours"), "4");
  // The sweep's delete refuses the item's version arriving late, not a newer one.
  EXPECT_EQ(s.Apply(PutChange("gone", "late", 110, 2)), ApplyResult::kStale);
  EXPECT_EQ(s.Apply(PutChange("gone", "new", 200, 2)), ApplyResult::kApplied);
}

void DeleteKey(Store& s, std::string_view key) {
  s.Access(key, [](Accessor& a) {
    a.Delete();
    return 0;
  });
}

TEST(StoreApply, OwnDeletesAreWholeOnlyWhileTheirTombstonesAreKept) {
  ManualClock clock;
  Options o = Replicated();
  o.tombstone_ttl = 100;
  Store s(o, &clock);
  Put(s, "k", "v");
  uint64_t start = s.hlc().Last();
  DeleteKey(s, "k");
  EXPECT_TRUE(s.HoldsOwnDeletesSince(start));
  clock.Advance(80'000);  // past three quarters of the lifetime: skew could have purged it
  EXPECT_FALSE(s.HoldsOwnDeletesSince(start));
  Put(s, "k2", "v");
  EXPECT_TRUE(s.HoldsOwnDeletesSince(s.hlc().Last()));
  clock.Advance(30'000);
  s.Maintain();
  EXPECT_EQ(s.tombstones(), 0u);
}

TEST(StoreApply, OwnDeletesPurgedByNumberAreNotWhole) {
  ManualClock clock;
  Options o = Replicated();
  o.max_tombstones = 4;  // one per shard
  Store s(o, &clock);
  Put(s, "first", "v");
  uint64_t start = s.hlc().Last();
  for (int i = 0; i < 20; ++i) {
    Put(s, "k" + std::to_string(i), "v");
    DeleteKey(s, "k" + std::to_string(i));
  }
  EXPECT_TRUE(s.HoldsOwnDeletesSince(start));
  s.Maintain();
  EXPECT_LE(s.tombstones(), 4u);
  EXPECT_FALSE(s.HoldsOwnDeletesSince(start));
  Put(s, "later", "v");
  EXPECT_TRUE(s.HoldsOwnDeletesSince(s.hlc().Last()));
}

}  // namespace
}  // namespace syncached::storage
