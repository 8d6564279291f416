// Connection limits, accept control, many connections, stopping.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <thread>
#include <vector>

#include "net/net.h"
#include "net_test_util.h"

namespace syncached::net {
namespace {

using testing::Barrier;
using testing::Client;
using testing::LineHandler;
using testing::LocalOptions;
using testing::WaitFor;

constexpr char kTooMany[] = "ERROR Too many open connections\r\n";

TEST(NetLifecycle, ConnectionOverMaxConnsGetsMessageAndIsClosed) {
  LineHandler h;
  Options o = LocalOptions();
  o.max_conns = 2;
  o.reject_message = kTooMany;
  Server server(o, &h);
  ASSERT_TRUE(server.Start().ok());
  Client a = Client::Tcp(server.bound_port());
  Client b = Client::Tcp(server.bound_port());
  EXPECT_EQ(a.RoundTrip("a\n"), "a\n");
  EXPECT_EQ(b.RoundTrip("b\n"), "b\n");
  Client c = Client::Tcp(server.bound_port());
  bool eof = false;
  EXPECT_EQ(c.ReadToEof(&eof), kTooMany);
  EXPECT_TRUE(eof);
  EXPECT_TRUE(WaitFor([&] { return server.GetStats().rejected_connections == 1; }));
  Stats s = server.GetStats();
  EXPECT_EQ(s.curr_connections, 2u);
  EXPECT_EQ(s.total_connections, 2u);
  EXPECT_EQ(h.opens.load(), 2);

  a.Close();
  ASSERT_TRUE(WaitFor([&] { return server.GetStats().curr_connections == 1; }));
  Client d = Client::Tcp(server.bound_port());
  EXPECT_EQ(d.RoundTrip("d\n"), "d\n");
}

TEST(NetLifecycle, ThousandConnectionsOpenAndClose) {
  LineHandler h;
  Options o = LocalOptions(4);
  o.max_conns = 2000;
  Server server(o, &h);
  ASSERT_TRUE(server.Start().ok());
  std::vector<Client> clients;
  for (int i = 0; i < 1000; ++i) {
    clients.push_back(Client::Tcp(server.bound_port()));
    std::string line = std::to_string(i) + "\n";
    ASSERT_EQ(clients.back().RoundTrip(line), line);
  }
  Stats s = server.GetStats();
  EXPECT_EQ(s.curr_connections, 1000u);
  EXPECT_EQ(s.total_connections, 1000u);
  EXPECT_EQ(server.Connections().size(), 1001u);  // + the listener
  clients.clear();
  EXPECT_TRUE(WaitFor([&] { return server.GetStats().curr_connections == 0; }));
  EXPECT_EQ(h.closes.load(), 1000);
  EXPECT_TRUE(h.ClosedOnce());
}

TEST(NetLifecycle, StopWithOpenConnectionsClosesThemAndReturns) {
  LineHandler h;
  Server server(LocalOptions(2), &h);
  ASSERT_TRUE(server.Start().ok());
  std::vector<Client> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(Client::Tcp(server.bound_port()));
    EXPECT_EQ(clients.back().RoundTrip("hi\n"), "hi\n");
    clients.back().Send("partial request");
  }
  Client blocked = Client::Tcp(server.bound_port());
  blocked.Send("big 5000000\n");  // output the server cannot flush
  ASSERT_TRUE(WaitFor([&] { return h.opens.load() == 21 && h.calls.load() >= 41; }));
  server.Stop();
  EXPECT_EQ(h.closes.load(), 21);
  EXPECT_TRUE(h.ClosedOnce());
  for (auto& c : clients) {
    bool eof = false;
    c.ReadToEof(&eof);
    EXPECT_TRUE(eof);
  }
  server.Stop();  // idempotent
  server.Wait();  // already stopped: returns
  EXPECT_FALSE(Client::Tcp(server.bound_port()).ok());
}

TEST(NetLifecycle, WaitReturnsWhenAnotherThreadStops) {
  LineHandler h;
  Server server(LocalOptions(), &h);
  ASSERT_TRUE(server.Start().ok());
  std::thread stopper([&] { server.Stop(); });
  server.Wait();
  stopper.join();
}

TEST(NetLifecycle, StopFromAHandlerIsCompletedByWait) {
  LineHandler h;
  Server* srv = nullptr;
  h.on_line = [&](Connection&, std::string_view line, bool*) {
    if (line != "shutdown") return false;
    srv->Stop();  // on a worker thread: only requests the stop
    return true;
  };
  Server server(LocalOptions(), &h);
  srv = &server;
  ASSERT_TRUE(server.Start().ok());
  Client c = Client::Tcp(server.bound_port());
  ASSERT_TRUE(c.Send("shutdown\n"));
  server.Wait();
  EXPECT_EQ(h.closes.load(), 1);
}

TEST(NetLifecycle, SetAcceptingPausesAndResumesAccepting) {
  LineHandler h;
  Server server(LocalOptions(), &h);
  ASSERT_TRUE(server.Start().ok());
  server.SetAccepting(false);
  Barrier(server);
  EXPECT_FALSE(server.GetStats().accepting_conns);
  Client c = Client::Tcp(server.bound_port());  // completes in the kernel backlog
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.Send("queued\n"));
  c.SetTimeoutMs(50);
  EXPECT_EQ(c.Read(7), "");
  EXPECT_EQ(h.opens.load(), 0);
  c.SetTimeoutMs(5000);
  server.SetAccepting(true);
  EXPECT_EQ(c.Read(7), "queued\n");
}

int CountOpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

// With no file descriptors left accept() fails with EMFILE while the connection stays
// queued; the worker must pause accepting (not spin) and pick it up later.
TEST(NetLifecycle, AcceptPausesOnEmfileAndRecovers) {
  LineHandler h;
  Server server(LocalOptions(1), &h);
  ASSERT_TRUE(server.Start().ok());
  Client a = Client::Tcp(server.bound_port());
  ASSERT_EQ(a.RoundTrip("a\n"), "a\n");

  rlimit saved;
  getrlimit(RLIMIT_NOFILE, &saved);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(CountOpenFds() + 64);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(null_fd, 0);
  std::vector<int> hogs;  // use up every descriptor but one, which the client takes
  for (int fd; (fd = dup(null_fd)) >= 0;) hogs.push_back(fd);
  ASSERT_FALSE(hogs.empty());
  close(hogs.back());
  hogs.pop_back();
  Client b = Client::Tcp(server.bound_port());
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(b.Send("b\n"));
  bool paused = WaitFor([&] { return server.GetStats().listen_disabled_num > 0; });
  for (int fd : hogs) close(fd);
  close(null_fd);
  setrlimit(RLIMIT_NOFILE, &saved);
  ASSERT_TRUE(paused);
  EXPECT_EQ(b.Read(2), "b\n");
  EXPECT_EQ(a.RoundTrip("a\n"), "a\n");
}

}  // namespace
}  // namespace syncached::net
