// The journal/snapshot file format (src/persistence/format.h): file header, meta
// frames, ScanFrames over streams mixing meta frames with change records, file names.
// The byte-level tests pin what docs/FORMATS.md ("Journal and snapshot files") says.
#include "persistence/format.h"

#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "persistence/persistence.h"
#include "record/codec_internal.h"
#include "record/record.h"

namespace syncached::persistence {
namespace {

using record::Change;
using record::ChangeView;
using record::Kind;
using Meta = std::pair<std::string, std::string>;
using Frame = std::variant<Change, Meta>;  // what ScanFrames handed back, owned

struct Scanned {
  ScanResult result;
  std::vector<Frame> frames;
};

Scanned Scan(std::string_view in) {
  Scanned s;
  s.result = ScanFrames(
      in, [&](const ChangeView& c) { s.frames.emplace_back(Change(c)); },
      [&](std::string_view n, std::string_view v) { s.frames.emplace_back(Meta(n, v)); });
  return s;
}

// A stream of every kind of frame, and where each frame ends.
struct Stream {
  std::string bytes;
  std::vector<Frame> frames;
  std::vector<size_t> ends;

  void Add(const ChangeView& c) {
    record::EncodeChange(c, &bytes);
    frames.emplace_back(Change(c));
    ends.push_back(bytes.size());
  }
  void AddMeta(std::string_view n, std::string_view v) {
    EncodeMeta(n, v, &bytes);
    frames.emplace_back(Meta(n, v));
    ends.push_back(bytes.size());
  }
};

Stream Mixed() {
  Stream s;
  s.Add({Kind::kPut, {record::MakeHlc(1'700'000'000'000, 1), 3}, "key", "value", 7, 1234});
  s.AddMeta("repl.peer.2", "12345678");
  s.Add({Kind::kDelete, {record::MakeHlc(1'700'000'000'001, 0), 3}, "key", {}, 0, 0});
  s.Add({Kind::kFlush, {record::MakeHlc(1'700'000'000'002, 0), 1}, {}, {}, 0, 1'700'000'100});
  s.AddMeta("m", "");
  s.Add({Kind::kStalePut, {5, 0}, std::string(250, 'k'), std::string(300, '\xff'), ~0u, 0});
  s.Add({Kind::kPut, {6, 0}, "empty", "", 0, 0});
  s.AddMeta(std::string(255, 'n'), std::string(kMaxMetaValue, 'v'));
  return s;
}

TEST(FileHeader, RoundTripAndPinnedBytes) {
  std::string h;
  EncodeFileHeader(kJournalMagic, 0x0102030405060708ull, &h);
  ASSERT_EQ(h.size(), kFileHeaderSize);
  EXPECT_EQ(h, std::string("SCJRNL\0\1\x08\x07\x06\x05\x04\x03\x02\x01", 16));
  uint64_t g = 0;
  EXPECT_TRUE(DecodeFileHeader(h, kJournalMagic, &g));
  EXPECT_EQ(g, 0x0102030405060708ull);
  // The wrong kind, a short header, and a damaged magic are all refused.
  EXPECT_FALSE(DecodeFileHeader(h, kSnapshotMagic, &g));
  EXPECT_FALSE(DecodeFileHeader(h.substr(0, 15), kJournalMagic, &g));
  std::string bad = h;
  bad[7] = 2;  // the format version byte
  EXPECT_FALSE(DecodeFileHeader(bad, kJournalMagic, &g));
  // Frames may follow the header; only the first 16 bytes are looked at.
  std::string s;
  EncodeFileHeader(kSnapshotMagic, ~0ull, &s);
  s += "trailing";
  EXPECT_TRUE(DecodeFileHeader(s, kSnapshotMagic, &g));
  EXPECT_EQ(g, ~0ull);
}

TEST(MetaFrame, PinnedLayout) {
  std::string m;
  EncodeMeta("ab", "xyz", &m);
  ASSERT_EQ(m.size(), 8u + 2 + 3 + 4);
  EXPECT_EQ(m.substr(0, 13), std::string("\xA9\x02\x00\x00\x03\x00\x00\x00"
                                         "abxyz",
                                         13));
  EXPECT_EQ(record::internal::Load32(m.data() + 13), record::internal::Checksum32(m.data(), 13));
}

TEST(ScanFrames, EmptyInputIsWholeAndEmpty) {
  Scanned s = Scan("");
  EXPECT_EQ(s.result.consumed, 0u);
  EXPECT_FALSE(s.result.torn);
  EXPECT_FALSE(s.result.corrupt);
  EXPECT_TRUE(s.frames.empty());
}

TEST(ScanFrames, MixedStreamRoundTrips) {
  Stream st = Mixed();
  Scanned s = Scan(st.bytes);
  EXPECT_EQ(s.result.consumed, st.bytes.size());
  EXPECT_FALSE(s.result.torn);
  EXPECT_FALSE(s.result.corrupt) << s.result.reason;
  EXPECT_EQ(s.frames, st.frames);
}

// What a crash leaves: any prefix is whole frames followed by at most a torn one.
TEST(ScanFrames, EveryPrefixIsWholeFramesOrTorn) {
  Stream st = Mixed();
  for (size_t n = 0; n <= st.bytes.size(); ++n) {
    Scanned s = Scan(std::string_view(st.bytes).substr(0, n));
    ASSERT_FALSE(s.result.corrupt) << "prefix " << n << ": " << s.result.reason;
    size_t whole = 0, boundary = 0;
    while (whole < st.ends.size() && st.ends[whole] <= n) boundary = st.ends[whole++];
    ASSERT_EQ(s.result.consumed, boundary) << "prefix " << n;
    ASSERT_EQ(s.result.torn, boundary != n) << "prefix " << n;
    ASSERT_EQ(s.frames, std::vector<Frame>(st.frames.begin(), st.frames.begin() + whole));
  }
}

// Damage anywhere stops the scan at or before the damaged frame: the frames handed
// back are always an unchanged prefix of what was written.
TEST(ScanFrames, FlippedByteIsNeverAcceptedAsOtherContent) {
  Stream st = Mixed();
  for (size_t pos = 0; pos < st.bytes.size(); ++pos) {
    size_t frame = 0;
    while (st.ends[frame] <= pos) ++frame;
    for (uint8_t mask : {0x01, 0x02, 0x10, 0x80, 0xff, 0x6c}) {
      std::string bad = st.bytes;
      bad[pos] = static_cast<char>(bad[pos] ^ mask);
      Scanned s = Scan(bad);
      ASSERT_TRUE(s.result.corrupt || s.result.torn) << "pos " << pos << " mask " << int(mask);
      ASSERT_LE(s.frames.size(), frame) << "pos " << pos << " mask " << int(mask);
      ASSERT_EQ(s.frames,
                std::vector<Frame>(st.frames.begin(), st.frames.begin() + s.frames.size()));
      ASSERT_EQ(s.result.consumed, s.frames.empty() ? 0 : st.ends[s.frames.size() - 1]);
    }
  }
}

TEST(ScanFrames, UnknownFrameTypeIsCorrupt) {
  Stream st = Mixed();
  std::string in = st.bytes + "\x42rest";
  Scanned s = Scan(in);
  EXPECT_TRUE(s.result.corrupt);
  EXPECT_FALSE(s.result.torn);
  EXPECT_EQ(s.result.consumed, st.bytes.size());
  EXPECT_NE(s.result.reason.find("0x42"), std::string::npos) << s.result.reason;
  EXPECT_EQ(s.frames, st.frames);
  // A batch frame (0xB7) belongs on the wire, never in a file.
  EXPECT_TRUE(Scan("\xB7").result.corrupt);
  // Zero bytes are space allocated ahead of the writes: the end, when only zeros follow.
  EXPECT_TRUE(Scan(std::string(1, '\0')).result.zero_tail);
  EXPECT_FALSE(Scan(std::string(1, '\0')).result.corrupt);
  Scanned z = Scan(st.bytes + std::string(4096, '\0'));
  EXPECT_TRUE(z.result.zero_tail);
  EXPECT_FALSE(z.result.corrupt || z.result.torn);
  EXPECT_EQ(z.result.consumed, st.bytes.size());
  EXPECT_EQ(z.frames, st.frames);
  Scanned zx = Scan(st.bytes + std::string(16, '\0') + "x");
  EXPECT_TRUE(zx.result.corrupt);
  EXPECT_FALSE(zx.result.zero_tail);
  EXPECT_EQ(zx.result.consumed, st.bytes.size());
}

// A meta frame with a good checksum but an impossible header.
std::string ForgeMeta(uint8_t name_len, uint8_t reserved, uint32_t value_len, size_t body) {
  std::string m = {static_cast<char>(kMetaMagic), static_cast<char>(name_len),
                   static_cast<char>(reserved), 0};
  for (int i = 0; i < 4; ++i) m.push_back(static_cast<char>(value_len >> (8 * i)));
  m.append(body, 'x');
  char sum[4];
  record::internal::Store32(sum, record::internal::Checksum32(m.data(), m.size()));
  return m.append(sum, 4);
}

TEST(ScanFrames, MetaHeaderLimits) {
  // The forger agrees with the encoder on a good frame.
  std::string good;
  EncodeMeta("x", std::string(kMaxMetaValue, 'x'), &good);
  EXPECT_EQ(ForgeMeta(1, 0, kMaxMetaValue, 1 + kMaxMetaValue), good);
  EXPECT_FALSE(Scan(good).result.corrupt);

  for (const std::string& bad : {ForgeMeta(0, 0, 1, 1), ForgeMeta(1, 0, kMaxMetaValue + 1, 4098),
                                 ForgeMeta(1, 1, 0, 1), ForgeMeta(1, 0, 0xffffffffu, 1)}) {
    Scanned s = Scan(bad);
    EXPECT_TRUE(s.result.corrupt);
    EXPECT_FALSE(s.result.torn);
    EXPECT_EQ(s.result.consumed, 0u);
    EXPECT_TRUE(s.frames.empty());
  }
  // An oversized length is corrupt at once, not a torn frame to wait for.
  std::string header = ForgeMeta(1, 0, kMaxMetaValue + 1, 0).substr(0, 8);
  EXPECT_TRUE(Scan(header).result.corrupt);
  // A wrong checksum.
  good.back() ^= 1;
  EXPECT_TRUE(Scan(good).result.corrupt);
}

TEST(FileNames, RoundTrip) {
  EXPECT_EQ(JournalName(1), "journal-0000000000000001.log");
  EXPECT_EQ(SnapshotName(0xabcdef), "snapshot-0000000000abcdef.dat");
  for (uint64_t g : {0ull, 1ull, 0x10ull, 0xfedcba9876543210ull, ~0ull}) {
    bool journal = false;
    uint64_t got = 1;
    ASSERT_TRUE(ParseFileName(JournalName(g), &journal, &got));
    EXPECT_TRUE(journal);
    EXPECT_EQ(got, g);
    ASSERT_TRUE(ParseFileName(SnapshotName(g), &journal, &got));
    EXPECT_FALSE(journal);
    EXPECT_EQ(got, g);
  }
}

TEST(FileNames, RejectsEverythingElse) {
  for (const char* name : {"", ".", "..", "LOCK", "journal-.log", "journal-000000000000001.log",
                           "journal-00000000000000001.log", "journal-000000000000000A.log",
                           "journal-000000000000000g.log", "journal-0000000000000001.dat",
                           "journal-0000000000000001.log.tmp", "snapshot-0000000000000001.dat.tmp",
                           "snapshot-0000000000000001.log", "Journal-0000000000000001.log",
                           "journal-+000000000000001.log", "journal- 000000000000001.log"}) {
    bool journal;
    uint64_t g;
    EXPECT_FALSE(ParseFileName(name, &journal, &g)) << name;
  }
}

TEST(FsyncPolicyNames, RoundTrip) {
  for (FsyncPolicy p : {FsyncPolicy::kAlways, FsyncPolicy::kEverySec, FsyncPolicy::kNo}) {
    FsyncPolicy back = FsyncPolicy::kNo;
    EXPECT_TRUE(ParseFsyncPolicy(FsyncPolicyName(p), &back));
    EXPECT_EQ(back, p);
  }
  FsyncPolicy p;
  EXPECT_FALSE(ParseFsyncPolicy("Always", &p));
  EXPECT_FALSE(ParseFsyncPolicy("", &p));
}

}  // namespace
}  // namespace syncached::persistence
