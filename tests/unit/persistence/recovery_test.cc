// Loading a damaged data directory (a torn journal tail, garbage after the last frame,
// segments without a header, damaged or incomplete snapshots): damage is dropped or
// skipped and everything that can be loaded still is.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "persistence/format.h"
#include "persistence/persistence.h"
#include "persistence_test_util.h"

namespace syncached::persistence {
namespace {

namespace fs = std::filesystem;

void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = static_cast<char>(f.get());
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x20));
}

void Append(const std::string& path, std::string_view bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::app);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST_F(PersistenceTest, TornTailIsDroppedAndLaterSegmentsStillLoad) {
  auto a = Start();
  for (int i = 0; i < 10; ++i) Set(a->store, "k" + std::to_string(i), "value");
  a->p.Close();
  std::string path = File(JournalName(1));
  fs::resize_file(path, fs::file_size(path) - 3);  // kill -9 in the middle of a write

  auto b = Start();
  State s = Dump(b->store);
  EXPECT_EQ(s.size(), 9u);
  EXPECT_EQ(s.count("k9"), 0u);
  EXPECT_EQ(b->rec.journal_records, 9u);
  EXPECT_EQ(b->rec.dropped_bytes, record::kRecordOverhead + 2 + 5 - 3);
  Set(b->store, "k9", "again");
  b->p.Close();

  // The damaged segment is no longer the last; what came after it still loads.
  auto c = Start();
  s = Dump(c->store);
  EXPECT_EQ(s.size(), 10u);
  EXPECT_EQ(s["k9"].value, "again");
  EXPECT_EQ(c->rec.journal_segments, 2u);
  EXPECT_EQ(c->rec.dropped_bytes, record::kRecordOverhead + 2 + 5 - 3);
}

// Space is allocated ahead of the journal's writes and cut off when a segment closes;
// a segment kill -9 left open ends in zeros, which are its end, not damage, even after
// a frame cut short.
TEST_F(PersistenceTest, ZerosAllocatedAheadAreTheJournalsEnd) {
  Options o = Opts();
  o.fsync = FsyncPolicy::kAlways;
  auto a = Start(o);
  std::string path = File(JournalName(1));
  for (int i = 0; i < 10; ++i) Set(a->store, "k" + std::to_string(i), "value");
  a->p.Sync();
  uint64_t written = JournalLength(path);
  EXPECT_EQ(written, kFileHeaderSize + 10 * (record::kRecordOverhead + 2 + 5));
  EXPECT_GE(fs::file_size(path), written);
  a->p.Close();
  EXPECT_EQ(fs::file_size(path), written);

  fs::resize_file(path, written + 65536);  // as kill -9 leaves it
  auto b = Start();
  EXPECT_EQ(Dump(b->store).size(), 10u);
  EXPECT_EQ(b->rec.dropped_bytes, 0u);
  b->p.Close();

  std::string second = File(JournalName(2));
  uint64_t end = fs::file_size(second);
  ASSERT_EQ(end, kFileHeaderSize);  // nothing written in it
  fs::remove(second);
  fs::resize_file(path, written - 3);  // a frame cut short, then zeros
  fs::resize_file(path, written + 4096);
  auto c = Start();
  EXPECT_EQ(Dump(c->store).size(), 9u);
  EXPECT_EQ(c->rec.journal_records, 9u);
}

TEST_F(PersistenceTest, GarbageAfterTheLastFrameIsDropped) {
  auto a = Start();
  for (int i = 0; i < 10; ++i) Set(a->store, "k" + std::to_string(i), "value");
  State before = Dump(a->store);
  a->p.Close();
  Append(File(JournalName(1)), "\xA9\x05");  // a torn meta frame header
  auto b = Start();
  EXPECT_EQ(Dump(b->store), before);
  EXPECT_EQ(b->rec.dropped_bytes, 2u);
  b->p.Close();
  Append(File(JournalName(2)), "garbage");  // not a frame at all: corrupt
  auto c = Start();
  EXPECT_EQ(Dump(c->store), before);
  EXPECT_EQ(c->rec.dropped_bytes, 2u + 7u);
}

TEST_F(PersistenceTest, SegmentsWithoutAHeaderAreSkipped) {
  auto a = Start();
  Set(a->store, "k", "v");
  a->p.Close();
  // A crash while a segment's header was being written, and a file that is not ours.
  { std::ofstream(File(JournalName(5)), std::ios::binary); }
  { std::ofstream(File(JournalName(6)), std::ios::binary) << "SCJRN"; }
  { std::ofstream(File(JournalName(7)), std::ios::binary) << std::string(40, 'x'); }
  auto b = Start();
  EXPECT_EQ(Dump(b->store).size(), 1u);
  EXPECT_EQ(b->rec.journal_segments, 1u);
  EXPECT_EQ(b->rec.dropped_bytes, 5u + 40u);
  EXPECT_EQ(Stat(b->p, "generation"), 8u);  // after every name seen
}

// The snapshot is checked end to end before it is used; a damaged one is skipped and
// the previous generation (here: no snapshot, the whole journal) is loaded instead.
TEST_F(PersistenceTest, DamagedSnapshotFallsBackToTheJournal) {
  auto a = Start();
  for (int i = 0; i < 50; ++i) Set(a->store, "k" + std::to_string(i), "v" + std::to_string(i));
  Compact(*a);
  Set(a->store, "late", "v");
  State before = Dump(a->store);
  a->p.Close();
  FlipByte(File(SnapshotName(2)), fs::file_size(File(SnapshotName(2))) / 2);

  auto b = Start();
  EXPECT_EQ(b->rec.snapshot_generation, 0u);
  EXPECT_EQ(b->rec.journal_segments, 2u);
  EXPECT_EQ(Dump(b->store), before);
}

// Two generations: a damaged newest snapshot falls back to the one before it and the
// journal from there on, so nothing is lost.
TEST_F(PersistenceTest, DamagedNewestSnapshotFallsBackToThePreviousOne) {
  auto a = Start();
  for (int i = 0; i < 50; ++i) Set(a->store, "k" + std::to_string(i), "v");
  Compact(*a);
  for (int i = 0; i < 10; ++i) Set(a->store, "m" + std::to_string(i), "w");
  Compact(*a);
  Set(a->store, "late", "v");
  State before = Dump(a->store);
  a->p.Close();
  FlipByte(File(SnapshotName(3)), kFileHeaderSize + 40);

  auto b = Start();
  EXPECT_EQ(b->rec.snapshot_generation, 2u);
  EXPECT_EQ(Dump(b->store), before);
}

TEST_F(PersistenceTest, IncompleteSnapshotIsNeverLoaded) {
  auto a = Start();
  for (int i = 0; i < 50; ++i) Set(a->store, "k" + std::to_string(i), "v");
  Compact(*a);
  State before = Dump(a->store);
  a->p.Close();
  // Cut before the end mark (a snapshot is renamed into place only when whole, but a
  // disk may still lose its tail), and a leftover temporary file.
  std::string snap = File(SnapshotName(2));
  fs::resize_file(snap, fs::file_size(snap) - 1);
  { std::ofstream(snap + ".tmp", std::ios::binary) << "junk"; }
  auto b = Start();
  EXPECT_EQ(b->rec.snapshot_generation, 0u);
  EXPECT_EQ(Dump(b->store), before);
}

}  // namespace
}  // namespace syncached::persistence
