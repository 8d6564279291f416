#include <gtest/gtest.h>

#include "protocol/protocol.h"

namespace syncached::protocol {
namespace {

TEST(Numbers, MemcachedStrtoSemantics) {
  uint32_t u32;
  int32_t i32;
  uint64_t u64;
  EXPECT_TRUE(ParseU32("42", &u32));
  EXPECT_EQ(u32, 42u);
  EXPECT_FALSE(ParseU32("-1", &u32));
  EXPECT_FALSE(ParseU32("12abc", &u32));
  EXPECT_FALSE(ParseU32("", &u32));
  // memcached stores strtoul's 64-bit result into 32 bits.
  EXPECT_TRUE(ParseU32("4294967296", &u32));
  EXPECT_EQ(u32, 0u);
  EXPECT_TRUE(ParseI32("-5", &i32));
  EXPECT_EQ(i32, -5);
  EXPECT_TRUE(ParseU64("18446744073709551615", &u64));
  EXPECT_EQ(u64, UINT64_MAX);
  EXPECT_FALSE(ParseU64("18446744073709551616", &u64));
  EXPECT_FALSE(ParseU64("-1", &u64));
  // strtoull negates: "-18446744073709551615" is 1 and memcached accepts it.
  EXPECT_TRUE(ParseU64("-18446744073709551615", &u64));
  EXPECT_EQ(u64, 1u);
}

TEST(Base64, RoundTrip) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\x01\xff\x00z"}) {
    std::string enc, dec;
    Base64Encode(s, &enc);
    if (s.empty()) continue;
    ASSERT_TRUE(Base64Decode(enc, &dec)) << enc;
    EXPECT_EQ(dec, s);
  }
  std::string out;
  EXPECT_FALSE(Base64Decode("abc", &out));
  EXPECT_FALSE(Base64Decode("ab=c", &out));
}

TEST(UriEncode, EscapesAllButUnreserved) {
  std::string out;
  UriEncode("a b/c~_.-%", &out);
  EXPECT_EQ(out, "a%20b%2Fc~_.-%25");
}

}  // namespace
}  // namespace syncached::protocol
