// Connection::DeferOutput: output made in OnData leaves at the end of the worker's turn,
// after Handler::OnLoopEnd, for every connection of the turn; refused at high water and
// while stopping; a deferred connection that stopped at high water with input left still
// gets the rest of its input processed.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "net/net.h"
#include "net_test_util.h"

namespace syncached::net {
namespace {

using testing::Client;
using testing::LineHandler;
using testing::LocalOptions;

// "defer" -> "d\n" with the output deferred; OnLoopEnd appends "end\n" to every connection
// that deferred this turn, so a reply that left before OnLoopEnd ran lacks it.
struct DeferringHandler : LineHandler {
  explicit DeferringHandler(size_t high_water = Options().output_high_water)
      : LineHandler(high_water) {
    on_line = [this](Connection& c, std::string_view line, bool*) {
      if (line != "defer") return false;
      c.out() += "d\n";
      bool ok = c.DeferOutput();
      refused += !ok;
      if (ok) {
        std::lock_guard<std::mutex> lock(mu);
        if (turn.empty() || turn.back() != &c) turn.push_back(&c);
      }
      return true;
    };
  }
  bool OnLoopEnd(int) override {
    std::lock_guard<std::mutex> lock(mu);
    for (Connection* c : turn) c->out() += "end\n";
    turn.clear();
    return false;
  }
  std::mutex mu;
  std::vector<Connection*> turn;
  std::atomic<int> refused{0};
};

TEST(NetDefer, DeferredOutputLeavesAfterOnLoopEndInOneWrite) {
  DeferringHandler h;
  Server server(LocalOptions(1), &h);
  ASSERT_TRUE(server.Start().ok());
  Client a = Client::Tcp(server.bound_port());
  EXPECT_EQ(a.RoundTrip("defer\n"), "d\nend\n");
  // Pipelined: everything of the turn leaves together, after OnLoopEnd.
  ASSERT_TRUE(a.Send("x\ndefer\ny\n"));
  EXPECT_EQ(a.Read(10), "x\nd\ny\nend\n");
  EXPECT_EQ(h.refused.load(), 0);
  EXPECT_EQ(a.RoundTrip("plain\n"), "plain\n");  // not deferring: as before
}

TEST(NetDefer, ManyConnectionsOneTurnEachGetItsOwnOutput) {
  DeferringHandler h;
  Server server(LocalOptions(1), &h);
  ASSERT_TRUE(server.Start().ok());
  std::vector<Client> clients;
  clients.reserve(16);
  for (int i = 0; i < 16; ++i) clients.push_back(Client::Tcp(server.bound_port()));
  for (int round = 0; round < 20; ++round) {
    for (auto& c : clients) ASSERT_TRUE(c.Send("defer\n"));
    for (auto& c : clients) EXPECT_EQ(c.Read(6), "d\nend\n");
  }
}

TEST(NetDefer, RefusedAtHighWaterAndTheRestIsStillServed) {
  DeferringHandler h(64);  // high water 64 bytes
  Options o = LocalOptions(1);
  o.output_high_water = 64;
  Server server(o, &h);
  ASSERT_TRUE(server.Start().ok());
  Client a = Client::Tcp(server.bound_port());
  // "big 100" leaves out() above high water: the handler stops, the defer after it runs on
  // the next call, after the big reply was sent.
  ASSERT_TRUE(a.Send("big 100\ndefer\nafter\n"));
  std::string want = std::string(100, 'x') + "\nd\nafter\nend\n";
  EXPECT_EQ(a.Read(want.size()), want);
  EXPECT_EQ(h.refused.load(), 0);
  // At high water when it asks (62 + 2 bytes pending): refused, sent as usual, no "end".
  ASSERT_TRUE(a.Send("big 61\ndefer\n"));
  EXPECT_EQ(a.Read(64), std::string(61, 'x') + "\nd\n");
  EXPECT_EQ(h.refused.load(), 1);
  EXPECT_EQ(a.RoundTrip("ping\n"), "ping\n");
}

TEST(NetDefer, CloseAfterWriteSendsTheDeferredOutputFirst) {
  DeferringHandler h;
  Server server(LocalOptions(1), &h);
  ASSERT_TRUE(server.Start().ok());
  Client a = Client::Tcp(server.bound_port());
  ASSERT_TRUE(a.Send("defer\nquit\n"));
  EXPECT_EQ(a.Read(64), "d\nend\n");  // then EOF
}

}  // namespace
}  // namespace syncached::net
