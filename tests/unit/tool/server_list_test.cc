#include "server_list.h"

#include <gtest/gtest.h>

namespace syncached::tool {
namespace {

placement::Members Members3() {
  return *placement::Members::Parse(
      "1 10.0.0.1:11211 r1\n2 10.0.0.2:11211 r2\n3 cache3:11212 r3 2\n");
}

TEST(ServerList, ParsesBothClientsSpellings) {
  auto l = ParseServerList("10.0.0.1, 10.0.0.2:11211:3,tcp://cache3:11212?persistent=1&weight=2");
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[0].host, "10.0.0.1");
  EXPECT_EQ(l[0].port, 11211);
  EXPECT_EQ(l[1].weight, 3u);
  EXPECT_EQ(l[2].host, "cache3");
  EXPECT_EQ(l[2].port, 11212);
  EXPECT_EQ(l[2].weight, 2u);
}

TEST(ServerList, MatchesWhenOrderSpellingAndWeightsAgree) {
  EXPECT_TRUE(
      CompareServerList(Members3(), ParseServerList("10.0.0.1:11211,10.0.0.2,cache3:11212:2"))
          .empty());
}

TEST(ServerList, ExplainsEachMismatch) {
  auto p = CompareServerList(Members3(),
                             ParseServerList("10.0.0.2:11211,10.0.0.1:11211,10.0.0.3:11212"));
  ASSERT_EQ(p.size(), 4u);
  EXPECT_NE(p[0].find("members line 2 (node 2), position 2"), std::string::npos) << p[0];
  EXPECT_NE(p[2].find("no member has client address 10.0.0.3:11212"), std::string::npos) << p[2];
  EXPECT_NE(p[3].find("node 3 (cache3:11212, members line 3) is missing"), std::string::npos)
      << p[3];
  auto w = CompareServerList(Members3(), ParseServerList("10.0.0.1,10.0.0.2,cache3:11212"));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("weight 1 but node 3 has weight 2"), std::string::npos) << w[0];
}

}  // namespace
}  // namespace syncached::tool
