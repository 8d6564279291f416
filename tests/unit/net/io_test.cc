// Byte movement: pipelining, partial consumption, large requests, output flushing,
// back-pressure from a peer that does not read, cross-thread Post/Wake.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>

#include <string>
#include <vector>

#include "net/net.h"
#include "net_test_util.h"

namespace syncached::net {
namespace {

using testing::Client;
using testing::LineHandler;
using testing::LocalOptions;
using testing::WaitFor;

TEST(NetIo, PipelinedLinesSplitAcrossManyWritesAreAnsweredInOrder) {
  LineHandler h;
  Server server(LocalOptions(), &h);
  ASSERT_TRUE(server.Start().ok());
  Client c = Client::Tcp(server.bound_port());
  ASSERT_TRUE(c.ok());
  std::string all;
  for (int i = 0; i < 2000; ++i) all += "line-" + std::to_string(i) + "\n";
  for (size_t pos = 0, step = 1; pos < all.size(); pos += step, step = step % 13 + 1) {
    ASSERT_TRUE(c.Send(std::string_view(all).substr(pos, step)));
  }
  EXPECT_EQ(c.Read(all.size()), all);
  // Counters are bumped just after the syscall: the client may see the bytes first.
  EXPECT_TRUE(WaitFor([&] { return server.GetStats().bytes_written == all.size(); }));
  EXPECT_EQ(server.GetStats().bytes_read, all.size());
}

TEST(NetIo, UnconsumedInputIsPresentedAgainWithNewBytes) {
  LineHandler h;
  std::mutex mu;
  std::vector<std::string> seen;
  h.on_line = [&](Connection&, std::string_view line, bool*) {
    std::lock_guard<std::mutex> lock(mu);
    seen.emplace_back(line);
    return false;
  };
  Server server(LocalOptions(1), &h);
  ASSERT_TRUE(server.Start().ok());
  Client c = Client::Tcp(server.bound_port());
  ASSERT_TRUE(c.Send("abc\nde"));
  EXPECT_EQ(c.Read(4), "abc\n");
  ASSERT_TRUE(c.Send("f\n"));
  EXPECT_EQ(c.Read(4), "def\n");
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"abc", "def"}));
}

// Idle connections give their input buffer back to the worker, which lends it to the
// next reader: a connection with a partial line keeps its own, and one that comes back
// from idle starts clean, whatever the buffer held for another connection.
TEST(NetIo, InputBuffersLentBetweenConnectionsKeepEachOnesBytes) {
  LineHandler h;
  Server server(LocalOptions(1), &h);  // one worker: every connection shares its spares
  ASSERT_TRUE(server.Start().ok());
  std::vector<Client> clients;
  for (int i = 0; i < 40; ++i) clients.push_back(Client::Tcp(server.bound_port()));
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < clients.size(); ++i) {  // odd ones leave half a line
      std::string line = "r" + std::to_string(round) + "-c" + std::to_string(i) + "-";
      line += std::string(100 + i * 37, static_cast<char>('a' + i % 26));
      ASSERT_TRUE(clients[i].Send(i % 2 ? line.substr(0, line.size() / 2) : line + "\n"));
      if (i % 2 == 0) {
        ASSERT_EQ(clients[i].Read(line.size() + 1), line + "\n");
      }
    }
    for (size_t i = 1; i < clients.size(); i += 2) {
      std::string line = "r" + std::to_string(round) + "-c" + std::to_string(i) + "-";
      line += std::string(100 + i * 37, static_cast<char>('a' + i % 26));
      ASSERT_TRUE(clients[i].Send(line.substr(line.size() / 2) + "\n"));
      ASSERT_EQ(clients[i].Read(line.size() + 1), line + "\n");
    }
  }
}

