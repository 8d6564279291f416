#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "record/codec_internal.h"
#include "record/record.h"

namespace syncached::record {
namespace {

using internal::Checksum32;
using internal::Store32;

const std::string kBinaryValue("v\0a\r\nl\xff", 7);
const std::string kMaxKey(kMaxKeySize, 'k');

std::vector<Change> Samples() {
  const Version v{MakeHlc(1'700'000'000'123ull, 9), 4};
  return {
      Change({Kind::kPut, v, "session:abc", kBinaryValue, 0xfeedface, 1'700'003'600}),
      Change({Kind::kPut, v, "e", "", 0, 0}),
      Change({Kind::kPut, {UINT64_MAX, UINT16_MAX}, kMaxKey, "x", UINT32_MAX, UINT32_MAX}),
      Change({Kind::kDelete, v, "session:abc", "", 0, 0}),
      Change({Kind::kFlush, v, "", "", 0, 1'700'000'060}),
      Change({Kind::kFlush, {1, 0}, "", "", 0, 0}),
  };
}

std::string Encode(const ChangeView& c) {
  std::string s;
  EncodeChange(c, &s);
  return s;
}

// Rewrites the 8 header bytes starting at `p` with the given fields and a matching
// header check, as a hostile or buggy peer could.
void ForgeHeader(std::string* rec, uint8_t kind, uint8_t key_len, uint32_t value_len) {
  (*rec)[2] = static_cast<char>(kind);
  (*rec)[3] = static_cast<char>(key_len);
  Store32(rec->data() + 4, value_len);
  Store32(rec->data() + 8, Checksum32(rec->data(), 8));
}

TEST(CodecTest, EveryKindRoundTrips) {
  for (const Change& c : Samples()) {
    SCOPED_TRACE(DebugString(c));
    const std::string bytes = Encode(c);
    EXPECT_EQ(bytes.size(), EncodedSize(c));
    EXPECT_EQ(bytes.size(), kRecordOverhead + c.key.size() + c.value.size());
    ChangeView got;
    const DecodeResult r = DecodeChange(bytes, &got);
    ASSERT_TRUE(r.ok()) << r.reason();
    EXPECT_EQ(r.consumed, bytes.size());
    EXPECT_EQ(got, c.view());
    EXPECT_TRUE(IsValid(got));
  }
}

TEST(CodecTest, LargeValueRoundTrips) {
  const std::string value(1 << 20, 'z');
  const Change c({Kind::kPut, {42, 1}, "big", value, 1, 2});
  const std::string bytes = Encode(c);
  ChangeView got;
  ASSERT_TRUE(DecodeChange(bytes, &got).ok());
  EXPECT_EQ(got, c.view());
}

TEST(CodecTest, EncodeAppendsAndDecodeWalksAStream) {
  std::string stream = "prefix";
  for (const Change& c : Samples()) EncodeChange(c, &stream);
  std::string_view in(stream);
  in.remove_prefix(6);
  for (const Change& c : Samples()) {
    ChangeView got;
    const DecodeResult r = DecodeChange(in, &got);
    ASSERT_TRUE(r.ok()) << r.reason();
    EXPECT_EQ(got, c.view());
    in.remove_prefix(r.consumed);
  }
  EXPECT_TRUE(in.empty());
  ChangeView unused;
  EXPECT_TRUE(DecodeChange(in, &unused).need_more());  // empty input: nothing yet
}

// Pins the byte layout documented in docs/FORMATS.md: changing it needs a new format
// version, not a silent edit.
TEST(CodecTest, FormatIsStable) {
  const Change c({Kind::kPut, {MakeHlc(0x123456789a, 0xbcde), 0x0102}, "k", "val", 5, 6});
  std::string hex;
  for (unsigned char ch : Encode(c)) {
    static const char kDigits[] = "0123456789abcdef";
    hex += kDigits[ch >> 4];
    hex += kDigits[ch & 15];
  }
  EXPECT_EQ(hex,
            "c5010101"          // magic, format version 1, kind put, key length 1
            "03000000"          // value length 3
            "1fa5531a"          // header check
            "debc9a7856341200"  // hlc 0x123456789a.0xbcde
            "05000000"          // flags
            "06000000"          // exptime
            "0201"              // node 0x0102
            "6b"                // "k"
            "76616c"            // "val"
            "1b9b34c3");        // checksum
}

TEST(CodecTest, EveryTruncationNeedsMore) {
  for (const Change& c : Samples()) {
    SCOPED_TRACE(DebugString(c));
    const std::string bytes = Encode(c);
    for (size_t n = 0; n < bytes.size(); ++n) {
      ChangeView got{Kind::kFlush, {}, "untouched", "", 0, 0};
      const DecodeResult r = DecodeChange(std::string_view(bytes).substr(0, n), &got);
      ASSERT_TRUE(r.need_more()) << "prefix " << n << ": " << r.reason();
      EXPECT_EQ(r.consumed, 0u);
      // Once the header is in, the reader learns the record's whole size.
      EXPECT_EQ(r.needed, n >= 12 ? bytes.size() : 0u) << "prefix " << n;
      EXPECT_EQ(got.key, "untouched");
    }
  }
}

TEST(CodecTest, EverySingleBitFlipIsCorrupt) {
  for (const Change& c : Samples()) {
    SCOPED_TRACE(DebugString(c));
    const std::string bytes = Encode(c);
    for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
      std::string bad = bytes;
      bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
      ChangeView got;
      const DecodeResult r = DecodeChange(bad, &got);
      // The header check catches flipped lengths at once, so a flip never looks like
      // a torn record (NeedMore) and never decodes.
      ASSERT_TRUE(r.corrupt()) << "bit " << bit << " gave " << static_cast<int>(r.code);
    }
  }
}

TEST(CodecTest, CorruptionReasons) {
  const std::string good = Encode(Samples()[0]);
  auto reason = [](const std::string& s) {
    ChangeView got;
    return DecodeChange(s, &got).corruption;
  };
  EXPECT_EQ(reason(std::string(1, '\0')), Corruption::kBadMagic);
  EXPECT_EQ(reason(std::string("\xc5\x02", 2)), Corruption::kBadFormatVersion);
  std::string s = good;
  s[8] ^= 1;
  EXPECT_EQ(reason(s), Corruption::kBadHeaderChecksum);
  s = good;
  s[40] ^= 1;
  EXPECT_EQ(reason(s), Corruption::kBadChecksum);
  s = good;
  s.back() ^= 1;
  EXPECT_EQ(reason(s), Corruption::kBadChecksum);
  EXPECT_STREQ(CorruptionName(Corruption::kBadChecksum), "bad checksum");
}

// Lengths are judged against the limits from the 12-byte header alone, so a hostile
// length is refused before the reader waits for (or buffers) the bytes it claims.
TEST(CodecTest, HostileHeadersAreCorruptFromTheHeaderAlone) {
  struct Case {
    uint8_t kind;
    uint8_t key_len;
    uint32_t value_len;
    Corruption want;
  };
  const Case cases[] = {
      {0, 1, 0, Corruption::kUnknownKind},
      {5, 1, 0, Corruption::kUnknownKind},
      {255, 1, 0, Corruption::kUnknownKind},
      {1, 0, 5, Corruption::kBadKeyLength},
      {1, 251, 5, Corruption::kBadKeyLength},
      {1, 255, 5, Corruption::kBadKeyLength},
      {2, 0, 0, Corruption::kBadKeyLength},
      {3, 1, 0, Corruption::kBadKeyLength},
      {1, 1, (1u << 30) + 1, Corruption::kValueTooLarge},
      {1, 1, UINT32_MAX, Corruption::kValueTooLarge},
      {2, 1, 1, Corruption::kUnexpectedValue},
      {3, 0, 1, Corruption::kUnexpectedValue},
      {3, 0, UINT32_MAX, Corruption::kValueTooLarge},
  };
  for (const Case& k : cases) {
    std::string rec = Encode(Samples()[0]).substr(0, 12);
    ForgeHeader(&rec, k.kind, k.key_len, k.value_len);
    ChangeView got;
    const DecodeResult r = DecodeChange(rec, &got);
    EXPECT_TRUE(r.corrupt()) << int{k.kind} << "/" << int{k.key_len} << "/" << k.value_len;
    EXPECT_EQ(r.corruption, k.want) << r.reason();
  }
}

TEST(CodecTest, LargeButLegalLengthNeedsMoreWithoutAllocating) {
  std::string rec = Encode(Samples()[0]).substr(0, 12);
  ForgeHeader(&rec, 1, kMaxKeySize, 1u << 30);  // the largest legal record
  ChangeView got;
  const DecodeResult r = DecodeChange(rec, &got);
  EXPECT_TRUE(r.need_more());
  EXPECT_EQ(r.needed, kMaxRecordSize);
}

TEST(CodecTest, ForgedRecordWithBadBodyChecksumIsCorrupt) {
  // A full-length record whose lengths were altered consistently in the header but
  // whose trailing checksum was not: the body checksum still catches it.
  std::string rec = Encode(Samples()[0]);
  ForgeHeader(&rec, 1, 10, static_cast<uint32_t>(kBinaryValue.size() + 1));
  ChangeView got;
  EXPECT_EQ(DecodeChange(rec, &got).corruption, Corruption::kBadChecksum);
}

}  // namespace
}  // namespace syncached::record
