// Addresses: parsing, bind errors, IPv6, unix sockets, peer names, stats conns.
#include "net/listener.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/net.h"
#include "net_test_util.h"

namespace syncached::net {
namespace {

using testing::Client;
using testing::LineHandler;
using testing::LocalOptions;

TEST(NetListener, SplitsHostAndPort) {
  std::string host;
  int port;
  ASSERT_TRUE(SplitHostPort("127.0.0.1", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, -1);
  ASSERT_TRUE(SplitHostPort("localhost:11212", &host, &port));
  EXPECT_EQ(host, "localhost");
  EXPECT_EQ(port, 11212);
  ASSERT_TRUE(SplitHostPort("[::1]:0", &host, &port));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 0);
  ASSERT_TRUE(SplitHostPort("[::]", &host, &port));
  EXPECT_EQ(host, "::");
  EXPECT_EQ(port, -1);
  ASSERT_TRUE(SplitHostPort("fe80::1", &host, &port));
  EXPECT_EQ(host, "fe80::1");
  EXPECT_EQ(port, -1);
  EXPECT_FALSE(SplitHostPort("[::1", &host, &port));
  EXPECT_FALSE(SplitHostPort("[::1]x", &host, &port));
  EXPECT_FALSE(SplitHostPort("host:99999", &host, &port));
  EXPECT_FALSE(SplitHostPort("host:", &host, &port));
  EXPECT_FALSE(SplitHostPort("host:1a", &host, &port));
}

TEST(NetListener, BindFailureNamesTheAddress) {
  LineHandler h;
  Server first(LocalOptions(1), &h);
  ASSERT_TRUE(first.Start().ok());
  Options o = LocalOptions(1);
  o.port = first.bound_port();
  Server second(o, &h);
  Status st = second.Start();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("127.0.0.1:" + std::to_string(o.port)), std::string::npos)
      << st.message();

  o.listen = {"no-such-host.invalid"};
  Server third(o, &h);
  st = third.Start();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no-such-host.invalid"), std::string::npos) << st.message();
}

TEST(NetListener, BindHoldsThePortAndRefusesUntilStart) {
  LineHandler h;
  Server s(LocalOptions(1), &h);
  ASSERT_TRUE(s.Bind().ok());
  uint16_t port = s.bound_port();
  ASSERT_NE(port, 0);
  EXPECT_FALSE(Client::Tcp(port).ok());  // bound, not listening: refused

  // Yet the port is taken: outgoing connections and plain binds cannot have it.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  close(fd);

  ASSERT_TRUE(s.Start().ok());
  EXPECT_EQ(s.bound_port(), port);
  Client c = Client::Tcp(port);
  ASSERT_TRUE(c.ok());
}

TEST(NetListener, BoundServerNeverStartedClosesItsPort) {
  LineHandler h;
  uint16_t port;
  {
    Server s(LocalOptions(1), &h);
    ASSERT_TRUE(s.Bind().ok());
    port = s.bound_port();
  }
  Options o = LocalOptions(1);
  o.port = port;
  Server again(o, &h);
  EXPECT_TRUE(again.Start().ok());
}

TEST(NetListener, ServesIpv6LoopbackWhenAvailable) {
  LineHandler h;
  std::string peer;
  h.on_open = [&](Connection& c) { peer = c.peer(); };
  Options o = LocalOptions(1);
  o.listen = {"::1"};
  Server server(o, &h);
  Status st = server.Start();
  if (!st.ok()) GTEST_SKIP() << "no IPv6 loopback: " << st.message();
  Client c = Client::Tcp(server.bound_port(), "::1");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.RoundTrip("six\n"), "six\n");
  EXPECT_EQ(peer.rfind("[::1]:", 0), 0u) << peer;
}

TEST(NetListener, DefaultListensOnAllAddressesWithOnePort) {
  LineHandler h;
  Options o;
  o.port = 0;
  o.threads = 1;
  Server server(o, &h);
  ASSERT_TRUE(server.Start().ok());
  Client c = Client::Tcp(server.bound_port());
  EXPECT_EQ(c.RoundTrip("v4\n"), "v4\n");
  Client c6 = Client::Tcp(server.bound_port(), "::1");
  if (c6.ok()) {
    EXPECT_EQ(c6.RoundTrip("v6\n"), "v6\n");
  }
}

TEST(NetListener, UnixSocketWithMask) {
  LineHandler h;
  std::string peer;
  h.on_open = [&](Connection& c) { peer = c.peer(); };
  Options o;
  o.port = 0;  // with unix_path: no TCP, as memcached -s
  o.threads = 1;
  o.unix_path = "/tmp/syncached_net_test_" + std::to_string(getpid()) + ".sock";
  o.unix_mask = 0600;
  Server server(o, &h);
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(server.bound_port(), 0);
  struct stat st {};
  ASSERT_EQ(stat(o.unix_path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Client c = Client::Unix(o.unix_path);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.RoundTrip("local\n"), "local\n");
  EXPECT_EQ(peer, "unix");
  // A unix peer's close shows up as EPOLLHUP: what it sent first is still answered.
  Client d = Client::Unix(o.unix_path);
  ASSERT_TRUE(d.Send("quit\n"));
  bool eof = false;
  d.ReadToEof(&eof);
  EXPECT_TRUE(eof);
  server.Stop();
  EXPECT_NE(stat(o.unix_path.c_str(), &st), 0);  // removed
}

TEST(NetListener, ConnectionsSnapshotListsListenersAndPeers) {
  LineHandler h;
  Server server(LocalOptions(2), &h);
  ASSERT_TRUE(server.Start().ok());
  Client c = Client::Tcp(server.bound_port());
  EXPECT_EQ(c.RoundTrip("x\n"), "x\n");
  ASSERT_TRUE(c.Send("partial"));
  sockaddr_in local{};
  socklen_t len = sizeof local;
  getsockname(c.fd(), reinterpret_cast<sockaddr*>(&local), &len);
  std::string me = "127.0.0.1:" + std::to_string(ntohs(local.sin_port));
  ASSERT_TRUE(testing::WaitFor([&] {
    for (const auto& ci : server.Connections()) {
      if (ci.peer == me && std::string(ci.state) == "conn_read") return true;
    }
    return false;
  }));
  auto conns = server.Connections();
  ASSERT_EQ(conns.size(), 2u);
  EXPECT_STREQ(conns[0].state, "conn_listening");
  EXPECT_EQ(conns[0].peer, "127.0.0.1:" + std::to_string(server.bound_port()));
  EXPECT_EQ(conns[1].peer, me);
  EXPECT_GT(conns[1].id, 0u);
  EXPECT_LE(conns[1].idle_secs, 1u);
}

}  // namespace
}  // namespace syncached::net