// A length-prefixed request far bigger than read_chunk: net grows the buffer as needed.
class SizedHandler : public Handler {
 public:
  size_t OnData(Connection& c, std::string_view in) override {
    size_t pos = 0;
    for (;;) {
      size_t nl = in.find('\n', pos);
      if (nl == std::string_view::npos) return pos;
      size_t len = std::stoul(std::string(in.substr(pos, nl - pos)));
      if (in.size() - nl - 1 < len) return pos;  // need more
      uint64_t sum = 0;
      for (unsigned char ch : in.substr(nl + 1, len)) sum += ch;
      c.out() += "got " + std::to_string(len) + " " + std::to_string(sum) + "\n";
      pos = nl + 1 + len;
    }
  }
};

TEST(NetIo, RequestLargerThanReadChunkIsDeliveredWhole) {
  SizedHandler h;
  Options o = LocalOptions(1);
  o.read_chunk = 1024;
  Server server(o, &h);
  ASSERT_TRUE(server.Start().ok());
  Client c = Client::Tcp(server.bound_port());
  std::string value(3 << 20, '\0');
  uint64_t sum = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    value[i] = static_cast<char>(i * 7);
    sum += static_cast<unsigned char>(value[i]);
  }
  ASSERT_TRUE(c.Send(std::to_string(value.size()) + "\n" + value + "5\nhello"));
  std::string want = "got " + std::to_string(value.size()) + " " + std::to_string(sum) + "\n" +
                     "got 5 532\n";  // h e l l o
  EXPECT_EQ(c.Read(want.size()), want);
  ASSERT_TRUE(c.Send("2\nab"));  // after the buffer shrank back
  EXPECT_EQ(c.Read(10), "got 2 195\n");
}

TEST(NetIo, CloseAfterWriteSendsEverythingThenCloses) {
  LineHandler h;
  h.on_line = [](Connection& c, std::string_view line, bool*) {
    if (line != "bye") return false;
    c.out().append(8 << 20, 'q');  // far more than the socket takes at once
    c.CloseAfterWrite();
    return true;
  };
  Server server(LocalOptions(1), &h);
  ASSERT_TRUE(server.Start().ok());
  Client c = Client::Tcp(server.bound_port());
  ASSERT_TRUE(c.Send("hi\nbye\nnot-answered\n"));
  bool eof = false;
  std::string got = c.ReadToEof(&eof);
  EXPECT_TRUE(eof);
  EXPECT_EQ(got.size(), 3u + (8u << 20));
  EXPECT_EQ(got.substr(0, 3), "hi\n");
  EXPECT_EQ(got.find("not-answered"), std::string::npos);
  EXPECT_TRUE(WaitFor([&] { return h.closes.load() == 1; }));
  EXPECT_TRUE(h.ClosedOnce());
}

TEST(NetIo, CloseNowAndPeerCloseCallOnCloseOnce) {
  LineHandler h;
  Server server(LocalOptions(), &h);
  ASSERT_TRUE(server.Start().ok());
  Client a = Client::Tcp(server.bound_port());
  Client b = Client::Tcp(server.bound_port());
  ASSERT_TRUE(a.Send("close\nignored\n"));
  bool eof = false;
  EXPECT_EQ(a.ReadToEof(&eof), "");
  EXPECT_TRUE(eof);
  EXPECT_EQ(b.RoundTrip("x\n"), "x\n");
  b.Close();
  EXPECT_TRUE(WaitFor([&] { return server.GetStats().curr_connections == 0; }));
  EXPECT_EQ(h.closes.load(), 2);
  EXPECT_TRUE(h.ClosedOnce());
}

