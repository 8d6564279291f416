#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/protocol.h"

namespace syncached::protocol {
namespace {

constexpr size_t kItemMax = 1 << 20;

struct Parsed {
  ParseResult r;
  Request req;
};

Parsed Parse(std::string_view in) {
  Parsed p;
  p.r = ParseText(in, kItemMax, &p.req);
  return p;
}

TEST(TextParser, SetWithData) {
  std::string in = "set foo 5 100 3\r\nbar\r\n";
  Parsed p = Parse(in);
  ASSERT_EQ(p.r.status, ParseResult::kOk);
  EXPECT_EQ(p.r.consumed, in.size());
  EXPECT_EQ(p.req.cmd, Command::kSet);
  EXPECT_EQ(p.req.key, "foo");
  EXPECT_EQ(p.req.flags, 5u);
  EXPECT_EQ(p.req.exptime, 100);
  EXPECT_EQ(p.req.data, "bar");
  EXPECT_FALSE(p.req.noreply);
}

// Every prefix of a complete request needs more; the whole request parses.
TEST(TextParser, MembersTakesOneAction) {
  Parsed p = Parse("members reload\r\n");
  ASSERT_EQ(p.r.status, ParseResult::kOk);
  EXPECT_EQ(p.req.cmd, Command::kMembers);
  EXPECT_EQ(p.req.args, "reload");
  for (const char* bad : {"members\r\n", "members reload now\r\n"}) {
    Parsed b = Parse(bad);
    EXPECT_EQ(b.req.cmd, Command::kError) << bad;
  }
}

TEST(TextParser, EveryTruncationNeedsMore) {
  const std::vector<std::string> requests = {"set foo 0 0 3\r\nbar\r\n",
                                             "get a b c\r\n",
                                             "cas k 1 2 3 44 noreply\r\nxyz\r\n",
                                             "mg foo v c f\r\n",
                                             "ms foo 2 T1\r\nhi\r\n",
                                             "incr n 5\r\n",
                                             "delete k\r\n",
                                             "flush_all 10\r\n",
                                             "gat 10 a b\r\n"};
  for (const std::string& full : requests) {
    for (size_t cut = 0; cut < full.size(); ++cut) {
      Parsed p = Parse(std::string_view(full).substr(0, cut));
      EXPECT_EQ(p.r.status, ParseResult::kNeedMore) << full << " cut at " << cut;
    }
    Parsed p = Parse(full);
    EXPECT_EQ(p.r.status, ParseResult::kOk) << full;
    EXPECT_EQ(p.r.consumed, full.size()) << full;
    EXPECT_NE(p.req.cmd, Command::kError) << full << ": " << TextErrorLine(p.req.error);
  }
}

TEST(TextParser, PipelinedRequestsParseOneAtATime) {
  std::string in = "set a 0 0 1\r\nx\r\nget a\r\ndelete a\r\n";
  std::vector<Command> cmds;
  std::string_view rest = in;
  while (!rest.empty()) {
    Parsed p = Parse(rest);
    ASSERT_EQ(p.r.status, ParseResult::kOk);
    cmds.push_back(p.req.cmd);
    rest.remove_prefix(p.r.consumed);
  }
  EXPECT_EQ(cmds, (std::vector<Command>{Command::kSet, Command::kGet, Command::kDelete}));
}

TEST(TextParser, ErrorsMatchMemcached) {
  struct Case {
    std::string in;
    std::string error;
    uint64_t swallow;
  };
  const std::string long_key(251, 'k');
  const std::vector<Case> cases = {
      {"\r\n", "ERROR", 0},
      {"bogus\r\n", "ERROR", 0},
      {"set foo 0 0\r\n", "ERROR", 0},
      {"set " + long_key + " 0 0 1\r\n", "CLIENT_ERROR bad command line format", 0},
      {"set foo abc 0 1\r\n", "CLIENT_ERROR bad command line format", 0},
      {"set foo 0 0 -1\r\n", "CLIENT_ERROR bad command line format", 0},
      {"set foo 0 0 2147483648\r\n", "CLIENT_ERROR bad command line format", 0},
      {"set foo 0 0 2000000\r\n", "SERVER_ERROR object too large for cache", 2000002},
      {"incr foo abc\r\n", "CLIENT_ERROR invalid numeric delta argument", 0},
      {"touch foo abc\r\n", "CLIENT_ERROR invalid exptime argument", 0},
      {"delete foo 5\r\n", "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]",
       0},
      {"get " + long_key + "\r\n", "CLIENT_ERROR bad command line format", 0},
      {"mg foo zz\r\n", "CLIENT_ERROR invalid flag", 0},
      {"mg foo v v\r\n", "CLIENT_ERROR duplicate flag", 0},
      {"ms foo 2 MX\r\nhi\r\n", "CLIENT_ERROR invalid mode for ms M token", 4},
      {"md foo zz\r\n", "CLIENT_ERROR invalid or duplicate flag", 0},
  };
  for (const Case& c : cases) {
    Parsed p = Parse(c.in);
    ASSERT_EQ(p.r.status, ParseResult::kOk) << c.in;
    EXPECT_EQ(p.req.cmd, Command::kError) << c.in;
    EXPECT_EQ(TextErrorLine(p.req.error), c.error) << c.in;
    EXPECT_EQ(p.req.swallow, c.swallow) << c.in;
  }
}

TEST(TextParser, BadDataChunkConsumesTheBlock) {
  std::string in = "set foo 0 0 3\r\nbarX\r\n";
  Parsed p = Parse(in);
  ASSERT_EQ(p.r.status, ParseResult::kOk);
  EXPECT_EQ(p.req.cmd, Command::kError);
  EXPECT_EQ(p.req.error, TextError::kBadDataChunk);
  EXPECT_EQ(p.r.consumed, std::string("set foo 0 0 3\r\nbarX\r").size());
}

TEST(TextParser, LongLineWithoutNewlineCloses) {
  std::string junk(3000, 'x');
  EXPECT_EQ(Parse(junk).r.status, ParseResult::kClose);
  // ...but a long multiget keeps reading.
  std::string get = "get " + std::string(3000, 'k');
  EXPECT_EQ(Parse(get).r.status, ParseResult::kNeedMore);
}

TEST(TextParser, NoreplyIsTheLastToken) {
  Parsed p = Parse("set foo 0 0 1 noreply\r\nx\r\n");
  EXPECT_TRUE(p.req.noreply);
  p = Parse("incr foo 1 noreply\r\n");
  EXPECT_TRUE(p.req.noreply);
  p = Parse("flush_all noreply\r\n");
  EXPECT_EQ(p.req.cmd, Command::kFlushAll);
  EXPECT_TRUE(p.req.noreply);
}

TEST(TextParser, MetaFlagsKeepOrderAndValues) {
  Parsed p = Parse("mg foo T30 v c N10 Oabc\r\n");
  ASSERT_EQ(p.req.cmd, Command::kMetaGet);
  EXPECT_TRUE(p.req.meta.Has('v'));
  EXPECT_TRUE(p.req.meta.Has('N'));
  EXPECT_FALSE(p.req.meta.Has('k'));
  EXPECT_EQ(p.req.meta.ttl, 30);
  EXPECT_EQ(p.req.meta.vivify_ttl, 10);
  ASSERT_EQ(p.req.meta.ntokens, 5);
  EXPECT_EQ(p.req.meta.tokens[4], "Oabc");
}

TEST(TextParser, MetaBase64Key) {
  Parsed p = Parse("mg Zm9vYmFy b v\r\n");
  ASSERT_EQ(p.req.cmd, Command::kMetaGet);
  EXPECT_EQ(p.req.key, "foobar");
  EXPECT_TRUE(p.req.key_binary);
  p = Parse("mg !!!! b v\r\n");
  EXPECT_EQ(p.req.cmd, Command::kError);
  EXPECT_EQ(p.req.error, TextError::kMetaBadKeyEncoding);
}

}  // namespace
}  // namespace syncached::protocol
