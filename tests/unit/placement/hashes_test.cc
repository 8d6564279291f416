#include "placement/hashes.h"

#include <gtest/gtest.h>

namespace syncached::placement {
namespace {

// libmemcached 1.1.4 test/fixtures/hashes.hpp (first five inputs).
constexpr const char* kInputs[] = {"apple", "beat", "carrot", "daikon", "eggplant"};

TEST(Hashes, OneAtATimeMatchesLibhashkit) {
  const uint32_t want[] = {2297466611U, 3902465932U, 469785835U, 1937308741U, 261917617U};
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(OneAtATime(kInputs[i]), want[i]) << kInputs[i];
}

TEST(Hashes, OneAtATimeSignExtendsHighBytes) {
  // (uint32_t)(char)0xff is 0xffffffff in libhashkit, not 0xff.
  uint32_t v = 0xffffffffu;
  v += v << 10;
  v ^= v >> 6;
  v += v << 3;
  v ^= v >> 11;
  v += v << 15;
  EXPECT_EQ(OneAtATime("\xff"), v);
}

TEST(Hashes, Md5HashMatchesLibhashkit) {
  const uint32_t want[] = {3195025439U, 2556848621U, 3724893440U, 3332385401U, 245758794U};
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(Md5Hash(kInputs[i]), want[i]) << kInputs[i];
}

TEST(Hashes, Md5Digest) {
  auto d = Md5("");
  EXPECT_EQ(d[0], 0xd4);
  EXPECT_EQ(d[15], 0x7e);
}

TEST(Hashes, Crc32IsTheStandardOne) {
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(Crc32(""), 0u);
}

}  // namespace
}  // namespace syncached::placement
