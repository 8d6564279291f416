#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "tests/unit/engine/harness.h"

namespace syncached::engine {
namespace {

TEST(Text, SetGetDelete) {
  EngineHarness h;
  EXPECT_EQ(h.Send("set foo 7 0 3\r\nbar\r\n"), "STORED\r\n");
  EXPECT_EQ(h.Send("get foo\r\n"), "VALUE foo 7 3\r\nbar\r\nEND\r\n");
  EXPECT_EQ(h.Send("get nope foo nope\r\n"), "VALUE foo 7 3\r\nbar\r\nEND\r\n");
  EXPECT_EQ(h.Send("delete foo\r\n"), "DELETED\r\n");
  EXPECT_EQ(h.Send("delete foo\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(h.Send("get foo\r\n"), "END\r\n");
}

// A get of many large values stops at the output limit and goes on from the next key
// when presented again (the connection drained its output): the same bytes in the end,
// never much more than the limit at once.
TEST(Text, GetStopsAtTheOutputLimitAndResumes) {
  EngineHarness h, whole;
  std::string value(1000, 'v');
  std::string set = "set big 0 0 1000\r\n" + value + "\r\n";
  ASSERT_EQ(h.Send(set), "STORED\r\n");
  ASSERT_EQ(whole.Send(set), "STORED\r\n");
  std::string get = "gets big nope";
  for (int i = 0; i < 50; ++i) get += " big";
  get += "\r\nversion\r\n";
  std::string expect = whole.Send(get);
  Session& s = h.session();
  std::string in = get, all;
  int presentations = 0;
  while (!in.empty() && presentations < 1000) {
    std::string out;
    size_t n = h.engine().Process(s, in, &out, 4000);
    EXPECT_LE(out.size(), 4000u + 1100u);  // the limit and one value block
    all += out;
    in.erase(0, n);
    ++presentations;
  }
  EXPECT_EQ(all, expect);
  EXPECT_GT(presentations, 10);
  EXPECT_EQ(s.resume, 0u);
}

// lru_crawler metadump lists a shard at a time and stops at the output limit the same
// way: the whole listing in the end, never much more than the limit at once.
TEST(Text, MetadumpStopsAtTheOutputLimitAndResumes) {
  EngineHarness h;
  for (int i = 0; i < 3000; ++i) {
    std::string key = "key:" + std::to_string(i);
    ASSERT_EQ(h.Send("set " + key + " 0 0 1\r\nx\r\n"), "STORED\r\n");
  }
  std::string expect = h.Send("lru_crawler metadump all\r\n");
  ASSERT_EQ(std::count(expect.begin(), expect.end(), '\n'), 3001);
  Session& s = h.session();
  std::string in = "lru_crawler metadump all\r\nversion\r\n", all;
  int presentations = 0;
  while (!in.empty() && presentations < 10000) {
    std::string out;
    size_t n = h.engine().Process(s, in, &out, 2000);
    all += out;
    in.erase(0, n);
    ++presentations;
  }
  EXPECT_EQ(all, expect + h.Send("version\r\n"));
  // A shard each (every shard's lines are over the limit here), then the version.
  EXPECT_EQ(presentations, static_cast<int>(h.engine().store()->shard_count()) + 1);
  EXPECT_EQ(s.resume, 0u);
}

TEST(Text, BytewiseEqualsWhole) {
  const std::string script =
      "set a 1 0 2\r\nxy\r\nappend a 0 0 1\r\nz\r\nprepend a 0 0 1\r\nw\r\nget a\r\n"
      "incr n 1\r\nadd n 0 0 1\r\n5\r\nincr n 10\r\ndecr n 100\r\nget n\r\n";
  EngineHarness whole, bytewise;
  EXPECT_EQ(whole.Send(script), bytewise.SendBytewise(script));
}

TEST(Text, AddReplaceAppendPrepend) {
  EngineHarness h;
  EXPECT_EQ(h.Send("replace k 0 0 1\r\na\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(h.Send("append k 0 0 1\r\na\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(h.Send("add k 3 0 1\r\na\r\n"), "STORED\r\n");
  EXPECT_EQ(h.Send("add k 0 0 1\r\nb\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(h.Send("append k 9 0 2\r\nyz\r\n"), "STORED\r\n");
  EXPECT_EQ(h.Send("prepend k 9 0 1\r\n_\r\n"), "STORED\r\n");
  // append/prepend keep the original flags.
  EXPECT_EQ(h.Send("get k\r\n"), "VALUE k 3 4\r\n_ayz\r\nEND\r\n");
  EXPECT_EQ(h.Send("replace k 1 0 1\r\nr\r\n"), "STORED\r\n");
  EXPECT_EQ(h.Send("get k\r\n"), "VALUE k 1 1\r\nr\r\nEND\r\n");
}

TEST(Text, Cas) {
  EngineHarness h;
  EXPECT_EQ(h.Send("cas k 0 0 1 1\r\na\r\n"), "NOT_FOUND\r\n");
  h.Send("set k 0 0 1\r\na\r\n");
  std::string r = h.Send("gets k\r\n");
  size_t sp = r.rfind(' ', r.find("\r\n"));
  std::string cas = r.substr(sp + 1, r.find("\r\n") - sp - 1);
  EXPECT_EQ(h.Send("cas k 0 0 1 " + cas + "1\r\nb\r\n"), "EXISTS\r\n");
  EXPECT_EQ(h.Send("cas k 0 0 1 " + cas + "\r\nb\r\n"), "STORED\r\n");
  EXPECT_EQ(h.Send("cas k 0 0 1 " + cas + "\r\nc\r\n"), "EXISTS\r\n");
  EXPECT_EQ(h.Send("get k\r\n"), "VALUE k 0 1\r\nb\r\nEND\r\n");
}

TEST(Text, IncrDecrLikeMemcached) {
  EngineHarness h;
  EXPECT_EQ(h.Send("incr n 1\r\n"), "NOT_FOUND\r\n");
  h.Send("set n 0 0 2\r\n10\r\n");
  EXPECT_EQ(h.Send("decr n 1\r\n"), "9\r\n");
  // memcached rewrites in place and pads with a space.
  EXPECT_EQ(h.Send("get n\r\n"), "VALUE n 0 2\r\n9 \r\nEND\r\n");
  EXPECT_EQ(h.Send("decr n 100\r\n"), "0\r\n");
  EXPECT_EQ(h.Send("set n 0 0 20\r\n18446744073709551615\r\n"), "STORED\r\n");
  EXPECT_EQ(h.Send("incr n 2\r\n"), "1\r\n");  // wraps at 2^64
  h.Send("set s 0 0 3\r\nabc\r\n");
  EXPECT_EQ(h.Send("incr s 1\r\n"),
            "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  EXPECT_EQ(h.Send("incr s -1\r\n"), "CLIENT_ERROR invalid numeric delta argument\r\n");
}

TEST(Text, NoreplySilencesRepliesAndErrors) {
  EngineHarness h;
  EXPECT_EQ(h.Send("set k 0 0 1 noreply\r\na\r\n"), "");
  EXPECT_EQ(h.Send("add k 0 0 1 noreply\r\nb\r\n"), "");
  EXPECT_EQ(h.Send("incr k 1 noreply\r\n"), "");
  EXPECT_EQ(h.Send("delete k noreply\r\n"), "");
  // Bad data chunk: silenced, but memcached reads only 1+2 bytes and the stray "\n"
  // then reads as an empty command line.
  EXPECT_EQ(h.Send("set k 0 0 1 noreply\r\nab\r\n"), "ERROR\r\n");
  EXPECT_EQ(h.Send("get k\r\n"), "END\r\n");
}

TEST(Text, TooLargeValueIsSwallowed) {
  Settings s;
  s.item_size_max = 1024;
  EngineHarness h(s);
  std::string big(2000, 'x');
  EXPECT_EQ(h.Send("set big 0 0 2000\r\n" + big.substr(0, 500)),
            "SERVER_ERROR object too large for cache\r\n");
  EXPECT_EQ(h.Send(big.substr(500) + "\r\nget big\r\n"), "END\r\n");
}

TEST(Text, ExpiryRelativeAbsoluteNegative) {
  EngineHarness h;
  uint32_t now = h.clock().NowSeconds();
  h.Send("set rel 0 10 1\r\na\r\n");
  h.Send("set abs 0 " + std::to_string(now + 20) + " 1\r\nb\r\n");
  EXPECT_EQ(h.Send("set neg 0 -1 1\r\nc\r\n"), "STORED\r\n");
  EXPECT_EQ(h.Send("get neg\r\n"), "END\r\n");
  // An absolute time in the past: stored, never returned, add works again.
  EXPECT_EQ(h.Send("add probe 0 2678400 0\r\n\r\n"), "STORED\r\n");
  EXPECT_EQ(h.Send("get probe\r\n"), "END\r\n");
  EXPECT_EQ(h.Send("add probe 0 2678400 0\r\n\r\n"), "STORED\r\n");
  h.clock().Advance(10'000);
  EXPECT_EQ(h.Send("get rel\r\n"), "END\r\n");
  EXPECT_EQ(h.Send("get abs\r\n"), "VALUE abs 0 1\r\nb\r\nEND\r\n");
  h.clock().Advance(10'000);
  EXPECT_EQ(h.Send("get abs\r\n"), "END\r\n");
}

TEST(Text, TouchAndGat) {
  EngineHarness h;
  h.Send("set k 0 5 1\r\na\r\n");
  EXPECT_EQ(h.Send("touch k 100\r\n"), "TOUCHED\r\n");
  EXPECT_EQ(h.Send("touch nope 100\r\n"), "NOT_FOUND\r\n");
  h.clock().Advance(50'000);
  EXPECT_EQ(h.Send("gat 0 k\r\n"), "VALUE k 0 1\r\na\r\nEND\r\n");  // 0: never expires
  h.clock().Advance(500'000);
  EXPECT_EQ(h.Send("get k\r\n"), "VALUE k 0 1\r\na\r\nEND\r\n");
}

TEST(Text, FlushAllNowAndDelayed) {
  EngineHarness h;
  h.Send("set a 0 0 1\r\na\r\n");
  EXPECT_EQ(h.Send("flush_all\r\n"), "OK\r\n");
  EXPECT_EQ(h.Send("get a\r\n"), "END\r\n");
  h.Send("set b 0 0 1\r\nb\r\n");
  EXPECT_EQ(h.Send("get b\r\n"), "VALUE b 0 1\r\nb\r\nEND\r\n");
  EXPECT_EQ(h.Send("flush_all 2\r\n"), "OK\r\n");
  EXPECT_EQ(h.Send("get b\r\n"), "VALUE b 0 1\r\nb\r\nEND\r\n");
  h.clock().Advance(2'000);
  EXPECT_EQ(h.Send("get b\r\n"), "END\r\n");
  EXPECT_EQ(h.Send("flush_all noreply\r\n"), "");
}

TEST(Text, MiscCommands) {
  EngineHarness h;
  EXPECT_EQ(h.Send("version\r\n"), "VERSION 1.6.18\r\n");
  EXPECT_EQ(h.Send("verbosity 1\r\n"), "OK\r\n");
  EXPECT_EQ(h.Send("verbosity\r\n"), "ERROR\r\n");
  EXPECT_EQ(h.Send("shutdown\r\n"), "ERROR: shutdown not enabled\r\n");
  EXPECT_EQ(h.Send("stats reset\r\n"), "RESET\r\n");
  EXPECT_EQ(h.Send("stats nonsense\r\n"), "ERROR\r\n");
  EXPECT_EQ(h.Send("quit\r\n"), "");
  EXPECT_TRUE(h.session().close);
}

TEST(Text, StatsCountLikeMemcached) {
  EngineHarness h;
  h.Send("set a 0 0 1\r\n1\r\nget a b\r\ndelete b\r\nincr a 1\r\ntouch a 0\r\n");
  std::string st = h.Send("stats\r\n");
  EXPECT_NE(st.find("STAT cmd_get 2\r\n"), std::string::npos) << st;
  EXPECT_NE(st.find("STAT get_hits 1\r\n"), std::string::npos);
  EXPECT_NE(st.find("STAT get_misses 1\r\n"), std::string::npos);
  EXPECT_NE(st.find("STAT cmd_set 1\r\n"), std::string::npos);
  EXPECT_NE(st.find("STAT delete_misses 1\r\n"), std::string::npos);
  EXPECT_NE(st.find("STAT incr_hits 1\r\n"), std::string::npos);
  EXPECT_NE(st.find("STAT touch_hits 1\r\n"), std::string::npos);
  EXPECT_NE(st.find("STAT curr_items 1\r\n"), std::string::npos);
  EXPECT_TRUE(st.ends_with("END\r\n"));
}

TEST(Text, MemoryLimitEvictsOldest) {
  Settings s;
  s.maxbytes = 4 << 20;
  s.item_size_max = 1 << 20;
  EngineHarness h(s);
  std::string v(1000, 'v');
  for (int i = 0; i < 10000; ++i) {
    ASSERT_EQ(h.Send("set k" + std::to_string(i) + " 0 0 1000\r\n" + v + "\r\n"), "STORED\r\n");
  }
  EXPECT_LE(h.store().used_bytes(), 4u << 20);
  EXPECT_EQ(h.Send("get k0\r\n"), "END\r\n");
  EXPECT_EQ(h.Send("get k9999\r\n").substr(0, 11), "VALUE k9999");
  EXPECT_NE(h.Send("stats\r\n").find("STAT evictions "), std::string::npos);
}

TEST(Text, NoEvictModeRefuses) {
  Settings s;
  s.maxbytes = 2 << 20;
  s.evictions = false;
  EngineHarness h(s);
  std::string v(1000, 'v');
  std::string last;
  for (int i = 0; i < 5000 && last != "SERVER_ERROR out of memory storing object\r\n"; ++i) {
    last = h.Send("set k" + std::to_string(i) + " 0 0 1000\r\n" + v + "\r\n");
  }
  EXPECT_EQ(last, "SERVER_ERROR out of memory storing object\r\n");
  EXPECT_EQ(h.Send("get k0\r\n").substr(0, 8), "VALUE k0");
}

}  // namespace
}  // namespace syncached::engine

namespace syncached::engine {
namespace {

TEST(Text, SyncingNodeAnswersServerErrorButStillReportsStats) {
  EngineHarness h;
  h.engine().SetSyncing(true);
  EXPECT_EQ(h.Send("set k 0 0 1\r\na\r\n"), "SERVER_ERROR syncing\r\n");
  EXPECT_EQ(h.Send("get k\r\n"), "SERVER_ERROR syncing\r\n");
  EXPECT_EQ(h.Send("version\r\n"), "VERSION 1.6.18\r\n");
  EXPECT_TRUE(h.Send("stats\r\n").ends_with("END\r\n"));
  h.engine().SetSyncing(false);
  EXPECT_EQ(h.Send("get k\r\n"), "END\r\n");
}

}  // namespace
}  // namespace syncached::engine