// A client that sends requests but never reads the replies must not make the server buffer
// without bound, and must not stall other clients.
TEST(NetIo, NonReadingClientIsThrottledAndOthersAreServed) {
  constexpr size_t kHighWater = 64 << 10;
  constexpr size_t kReply = 16 << 10;
  LineHandler h(kHighWater);
  // Socket buffers keep their defaults: locked tiny (32 KiB) they made loopback TCP stall in
  // zero-window recovery for seconds (64 KiB queued, unacked 0, persist timer backed off).
  Options o = LocalOptions(1);  // both clients on the same worker
  o.output_high_water = kHighWater;
  Server server(o, &h);
  ASSERT_TRUE(server.Start().ok());

  Client slow = Client::Tcp(server.bound_port());
  ASSERT_TRUE(slow.ok());
  std::string big;
  for (int i = 0; i < 1000; ++i) big += "big " + std::to_string(kReply) + "\n";  // 16 MB out
  ASSERT_TRUE(slow.Send(big));
  // Keep sending small requests until the kernel pushes back for good: the server has
  // stopped reading (if it kept reading we would hit the cap).
  fcntl(slow.fd(), F_SETFL, fcntl(slow.fd(), F_GETFL) | O_NONBLOCK);
  std::string filler(4096, 'e');
  for (size_t i = 1; i < filler.size(); i += 2) filler[i] = '\n';
  size_t filler_sent = 0;
  bool last_odd = false;  // the stream then ends inside a line, which gets no reply
  bool blocked = false;
  while (!blocked && filler_sent < (64u << 20)) {
    ssize_t n = send(slow.fd(), filler.data(), filler.size(), MSG_NOSIGNAL);
    if (n > 0) {
      filler_sent += static_cast<size_t>(n);
      last_odd = n % 2 == 1;
      continue;
    }
    ASSERT_EQ(errno, EAGAIN);
    pollfd p{slow.fd(), POLLOUT, 0};
    blocked = poll(&p, 1, 100) == 0;
  }
  ASSERT_TRUE(blocked) << "server kept reading " << filler_sent << " bytes";
  RecordProperty("filler_bytes", std::to_string(filler_sent));
  bool mwrite = false;
  for (const auto& ci : server.Connections()) mwrite |= std::string(ci.state) == "conn_mwrite";
  EXPECT_TRUE(mwrite);

  Client other = Client::Tcp(server.bound_port());
  EXPECT_EQ(other.RoundTrip("still served\n"), "still served\n");

  EXPECT_LE(h.max_out.load(), kHighWater + kReply + 1);
  EXPECT_LE(h.max_input.load(), 2 * o.read_chunk);

  // Now read: everything arrives, in order.
  fcntl(slow.fd(), F_SETFL, fcntl(slow.fd(), F_GETFL) & ~O_NONBLOCK);
  size_t expected = 1000 * (kReply + 1) + filler_sent - (last_odd ? 1 : 0);
  std::string got = slow.Read(expected);
  ASSERT_EQ(got.size(), expected);
  EXPECT_EQ(got.find_first_not_of("x\n"), 1000 * (kReply + 1));
  EXPECT_EQ(got.substr(1000 * (kReply + 1), 4), "e\ne\n");
}

TEST(NetIo, PostRunsOnTheWorkerAndWakePresentsHeldInput) {
  LineHandler h;
  std::atomic<bool> hold{true};
  std::atomic<Connection*> held{nullptr};
  std::atomic<std::thread::id> handler_thread{};
  h.on_line = [&](Connection& c, std::string_view line, bool* stop) {
    handler_thread = std::this_thread::get_id();
    if (line != "slow") return false;
    if (hold) {  // e.g. waiting for replicas: leave the request unconsumed
      held = &c;
      *stop = true;
      return false;
    }
    c.out() += "done\n";
    return true;
  };
  Server server(LocalOptions(3), &h);
  ASSERT_TRUE(server.Start().ok());
  Client c = Client::Tcp(server.bound_port());
  ASSERT_TRUE(c.Send("slow\nafter\n"));
  ASSERT_TRUE(WaitFor([&] { return held.load() != nullptr; }));
  std::atomic<bool> ran_on_worker{false};
  Connection* conn = held.load();
  server.Post(conn->worker(), [&, conn] {
    ran_on_worker = std::this_thread::get_id() == handler_thread.load();
    hold = false;
    conn->out() += "ack\n";
    conn->Wake();
  });
  EXPECT_EQ(c.Read(15), "ack\ndone\nafter\n");
  EXPECT_TRUE(ran_on_worker);
}

}  // namespace
}  // namespace syncached::net
