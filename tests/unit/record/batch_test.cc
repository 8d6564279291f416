#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "record/codec_internal.h"
#include "record/record.h"

namespace syncached::record {
namespace {

using internal::Checksum32;
using internal::Store16;
using internal::Store32;
using internal::Store64;

std::vector<Change> Changes() {
  return {
      Change({Kind::kPut, {MakeHlc(1000, 0), 1}, "a", "one", 1, 0}),
      Change({Kind::kDelete, {MakeHlc(1000, 1), 1}, "b", "", 0, 0}),
      Change({Kind::kPut, {MakeHlc(1001, 0), 2}, "c", std::string(300, 'x'), 0, 99}),
      Change({Kind::kFlush, {MakeHlc(1002, 0), 2}, "", "", 0, 0}),
  };
}

std::string Encode(uint64_t first_seq, const std::vector<Change>& changes) {
  std::vector<ChangeView> views(changes.begin(), changes.end());
  std::string s;
  EncodeBatch(first_seq, views, &s);
  return s;
}

// Rewrites count, body_len and first_seq with a matching header check.
void ForgeHeader(std::string* b, uint32_t count, uint32_t body_len, uint64_t first_seq) {
  Store32(b->data() + 4, count);
  Store32(b->data() + 8, body_len);
  Store64(b->data() + 12, first_seq);
  Store32(b->data() + 20, Checksum32(b->data(), 20));
}

TEST(BatchTest, RoundTripsWithSequenceNumbers) {
  const std::vector<Change> changes = Changes();
  const std::string bytes = Encode(500, changes);
  BatchView batch;
  const DecodeResult r = DecodeBatch(bytes, &batch);
  ASSERT_TRUE(r.ok()) << r.reason();
  EXPECT_EQ(r.consumed, bytes.size());
  EXPECT_EQ(batch.first_seq, 500u);
  ASSERT_EQ(batch.changes.size(), changes.size());
  for (size_t i = 0; i < changes.size(); ++i) {
    EXPECT_EQ(batch.seq(i), 500 + i);
    EXPECT_EQ(batch.changes[i], changes[i].view());
  }
}

TEST(BatchTest, EmptyBatchRoundTrips) {
  const std::string bytes = Encode(7, {});
  EXPECT_EQ(bytes.size(), kBatchHeaderSize);
  BatchView batch;
  ASSERT_TRUE(DecodeBatch(bytes, &batch).ok());
  EXPECT_EQ(batch.first_seq, 7u);
  EXPECT_TRUE(batch.changes.empty());
}

TEST(BatchTest, BackToBackBatchesDecodeInTurn) {
  std::string stream = Encode(1, Changes()) + Encode(5, {Changes()[0]});
  std::string_view in(stream);
  BatchView batch;
  DecodeResult r = DecodeBatch(in, &batch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(batch.changes.size(), 4u);
  in.remove_prefix(r.consumed);
  r = DecodeBatch(in, &batch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(batch.first_seq, 5u);
  EXPECT_EQ(batch.changes.size(), 1u);
  EXPECT_EQ(r.consumed, in.size());
}

TEST(BatchTest, EveryTruncationNeedsMore) {
  const std::string bytes = Encode(3, Changes());
  for (size_t n = 0; n < bytes.size(); ++n) {
    BatchView batch;
    const DecodeResult r = DecodeBatch(std::string_view(bytes).substr(0, n), &batch);
    ASSERT_TRUE(r.need_more()) << "prefix " << n << ": " << r.reason();
    EXPECT_EQ(r.needed, n >= kBatchHeaderSize ? bytes.size() : 0u);
    EXPECT_TRUE(batch.changes.empty());
  }
}

TEST(BatchTest, EverySingleBitFlipIsCorrupt) {
  const std::string bytes = Encode(3, Changes());
  for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    std::string bad = bytes;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    BatchView batch;
    const DecodeResult r = DecodeBatch(bad, &batch);
    ASSERT_TRUE(r.corrupt()) << "bit " << bit << " gave " << static_cast<int>(r.code);
    EXPECT_TRUE(batch.changes.empty());
  }
}

TEST(BatchTest, HostileHeadersAreCorruptFromTheHeaderAlone) {
  const std::string header = Encode(3, Changes()).substr(0, kBatchHeaderSize);
  auto decode = [&](uint32_t count, uint32_t body_len, uint64_t first_seq) {
    std::string b = header;
    ForgeHeader(&b, count, body_len, first_seq);
    BatchView batch;
    return DecodeBatch(b, &batch);
  };
  EXPECT_EQ(decode(1, UINT32_MAX, 0).corruption, Corruption::kBatchTooLarge);
  EXPECT_EQ(decode(1, static_cast<uint32_t>(kMaxBatchBodySize + 1), 0).corruption,
            Corruption::kBatchTooLarge);
  // More records than the body could hold at 34 bytes each.
  EXPECT_EQ(decode(11, 10 * kRecordOverhead + 33, 0).corruption, Corruption::kBadBatchHeader);
  EXPECT_EQ(decode(UINT32_MAX, 1000, 0).corruption, Corruption::kBadBatchHeader);
  EXPECT_EQ(decode(0, 100, 0).corruption, Corruption::kBadBatchHeader);
  EXPECT_EQ(decode(2, 100, UINT64_MAX).corruption, Corruption::kBadBatchHeader);  // seq wraps
  // Legal but large: waits for the body, and says how much.
  const DecodeResult r = decode(1, static_cast<uint32_t>(kMaxBatchBodySize), 0);
  EXPECT_TRUE(r.need_more());
  EXPECT_EQ(r.needed, kBatchHeaderSize + kMaxBatchBodySize);

  std::string reserved = header;
  Store16(reserved.data() + 2, 1);
  Store32(reserved.data() + 20, Checksum32(reserved.data(), 20));
  BatchView batch;
  EXPECT_EQ(DecodeBatch(reserved, &batch).corruption, Corruption::kBadBatchHeader);
}

TEST(BatchTest, RecordsMustExactlyFillTheBody) {
  const std::vector<Change> changes = Changes();
  const std::string good = Encode(3, changes);
  const auto body_len = static_cast<uint32_t>(good.size() - kBatchHeaderSize);
  BatchView batch;

  std::string fewer = good;  // header claims one record fewer than the body holds
  ForgeHeader(&fewer, 3, body_len, 3);
  EXPECT_EQ(DecodeBatch(fewer, &batch).corruption, Corruption::kBatchRecordMismatch);

  std::string more = good;  // header claims one more record than the body holds
  ForgeHeader(&more, 5, body_len, 3);
  EXPECT_EQ(DecodeBatch(more, &batch).corruption, Corruption::kBatchRecordMismatch);

  std::string cut = good;  // body ends inside the last record
  ForgeHeader(&cut, 4, body_len - 1, 3);
  EXPECT_EQ(DecodeBatch(cut, &batch).corruption, Corruption::kBatchRecordMismatch);

  std::string padded = good + "junk";  // trailing bytes inside the claimed body
  ForgeHeader(&padded, 4, body_len + 4, 3);
  EXPECT_TRUE(DecodeBatch(padded, &batch).corrupt());
  EXPECT_TRUE(batch.changes.empty());
}

TEST(BatchTest, CorruptRecordInsideIsReportedAsSuch) {
  std::string bytes = Encode(3, Changes());
  bytes.back() ^= 0x10;  // last record's checksum
  BatchView batch;
  EXPECT_EQ(DecodeBatch(bytes, &batch).corruption, Corruption::kBadChecksum);
  EXPECT_EQ(DecodeBatch(std::string("\xc5"), &batch).corruption, Corruption::kBadMagic);
  EXPECT_EQ(DecodeBatch(std::string("\xb7\x09"), &batch).corruption, Corruption::kBadFormatVersion);
}

}  // namespace
}  // namespace syncached::record
