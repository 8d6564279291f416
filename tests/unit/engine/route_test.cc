// Sharded routing in the engine (engine/router.h) with a fake router whose "other
// nodes" are engines of their own: what a client sees must be what the owner wrote.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "protocol/binary.h"
#include "tests/unit/engine/harness.h"

namespace syncached::engine {
namespace {

namespace bin = protocol::binary;

// Keys are placed by name: owners_["a"] = {1, kLocal} means node 1 first, then here.
// Unlisted keys are local. Nodes in down_ are unreachable.
class FakeRouter : public Router {
 public:
  int Pick(std::string_view key, bool relayed) override {
    picks.emplace_back(key);
    auto it = owners.find(std::string(key));
    if (it == owners.end()) return kLocal;
    for (int n : it->second) {
      if (n == kLocal || !down.count(n)) return n;
    }
    return kNoOwner;
  }
  Sent Forward(int node, Wire wire, std::string_view request, std::string* reply) override {
    if (down.count(node)) return Sent::kUnreachable;
    if (fail_after_send) {
      down.insert(node);
      return Sent::kFailed;
    }
    if (too_large) return Sent::kTooLarge;
    sent.emplace_back(node, std::string(request));
    Session s;
    s.proto = wire == Wire::kText ? Session::Proto::kText : Session::Proto::kBinary;
    *reply += Node(node).SendTo(s, std::string(request));
    return Sent::kOk;
  }
  void CountFailure() override { ++failures; }

  EngineHarness& Node(int n) {
    auto& h = nodes[n];
    if (!h) h = std::make_unique<EngineHarness>();
    return *h;
  }

