// Outgoing connections (net::Connect): made from a worker, driven by that worker's loop
// with the same Handler, kept out of the client counts, and closed with kConnectFailed
// when the connect never completes.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <atomic>
#include <string>

#include "net/net.h"
#include "net_test_util.h"

namespace syncached::net {
namespace {

using testing::Client;
using testing::LineHandler;
using testing::LocalOptions;
using testing::WaitFor;

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// "relay X": X goes to the upstream server on one outgoing connection per worker; the
// client is held until the upstream's line comes back, then gets it. Everything else
// is the upstream's (echo it to its client).
class RelayHandler : public Handler {
 public:
  explicit RelayHandler(uint16_t upstream_port) : port_(upstream_port) {}

  size_t OnData(Connection& c, std::string_view in) override {
    size_t nl = in.find('\n');
    if (nl == std::string_view::npos) return 0;
    std::string_view line = in.substr(0, nl);
    if (c.outgoing()) {
      if (waiting_) {
        waiting_->out().append(line).append("\n");
        waiting_->Release();
        waiting_ = nullptr;
      }
      return nl + 1;
    }
    if (line.substr(0, 6) != "relay ") {
      c.out().append("?\n");
      return nl + 1;
    }
    if (!up_) {
      sockaddr_in a = Loopback(port_);
      up_ = Connect(reinterpret_cast<sockaddr*>(&a), sizeof a, this);
      if (!up_) {
        c.out().append("refused\n");
        return nl + 1;
      }
    }
    up_->out().append(line.substr(6)).append("\n");
    up_->Wake();
    waiting_ = &c;
    c.Hold(5000);
    return nl + 1;
  }

  void OnClose(Connection& c) override {
    if (!c.outgoing()) {
      if (waiting_ == &c) waiting_ = nullptr;
      return;
    }
    EXPECT_EQ(c.user, this);
    up_ = nullptr;
    last_reason = c.close_reason();
    upstream_closes++;
    if (waiting_) {
      waiting_->out().append("upstream closed\n");
      waiting_->Release();
      waiting_ = nullptr;
    }
  }

  std::atomic<int> upstream_closes{0};
  std::atomic<CloseReason> last_reason{CloseReason::kError};

 private:
  uint16_t port_;
  Connection* up_ = nullptr;       // worker thread only (one worker)
  Connection* waiting_ = nullptr;  // the held client
};

TEST(NetConnect, RelaysThroughAnOutgoingConnectionOnTheSameWorker) {
  LineHandler echo;
  Server upstream(LocalOptions(1), &echo);
  ASSERT_TRUE(upstream.Start().ok());
  RelayHandler relay(upstream.bound_port());
  Server server(LocalOptions(1), &relay);
  ASSERT_TRUE(server.Start().ok());
  Client c = Client::Tcp(server.bound_port());
  for (int i = 0; i < 20; ++i) {
    std::string x = "hello" + std::to_string(i);
    ASSERT_TRUE(c.Send("relay " + x + "\n"));
    EXPECT_EQ(c.Read(x.size() + 1), x + "\n");
  }
  // Not a client: the counts and `stats conns` show the one client only.
  EXPECT_EQ(server.GetStats().curr_connections, 1u);
  EXPECT_EQ(server.GetStats().total_connections, 1u);
  EXPECT_EQ(server.Connections().size(), 2u);  // the listener and the client
  EXPECT_EQ(upstream.GetStats().curr_connections, 1u);
  // The upstream goes away: the outgoing connection closes (peer closed) on its own.
  upstream.Stop();
  ASSERT_TRUE(WaitFor([&] { return relay.upstream_closes.load() == 1; }));
  EXPECT_EQ(relay.last_reason.load(), CloseReason::kPeerClosed);
  server.Stop();
}

TEST(NetConnect, NothingListeningIsRefusedOrClosedAsConnectFailed) {
  // A port that was just free: connect is refused at once (null) or later (OnClose).
  uint16_t port;
  {
    LineHandler h;
    Server s(LocalOptions(1), &h);
    ASSERT_TRUE(s.Start().ok());
    port = s.bound_port();
  }
  RelayHandler relay(port);
  Server server(LocalOptions(1), &relay);
  ASSERT_TRUE(server.Start().ok());
  Client c = Client::Tcp(server.bound_port());
  ASSERT_TRUE(c.Send("relay x\n"));
  std::string reply = c.Read(8);
  if (reply == "refused\n") {
    EXPECT_EQ(relay.upstream_closes.load(), 0);
  } else {
    EXPECT_EQ(reply + c.Read(8), "upstream closed\n");
    EXPECT_EQ(relay.last_reason.load(), CloseReason::kConnectFailed);
  }
  EXPECT_EQ(server.GetStats().curr_connections, 1u);
  server.Stop();
}

TEST(NetConnect, OnlyFromAWorker) {
  sockaddr_in a = Loopback(1);
  errno = 0;
  EXPECT_EQ(Connect(reinterpret_cast<sockaddr*>(&a), sizeof a, nullptr), nullptr);
  EXPECT_EQ(errno, EINVAL);
}

}  // namespace
}  // namespace syncached::net
