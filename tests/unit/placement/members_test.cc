#include <gtest/gtest.h>

#include "placement/placement.h"

namespace syncached::placement {
namespace {

std::string ErrorOf(std::string_view text) {
  auto r = Members::Parse(text);
  return r ? std::string("ok") : r.error().message();
}

TEST(Members, ParsesLinesCommentsAndDefaults) {
  auto m = Members::Parse(
      "# cluster A\n"
      "\n"
      "1 10.0.0.1:11211 10.0.0.1:11311   # first\n"
      "2\t10.0.0.2 10.0.0.2:11311 3\r\n"
      "7 cache-3:11212 10.0.0.3:11311\n");
  ASSERT_TRUE(m) << m.error().message();
  ASSERT_EQ(m->nodes().size(), 3u);
  EXPECT_EQ(m->nodes()[0].client_address, "10.0.0.1:11211");
  EXPECT_EQ(m->nodes()[0].host, "10.0.0.1");
  EXPECT_EQ(m->nodes()[0].line, 3);
  EXPECT_EQ(m->nodes()[1].client_address, "10.0.0.2");
  EXPECT_EQ(m->nodes()[1].port, 11211);
  EXPECT_EQ(m->nodes()[1].weight, 3u);
  EXPECT_EQ(m->nodes()[2].id, 7);
  EXPECT_EQ(m->nodes()[2].port, 11212);
  EXPECT_EQ(m->Find(7)->host, "cache-3");
  EXPECT_EQ(m->Find(3), nullptr);
}

TEST(Members, ErrorsNameTheLine) {
  EXPECT_EQ(ErrorOf("1 a:1 b:1\n2 c:1\n"),
            "members line 2: expected 'node-id client-address replication-address [weight]', "
            "got 2 fields");
  EXPECT_EQ(ErrorOf("0 a:1 b:1\n"), "members line 1: node id '0' is not in 1..65535");
  EXPECT_EQ(ErrorOf("65536 a:1 b:1\n"), "members line 1: node id '65536' is not in 1..65535");
  EXPECT_EQ(ErrorOf("x a:1 b:1\n"), "members line 1: node id 'x' is not in 1..65535");
  EXPECT_EQ(ErrorOf("1 a:1 b:1\n\n1 c:1 d:1\n"), "members line 3: node id 1 already on line 1");
  EXPECT_EQ(ErrorOf("1 a b:1\n2 a:11211 d:1\n"),
            "members line 2: client address a:11211 already on line 1");
  EXPECT_EQ(ErrorOf("1 a:1 b:1\n2 c:1 b:1\n"),
            "members line 2: replication address b:1 already on line 1");
  EXPECT_EQ(
      ErrorOf("1 a:0 b:1\n"),
      "members line 1: client address 'a:0' is not HOST or HOST:PORT (IPv6 not supported yet)");
  EXPECT_EQ(ErrorOf("1 [::1]:11211 b:1\n").substr(0, 38), "members line 1: client address '[::1]:");
  EXPECT_EQ(ErrorOf("1 a:1 b:1 0\n"), "members line 1: weight '0' is not in 1..1000000");
  EXPECT_EQ(ErrorOf("# nothing\n"), "members: no nodes listed");
}

TEST(Members, DigestFollowsMeaningNotLayout) {
  auto a = Members::Parse("1 a:1 b:1\n2 c:1 d:1\n");
  auto b = Members::Parse("# same\n1   a:1 b:1 1\n2 c:1\td:1 # x\n");
  auto c = Members::Parse("2 c:1 d:1\n1 a:1 b:1\n");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->Digest(), b->Digest());
  EXPECT_NE(a->Digest(), c->Digest());  // order decides ties and pecl's point order
  EXPECT_EQ(a->Canonical(), "1 a:1 b:1 1\n2 c:1 d:1 1\n");
}

}  // namespace
}  // namespace syncached::placement
