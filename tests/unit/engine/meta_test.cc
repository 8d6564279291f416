#include <gtest/gtest.h>

#include "tests/unit/engine/harness.h"

namespace syncached::engine {
namespace {

TEST(Meta, GetFlags) {
  EngineHarness h;
  EXPECT_EQ(h.Send("mg foo v\r\n"), "EN\r\n");
  EXPECT_EQ(h.Send("mg foo v q\r\nmn\r\n"), "MN\r\n");
  EXPECT_EQ(h.Send("ms foo 3 F5 T100\r\nbar\r\n"), "HD\r\n");
  EXPECT_EQ(h.Send("mg foo s f t v Oxyz k\r\n"), "VA 3 s3 f5 t100 Oxyz kfoo\r\nbar\r\n");
  EXPECT_EQ(h.Send("mg foo\r\n"), "HD\r\n");
  EXPECT_EQ(h.Send("mg foo h l\r\n"), "HD h1 l0\r\n");
}

TEST(Meta, SetModesAndCas) {
  EngineHarness h;
  EXPECT_EQ(h.Send("ms k 1 ME\r\na\r\n"), "HD\r\n");
  EXPECT_EQ(h.Send("ms k 1 ME\r\na\r\n"), "NS\r\n");
  EXPECT_EQ(h.Send("ms k 1 MA\r\nb\r\n"), "HD\r\n");
  EXPECT_EQ(h.Send("ms k 1 MP\r\nc\r\n"), "HD\r\n");
  EXPECT_EQ(h.Send("mg k v\r\n"), "VA 3\r\ncab\r\n");
  EXPECT_EQ(h.Send("ms nope 1 MR\r\nx\r\n"), "NS\r\n");
  EXPECT_EQ(h.Send("ms k 1 C1\r\nx\r\n"), "EX\r\n");
  EXPECT_EQ(h.Send("ms nope 1 C1\r\nx\r\n"), "NF\r\n");
  std::string r = h.Send("ms k 1 c\r\nz\r\n");
  ASSERT_EQ(r.substr(0, 4), "HD c");
  std::string cas = r.substr(4, r.size() - 6);
  EXPECT_EQ(h.Send("ms k 1 q C" + cas + "\r\ny\r\nmn\r\n"), "MN\r\n");
  EXPECT_EQ(h.Send("ms k 1 MX\r\nx\r\n"), "CLIENT_ERROR invalid mode for ms M token\r\n");
}

TEST(Meta, DeleteAndInvalidate) {
  EngineHarness h;
  EXPECT_EQ(h.Send("md k\r\n"), "NF\r\n");
  h.Send("ms k 1 T100\r\na\r\n");
  EXPECT_EQ(h.Send("md k I T30\r\n"), "HD\r\n");
  // Stale: the first reader wins the right to recache, the next sees Z.
  EXPECT_EQ(h.Send("mg k v c\r\n").find(" X W\r\n") != std::string::npos, true);
  EXPECT_NE(h.Send("mg k\r\n").find(" Z X"), std::string::npos);
  EXPECT_EQ(h.Send("md k q\r\nmn\r\n"), "MN\r\n");
  EXPECT_EQ(h.Send("mg k\r\n"), "EN\r\n");
}

TEST(Meta, VivifyAndRecache) {
  EngineHarness h;
  EXPECT_EQ(h.Send("mg k N30 t\r\n"), "HD t30 W\r\n");
  EXPECT_EQ(h.Send("mg k N30 t\r\n"), "HD t30 Z\r\n");
  h.Send("ms r 1 T10\r\na\r\n");
  EXPECT_EQ(h.Send("mg r R30\r\n"), "HD W\r\n");
  EXPECT_EQ(h.Send("mg r R30\r\n"), "HD Z\r\n");
}

TEST(Meta, Arithmetic) {
  EngineHarness h;
  EXPECT_EQ(h.Send("ma n\r\n"), "NF\r\n");
  EXPECT_EQ(h.Send("ma n N0 J10 v\r\n"), "VA 2\r\n10\r\n");
  EXPECT_EQ(h.Send("ma n v\r\n"), "VA 2\r\n11\r\n");
  EXPECT_EQ(h.Send("ma n MD D5 v\r\n"), "VA 1\r\n6\r\n");
  EXPECT_EQ(h.Send("ma n q\r\nmn\r\n"), "MN\r\n");
  EXPECT_EQ(h.Send("ma n C1\r\n"), "EX\r\n");
  EXPECT_EQ(h.Send("ma n MZ\r\n"), "CLIENT_ERROR invalid mode for ma M token\r\n");
}

TEST(Meta, Base64Keys) {
  EngineHarness h;
  EXPECT_EQ(h.Send("ms Zm9v 1 b\r\nx\r\n"), "HD\r\n");
  EXPECT_EQ(h.Send("get foo\r\n"), "VALUE foo 0 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(h.Send("mg Zm9v b k v\r\n"), "VA 1 kZm9v b\r\nx\r\n");
}

TEST(Meta, DebugAndNoop) {
  EngineHarness h;
  EXPECT_EQ(h.Send("me k\r\n"), "EN\r\n");
  h.Send("set k 0 0 1\r\na\r\n");
  std::string r = h.Send("me k\r\n");
  EXPECT_EQ(r.substr(0, 16), "ME k exp=-1 la=0") << r;
  EXPECT_NE(r.find(" fetch=no cls="), std::string::npos) << r;
  EXPECT_EQ(h.Send("mn\r\n"), "MN\r\n");
}

}  // namespace
}  // namespace syncached::engine
