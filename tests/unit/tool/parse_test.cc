// syncached-tool's parsing: addresses, STAT and metadump lines, dump files,
// stats replication, --nodes.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

#include "address.h"
#include "cluster_view.h"
#include "dump_format.h"
#include "stat_lines.h"

namespace syncached::tool {
namespace {

TEST(Address, HostPortAsMemcachedTool) {
  auto a = ParseAddress("10.0.0.5:11311");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->is_unix);
  EXPECT_EQ(a->host, "10.0.0.5");
  EXPECT_EQ(a->port, 11311);
  EXPECT_EQ(a->display, "10.0.0.5:11311");
}

TEST(Address, NoPortMeans11211AndShowsIt) {
  auto a = ParseAddress("localhost");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->port, 11211);
  EXPECT_EQ(a->display, "localhost:11211");  // memcached-tool's header shows it so
}

TEST(Address, SlashMeansUnixSocket) {
  auto a = ParseAddress("/run/syncached/syncached.sock");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_unix);
  EXPECT_EQ(a->path, "/run/syncached/syncached.sock");
  EXPECT_EQ(a->display, "/run/syncached/syncached.sock");
}

TEST(Address, Ipv6) {
  auto a = ParseAddress("[::1]:11311");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 11311);
  auto b = ParseAddress("::1");  // several colons, no brackets: all host
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 11211);
}

TEST(Address, Rejects) {
  EXPECT_FALSE(ParseAddress(""));
  EXPECT_FALSE(ParseAddress(":11211"));
  EXPECT_FALSE(ParseAddress("h:0"));
  EXPECT_FALSE(ParseAddress("h:65536"));
  EXPECT_FALSE(ParseAddress("[::1"));
}

TEST(StatLine, KeepsTheCarriageReturnAsPerlChomp) {
  auto kv = ParseStatLinePerl("STAT pid 1234\r\n");
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->first, "pid");
  EXPECT_EQ(kv->second, "1234\r");
}

TEST(StatLine, ValueWithSpacesAndEmptyValue) {
  auto kv = ParseStatLinePerl("STAT subscriber:2:full_copy_progress 3 of 16\r\n");
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->second, "3 of 16\r");
  auto empty = ParseStatLinePerl("STAT name \r\n");  // \s+ takes " \r"
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->second, "");
  EXPECT_FALSE(ParseStatLinePerl("STAT name"));
  EXPECT_FALSE(ParseStatLinePerl("END\r\n"));
}

TEST(UrlDecode, AsMemcachedToolsSubstitution) {
  EXPECT_EQ(UrlDecode("n%2Cfoo"), "n,foo");
  EXPECT_EQ(UrlDecode("a%20b%25"), "a b%");
  EXPECT_EQ(UrlDecode("tail%4"), "tail%4");  // fewer than two characters: left alone
}

TEST(Metadump, KeyAndExpiry) {
  auto e = ParseMetadumpLine("key=a%2Cb exp=1796549030 la=1 cas=2 fetch=no cls=1 size=66\r\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key, "a,b");
  EXPECT_EQ(e->exp, 1796549030);
  auto never = ParseMetadumpLine("key=k exp=-1 la=1 cas=2 fetch=no cls=1 size=66\r\n");
  ASSERT_TRUE(never);
  EXPECT_EQ(never->exp, 0);
  EXPECT_FALSE(ParseMetadumpLine("END\r\n"));
  EXPECT_FALSE(ParseMetadumpLine("key=k exp=5\r\n"));  // the regex wants a space after
}

std::string ReadAll(const std::string& bytes, std::vector<DumpRecord>* out) {
  FILE* f = fmemopen(const_cast<char*>(bytes.data()), bytes.size(), "rb");
  DumpReader r(f);
  DumpRecord rec;
  while (r.Next(&rec)) out->push_back(rec);
  fclose(f);
  return r.error();
}

TEST(DumpFile, RoundTripsBinaryValues) {
  std::string value("a\r\nb\0c", 6);
  std::string file =
      FormatDumpRecord("k1", "7", 1796549030, value) + FormatDumpRecord("k2", "0", 0, "");
  EXPECT_EQ(file.substr(0, 24), "add k1 7 1796549030 6\r\na");
  std::vector<DumpRecord> recs;
  EXPECT_EQ(ReadAll(file, &recs), "");
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].key, "k1");
  EXPECT_EQ(recs[0].flags, 7u);
  EXPECT_EQ(recs[0].exp, 1796549030);
  EXPECT_EQ(recs[0].value, value);
  EXPECT_EQ(recs[1].value, "");
}

TEST(DumpFile, AcceptsSetAndBareNewlines) {
  std::vector<DumpRecord> recs;
  EXPECT_EQ(ReadAll("set k 1 0 2\nhi\r\n", &recs), "");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].verb, "set");
}

