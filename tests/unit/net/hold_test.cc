// Output holds (Connection::Hold/Release, Handler::OnHoldExpired) and Server::WakeWorker: a
// held connection sends nothing and processes no input until released or expired, while its
// worker serves the others; closes, resets and Stop while held end cleanly.
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "net/net.h"
#include "net_test_util.h"

namespace syncached::net {
namespace {

using testing::Client;
using testing::LineHandler;
using testing::LocalOptions;
using testing::WaitFor;

// Whether the client has bytes (or EOF) to read within ms.
bool Readable(const Client& c, int ms) {
  pollfd p{c.fd(), POLLIN, 0};
  return poll(&p, 1, ms) > 0;
}

// "hold" -> "held" is appended and the connection held for hold_ms; the rest of the input
// stays buffered (LineHandler stops at a hold).
struct HoldingHandler : LineHandler {
  explicit HoldingHandler(uint32_t hold_ms) {
    on_line = [this, hold_ms](Connection& c, std::string_view line, bool*) {
      if (line != "hold") return false;
      c.out() += "held\n";
      c.Hold(hold_ms);
      held = &c;
      return true;
    };
  }
  std::atomic<Connection*> held{nullptr};
};

TEST(NetHold, HeldOutputLeavesOnReleaseAndTheWorkerServesOthersMeanwhile) {
  HoldingHandler h(60000);
  Server server(LocalOptions(1), &h);
  ASSERT_TRUE(server.Start().ok());
  Client a = Client::Tcp(server.bound_port());
  Client b = Client::Tcp(server.bound_port());
  ASSERT_TRUE(a.Send("before\nhold\nafter\n"));
  ASSERT_TRUE(WaitFor([&] { return h.held.load() != nullptr; }));
  EXPECT_EQ(b.RoundTrip("ping\n"), "ping\n");  // same worker
  ASSERT_TRUE(a.Send("later\n"));              // not read while held
  EXPECT_FALSE(Readable(a, 50));               // "before" is held too: replies keep order
  auto conns = server.Connections();
  int parked = 0;
  for (const auto& ci : conns) parked += std::string_view(ci.state) == "conn_io_queue";
  EXPECT_EQ(parked, 1);
  Connection* conn = h.held.load();
  server.Post(conn->worker(), [conn] { conn->Release(); });
  EXPECT_EQ(a.Read(24), "before\nheld\nafter\nlater\n");
}

TEST(NetHold, ExpiredHoldCallsOnHoldExpiredThenSendsByDefault) {
  HoldingHandler h(30);
  std::atomic<int> expired{0};
  std::atomic<bool> was_held{false};
  h.on_hold_expired = [&](Connection& c) {
    was_held = c.held();
    expired++;
  };
  Server server(LocalOptions(1), &h);
  ASSERT_TRUE(server.Start().ok());
  Client a = Client::Tcp(server.bound_port());
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(a.Send("hold\necho\n"));
  EXPECT_EQ(a.Read(10), "held\necho\n");
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(25));
  EXPECT_EQ(expired.load(), 1);
  EXPECT_TRUE(was_held);
}

TEST(NetHold, ExpiredHoldCanCloseWithoutSending) {
  HoldingHandler h(20);
  h.on_hold_expired = [](Connection& c) { c.CloseNow(); };
  Server server(LocalOptions(1), &h);
  ASSERT_TRUE(server.Start().ok());
  Client a = Client::Tcp(server.bound_port());
  ASSERT_TRUE(a.Send("hold\n"));
  bool eof = false;
  EXPECT_EQ(a.ReadToEof(&eof), "");
  EXPECT_TRUE(eof);
  EXPECT_TRUE(WaitFor([&] { return h.closes.load() == 1; }));
  EXPECT_TRUE(h.ClosedOnce());
}

TEST(NetHold, WakeWorkerRunsOnWakeOnThatWorkerWhichMayRelease) {
  HoldingHandler h(60000);
  std::atomic<int> woken{-1};
  h.on_wake = [&](int worker) {
    woken = worker;
    if (Connection* c = h.held.load(); c && c->worker() == worker) c->Release();
  };
  Server server(LocalOptions(3), &h);
  ASSERT_TRUE(server.Start().ok());
  Client a = Client::Tcp(server.bound_port());
  ASSERT_TRUE(a.Send("hold\n"));
  ASSERT_TRUE(WaitFor([&] { return h.held.load() != nullptr; }));
  int w = h.held.load()->worker();
  for (int i = 0; i < 100; ++i) server.WakeWorker(w);  // coalesce; none is lost
  EXPECT_EQ(a.Read(5), "held\n");
  EXPECT_EQ(woken.load(), w);
  server.WakeWorker(99);  // out of range: ignored
}

TEST(NetHold, PeerResetWhileHeldClosesItAndOnCloseSeesTheHold) {
  HoldingHandler h(60000);
  std::atomic<bool> held_at_close{false};
  h.on_close = [&](Connection& c) { held_at_close = c.held(); };
  Server server(LocalOptions(1), &h);
  ASSERT_TRUE(server.Start().ok());
  {
    Client a = Client::Tcp(server.bound_port());
    ASSERT_TRUE(a.Send("hold\nmore\n"));
    ASSERT_TRUE(WaitFor([&] { return h.held.load() != nullptr; }));
    linger lg{1, 0};  // close() sends RST
    setsockopt(a.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  EXPECT_TRUE(WaitFor([&] { return h.closes.load() == 1; }));
  EXPECT_TRUE(held_at_close);
  Client b = Client::Tcp(server.bound_port());
  EXPECT_EQ(b.RoundTrip("ping\n"), "ping\n");
}

TEST(NetHold, StopEndsHoldsWithinTheGraceAndSendsWhatTheHandlerLets) {
  HoldingHandler h(60000);
  std::atomic<int> expired{0};
  h.on_hold_expired = [&](Connection&) { expired++; };
  Options o = LocalOptions(2);
  o.stop_hold_grace_ms = 50;
  Server server(o, &h);
  ASSERT_TRUE(server.Start().ok());
  Client a = Client::Tcp(server.bound_port());
  Client idle = Client::Tcp(server.bound_port());
  ASSERT_TRUE(a.Send("hold\n"));
  ASSERT_TRUE(WaitFor([&] { return h.held.load() != nullptr; }));
  ASSERT_TRUE(WaitFor([&] { return h.opens.load() == 2; }));
  auto start = std::chrono::steady_clock::now();
  server.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(expired.load(), 1);
  bool eof = false;
  EXPECT_EQ(a.ReadToEof(&eof), "held\n");
  EXPECT_TRUE(eof);
  EXPECT_EQ(h.closes.load(), 2);
  EXPECT_TRUE(h.ClosedOnce());
}

}  // namespace
}  // namespace syncached::net
