#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <vector>

#include "record/record.h"

namespace syncached::record {
namespace {

TEST(HlcTest, PacksMillisHighAndLogicalLow) {
  const uint64_t hlc = MakeHlc(1'700'000'000'123ull, 7);
  EXPECT_EQ(hlc, (1'700'000'000'123ull << 16) | 7);
  EXPECT_EQ(HlcMillis(hlc), 1'700'000'000'123ull);
  EXPECT_EQ(HlcLogical(hlc), 7);
  EXPECT_EQ(HlcMillis(MakeHlc(kHlcMaxMillis, 0xffff)), kHlcMaxMillis);
  EXPECT_EQ(MakeHlc(kHlcMaxMillis, 0xffff), UINT64_MAX);
}

TEST(HlcTest, LaterMillisBeatAnyLogicalCount) {
  EXPECT_LT(MakeHlc(1000, 0xffff), MakeHlc(1001, 0));
}

TEST(VersionTest, OrdersByHlcThenNode) {
  const Version a{MakeHlc(1000, 0), 9};
  const Version b{MakeHlc(1000, 1), 1};
  const Version c{MakeHlc(1000, 1), 2};
  EXPECT_LT(a, b);  // hlc decides even though a's node is higher
  EXPECT_LT(b, c);  // same hlc: node breaks the tie
  EXPECT_GT(c, a);
  EXPECT_LE(b, b);
  EXPECT_EQ(b, (Version{MakeHlc(1000, 1), 1}));
  EXPECT_NE(b, c);
}

TEST(VersionTest, SortIsTotalAndDeterministic) {
  std::vector<Version> v = {{5, 2}, {5, 1}, {3, 7}, {9, 0}, {5, 1}};
  std::sort(v.begin(), v.end());
  const std::vector<Version> want = {{3, 7}, {5, 1}, {5, 1}, {5, 2}, {9, 0}};
  EXPECT_EQ(v, want);
}

TEST(VersionTest, DefaultIsOlderThanAnyIssuedVersion) {
  EXPECT_LT(Version{}, (Version{1, 0}));
  EXPECT_EQ(Version{}, (Version{0, 0}));
}

TEST(VersionTest, PrintsMillisLogicalAndNode) {
  const Version v{MakeHlc(1'700'000'000'000ull, 3), 7};
  EXPECT_EQ(v.ToString(), "1700000000000.3@7");
  std::ostringstream os;
  os << v;
  EXPECT_EQ(os.str(), "1700000000000.3@7");
}

}  // namespace
}  // namespace syncached::record