TEST(DumpFile, ReportsWhereItIsMalformed) {
  std::vector<DumpRecord> recs;
  EXPECT_NE(ReadAll("add k 1 0 5\r\nhi\r\n", &recs).find("truncated value"), std::string::npos);
  recs.clear();
  std::string err = ReadAll("add k 1 0 2\r\nhi\r\nget k\r\n", &recs);
  EXPECT_EQ(recs.size(), 1u);
  EXPECT_NE(err.find("record 2 (byte 17)"), std::string::npos) << err;
  recs.clear();
  EXPECT_NE(ReadAll("add k x 0 2\r\nhi\r\n", &recs).find("bad flags"), std::string::npos);
  recs.clear();
  EXPECT_NE(ReadAll("add k 1 0 2", &recs).find("truncated record header"), std::string::npos);
}

TEST(DumpFile, ExptimeAbsoluteToRemaining) {
  EXPECT_EQ(ExptimeToSend(0, 1000), 0);       // never expires
  EXPECT_EQ(ExptimeToSend(1100, 1000), 100);  // 100 s left
  EXPECT_EQ(ExptimeToSend(1000, 1000), -1);   // expired: skipped
  EXPECT_EQ(ExptimeToSend(900, 1000), -1);
  int64_t far = 1000 + kMaxRelativeExptime + 1;  // past 30 days: stays absolute
  EXPECT_EQ(ExptimeToSend(far, 1000), far);
  EXPECT_EQ(ExptimeToSend(1000 + kMaxRelativeExptime, 1000), kMaxRelativeExptime);
}

std::vector<std::pair<std::string, std::string>> ReplStats(const std::string& state,
                                                           const std::string& lag) {
  return {{"node_id", "1"},
          {"cluster_name", "shop"},
          {"peer:127.0.0.1:11312:node", "2"},
          {"peer:127.0.0.1:11312:state", state},
          {"peer:127.0.0.1:11312:lag_changes", lag},
          {"peer:127.0.0.1:11312:lag_ms", "40"},
          {"peer:127.0.0.1:11312:last_error", "peer_silent;_reconnecting"},
          {"subscriber:2:mode", "streaming"},
          {"subscriber:2:unacked_changes", "0"}};
}

TEST(Replication, ParsesPeersWithColonsInTheirAddress) {
  ReplicationView v = ParseReplication(ReplStats("streaming", "0"));
  EXPECT_TRUE(v.replicated);
  EXPECT_EQ(v.node_id, 1u);
  EXPECT_EQ(v.cluster_name, "shop");
  ASSERT_EQ(v.peers.size(), 1u);
  EXPECT_EQ(v.peers[0].address, "127.0.0.1:11312");
  EXPECT_EQ(v.peers[0].node, 2u);
  EXPECT_EQ(v.peers[0].last_error, "peer_silent;_reconnecting");
  ASSERT_EQ(v.subscribers.size(), 1u);
  EXPECT_EQ(v.subscribers[0].node, 2u);
  EXPECT_TRUE(NotSyncedReasons(v).empty());
  EXPECT_FALSE(ParseReplication({}).replicated);
}

TEST(Replication, NotSyncedSaysWhy) {
  auto lagging = NotSyncedReasons(ParseReplication(ReplStats("streaming", "5")));
  ASSERT_EQ(lagging.size(), 1u);
  EXPECT_EQ(lagging[0], "peer 127.0.0.1:11312 (node 2): 5 changes (40 ms) behind");
  auto down = NotSyncedReasons(ParseReplication(ReplStats("connecting", "0")));
  ASSERT_EQ(down.size(), 1u);
  EXPECT_NE(down[0].find("connecting, last error peer_silent"), std::string::npos);
  auto stats = ReplStats("streaming", "0");
  stats.push_back({"subscriber:3:mode", "full_copy"});
  auto copying = NotSyncedReasons(ParseReplication(stats));
  ASSERT_EQ(copying.size(), 1u);
  EXPECT_EQ(copying[0], "node 3 is taking a full copy from this node");
}

TEST(Replication, NodeSpecsAndGuesses) {
  unsigned id = 9;
  std::string addr;
  ASSERT_TRUE(ParseNodeSpec("10.0.0.2:11211", &id, &addr));
  EXPECT_EQ(id, 0u);
  EXPECT_EQ(addr, "10.0.0.2:11211");
  ASSERT_TRUE(ParseNodeSpec("3=10.0.0.3:11211", &id, &addr));
  EXPECT_EQ(id, 3u);
  EXPECT_EQ(addr, "10.0.0.3:11211");
  EXPECT_FALSE(ParseNodeSpec("x=h:1", &id, &addr));
  EXPECT_FALSE(ParseNodeSpec("0=h:1", &id, &addr));
  EXPECT_FALSE(ParseNodeSpec("3=", &id, &addr));
  EXPECT_EQ(GuessClientAddress("10.0.0.2:11212"), "10.0.0.2:11211");
  EXPECT_EQ(GuessClientAddress("::1:11212"), "[::1]:11211");
  EXPECT_EQ(GuessClientAddress("nohost"), "");
}

}  // namespace
}  // namespace syncached::tool