  std::map<std::string, std::vector<int>> owners;
  std::set<int> down;
  bool fail_after_send = false;
  bool too_large = false;
  std::vector<std::string> picks;
  std::vector<std::pair<int, std::string>> sent;
  int failures = 0;
  std::map<int, std::unique_ptr<EngineHarness>> nodes;
};

struct Routed {
  Routed() { h.engine().SetRouter(&r); }
  FakeRouter r;
  EngineHarness h;
};

TEST(Route, TextSingleKeyIsSentAsWritten) {
  Routed t;
  t.r.owners["a"] = {1};
  EXPECT_EQ(t.h.Send("set a 5 0 1\r\nx\r\n"), "STORED\r\n");
  ASSERT_EQ(t.r.sent.size(), 1u);
  EXPECT_EQ(t.r.sent[0], std::make_pair(1, std::string("set a 5 0 1\r\nx\r\n")));
  EXPECT_EQ(t.h.Send("get a\r\n"), "VALUE a 5 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(t.r.Node(1).Send("get a\r\n"), "VALUE a 5 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(t.h.store().Access("a", [](storage::Accessor& acc) { return bool(acc.Find()); }),
            false);
  EXPECT_EQ(t.h.Send("incr a 2\r\n"),
            "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  EXPECT_EQ(t.h.Send("delete a\r\n"), "DELETED\r\n");
}

TEST(Route, TextMultiGetSplitsByOwnerAndKeepsOrder) {
  Routed t;
  t.r.owners["a"] = {1};
  t.r.owners["c"] = {2};
  t.r.owners["d"] = {1};
  t.r.Node(1).Send("set a 1 0 2\r\naa\r\nset d 4 0 2\r\ndd\r\n");
  t.r.Node(2).Send("set c 3 0 2\r\ncc\r\n");
  t.h.Send("set b 2 0 2\r\nbb\r\n");
  EXPECT_EQ(t.h.Send("get d a b c zz a\r\n"),
            "VALUE d 4 2\r\ndd\r\nVALUE a 1 2\r\naa\r\nVALUE b 2 2\r\nbb\r\n"
            "VALUE c 3 2\r\ncc\r\nVALUE a 1 2\r\naa\r\nEND\r\n");
  // One request per owner, its keys in the client's order.
  ASSERT_EQ(t.r.sent.size(), 2u);
  EXPECT_EQ(t.r.sent[0].second, "get d a a\r\n");
  EXPECT_EQ(t.r.sent[1].second, "get c\r\n");
  // gat keeps its exptime; gats its CAS column.
  t.r.sent.clear();
  std::string r = t.h.Send("gats 100 c b\r\n");
  EXPECT_EQ(t.r.sent[0].second, "gats 100 c\r\n");
  EXPECT_TRUE(r.starts_with("VALUE c 3 2 ")) << r;
  EXPECT_NE(r.find("\r\ncc\r\nVALUE b 2 2 "), std::string::npos) << r;
  EXPECT_TRUE(r.ends_with("\r\nbb\r\nEND\r\n")) << r;
}

TEST(Route, TextNoreplyStaysSilent) {
  Routed t;
  t.r.owners["a"] = {1};
  EXPECT_EQ(t.h.Send("set a 0 0 1 noreply\r\nx\r\nadd a 0 0 1 noreply\r\ny\r\nget a\r\n"),
            "VALUE a 0 1\r\nx\r\nEND\r\n");
  t.r.down.insert(1);
  // memcached drops any reply under noreply, errors too.
  EXPECT_EQ(t.h.Send("set a 0 0 1 noreply\r\nz\r\nversion\r\n").substr(0, 8), "VERSION ");
}

TEST(Route, MetaQuietAndOpaqueAsTheOwnerAnswers) {
  Routed t;
  t.r.owners["a"] = {1};
  t.r.owners["m"] = {2};
  EXPECT_EQ(t.h.Send("ms a 1 q O1\r\nx\r\nmg m v q O2\r\nmg a v k O3 q\r\nmn\r\n"),
            "VA 1 ka O3\r\nx\r\nMN\r\n");
  EXPECT_EQ(t.h.Send("mg m v O9\r\n"), "EN O9\r\n");
  EXPECT_EQ(t.h.Send("ma m N0 J5 v q\r\nma m v\r\n"), "VA 1\r\n5\r\nVA 1\r\n6\r\n");
  // A base64 key is placed by its decoded bytes.
  t.r.picks.clear();
  t.h.Send("mg YQ== b v\r\n");
  EXPECT_EQ(t.r.picks.back(), "a");
}

TEST(Route, OnlyKeyedRequestsArePlaced) {
  Routed t;
  t.h.Send("set k 0 0 1\r\nx\r\nincr k 1\r\nmg k v\r\n");
  EXPECT_EQ(t.r.picks, (std::vector<std::string>{"k", "k", "k"}));
  t.r.picks.clear();
  t.h.Send("stats\r\nversion\r\nmn\r\n");
  EXPECT_TRUE(t.r.picks.empty());
}

std::string BinReq(uint8_t op, std::string_view key, std::string_view extras = {},
                   std::string_view value = {}, uint64_t cas = 0, uint32_t opaque = 0) {
  std::string out;
  bin::AppendRequest(&out, op, key, extras, value, cas, opaque);
  return out;
}
std::string Extras(uint32_t flags, uint32_t exptime) {
  std::string s;
  bin::AppendBE32(&s, flags);
  bin::AppendBE32(&s, exptime);
  return s;
}

TEST(Route, BinaryQuietAndOpaque) {
  Routed t;
  t.r.owners["a"] = {1};
  t.r.owners["b"] = {2};
  // SETQ: silent on success. GETKQ miss: silent. GETKQ hit: answered, opaque kept.
  std::string in = BinReq(bin::kSetQ, "a", Extras(3, 0), "xy", 0, 11) +
                   BinReq(bin::kGetKQ, "b", {}, {}, 0, 12) +
                   BinReq(bin::kGetKQ, "a", {}, {}, 0, 13) + BinReq(bin::kNoop, {}, {}, {}, 0, 14);
  std::string out = t.h.Send(in);
  std::string want;
  std::string flags;
  bin::AppendBE32(&flags, 3);
  std::string node_get = t.r.Node(1).Send(BinReq(bin::kGetK, "a", {}, {}, 0, 13));
  bin::Header hh;
  ASSERT_TRUE(bin::DecodeHeader(node_get, &hh));
  bin::AppendResponse(&want, bin::kGetKQ, bin::kSuccess, 13, hh.cas, flags, "a", "xy");
  bin::AppendResponse(&want, bin::kNoop, bin::kSuccess, 14, 0, {}, {}, {});
  EXPECT_EQ(out, want);
  EXPECT_EQ(t.r.picks[0], "a");
}

TEST(Route, NoLiveOwnerIsServerError) {
  Routed t;
  t.r.owners["a"] = {1, 2};
  t.r.owners["b"] = {1, Router::kLocal};
  t.r.down = {1, 2};
  EXPECT_EQ(t.h.Send("get a\r\n"), "SERVER_ERROR forwarding failed\r\n");
  EXPECT_EQ(t.h.Send("get b a\r\n"), "SERVER_ERROR forwarding failed\r\n");
  EXPECT_EQ(t.h.Send("mg a v q\r\nmn\r\n"), "SERVER_ERROR forwarding failed\r\nMN\r\n");
  // An owner further down the list takes over.
  EXPECT_EQ(t.h.Send("set b 0 0 1\r\nx\r\nget b\r\n"), "STORED\r\nVALUE b 0 1\r\nx\r\nEND\r\n");
  std::string fail;
  bin::AppendResponse(&fail, bin::kGetQ, bin::kTmpFail, 7, 0, {}, {},
                      bin::StatusMessage(bin::kTmpFail));
  Session binary;  // a session keeps the protocol of its first byte
  EXPECT_EQ(t.h.SendTo(binary, BinReq(bin::kGetQ, "a", {}, {}, 0, 7)), fail);
  EXPECT_EQ(t.r.failures, 4);
  // Sent but unanswered: never sent twice (an incr could apply twice).
  t.r.down.clear();
  t.r.fail_after_send = true;
  EXPECT_EQ(t.h.Send("incr a 1\r\n"), "SERVER_ERROR forwarding failed\r\n");
}

// A reply past the forwarder's limit: memcached's answer when it cannot make a get's
// reply (binary: out of memory), not a forwarding failure; nothing is sent again.
TEST(Route, ReplyTooLargeToGatherIsOutOfMemory) {
  Routed t;
  t.r.owners["a"] = {1, 2};
  t.r.owners["b"] = {2, Router::kLocal};
  t.r.too_large = true;
  EXPECT_EQ(t.h.Send("get a\r\n"), "SERVER_ERROR out of memory writing get response\r\n");
  EXPECT_EQ(t.h.Send("get b a\r\n"), "SERVER_ERROR out of memory writing get response\r\n");
  std::string oom;
  bin::AppendResponse(&oom, bin::kGetK, bin::kEnomem, 9, 0, {}, {},
                      bin::StatusMessage(bin::kEnomem));
  Session binary;
  EXPECT_EQ(t.h.SendTo(binary, BinReq(bin::kGetK, "a", {}, {}, 0, 9)), oom);
  EXPECT_EQ(t.r.failures, 0);
  EXPECT_TRUE(t.r.down.empty());
}

}  // namespace
}  // namespace syncached::engine

namespace syncached::engine {
namespace {

// defer_forwards: Process stops before the first request that runs elsewhere and
// leaves its size; what ran before it is answered, nothing after it runs.
TEST(Route, DeferStopsBeforeARequestForAnotherNode) {
  Routed t;
  t.r.owners["far"] = {1};
  Session s;
  s.defer_forwards = true;
  std::string in = "set near 0 0 1\r\nx\r\nget near far\r\nget near\r\n";
  std::string out;
  size_t n = t.h.engine().Process(s, in, &out, SIZE_MAX);
  EXPECT_EQ(out, "STORED\r\n");
  EXPECT_EQ(n, strlen("set near 0 0 1\r\nx\r\n"));
  EXPECT_EQ(s.deferred, strlen("get near far\r\n"));
  EXPECT_TRUE(t.r.sent.empty());
  // The host runs it on a session without the flag, which forwards and waits.
  Session runner;
  std::string reply;
  t.h.engine().Process(runner, std::string_view(in).substr(n, s.deferred), &reply, SIZE_MAX);
  EXPECT_EQ(reply, "VALUE near 0 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(t.r.sent.size(), 1u);
  // Binary too.
  Session b;
  b.defer_forwards = true;
  std::string get = BinReq(bin::kGetQ, "far", {}, {}, 0, 1);
  out.clear();
  EXPECT_EQ(t.h.engine().Process(b, get, &out, SIZE_MAX), 0u);
  EXPECT_EQ(b.deferred, get.size());
}

}  // namespace
}  // namespace syncached::engine
