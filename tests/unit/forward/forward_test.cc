// forward: reply framing, and the Forwarder against scripted loopback servers
// (answers, silence, refusal, a closed pooled connection).
#include "forward/forward.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace syncached::forward {
namespace {

bool Find(Wire wire, std::string_view buf, size_t* before, size_t* after) {
  size_t scanned = 0;
  return FindSentinelReply(wire, buf, &scanned, before, after);
}

TEST(Framing, TextStepsOverDataBlocks) {
  size_t before, after;
  // A value holding the sentinel's reply is data, not the end.
  std::string r = "VALUE k 0 4\r\nMN\r\n\r\nVA 4 Ox\r\nMN\r\n\r\nEND\r\nMN\r\n";
  ASSERT_TRUE(Find(Wire::kText, r, &before, &after));
  EXPECT_EQ(r.substr(0, before), "VALUE k 0 4\r\nMN\r\n\r\nVA 4 Ox\r\nMN\r\n\r\nEND\r\n");
  EXPECT_EQ(after, r.size());
  EXPECT_TRUE(Find(Wire::kText, "MN\r\n", &before, &after));
  EXPECT_EQ(before, 0u);
  // Incomplete, in every place it can be cut.
  for (size_t n = 0; n < r.size(); ++n) {
    EXPECT_FALSE(Find(Wire::kText, std::string_view(r).substr(0, n), &before, &after)) << n;
  }
  // Resumes where it stopped.
  size_t scanned = 0;
  EXPECT_FALSE(FindSentinelReply(Wire::kText, "HD\r\nEN\r\nM", &scanned, &before, &after));
  EXPECT_EQ(scanned, 8u);
  EXPECT_TRUE(FindSentinelReply(Wire::kText, "HD\r\nEN\r\nMN\r\n", &scanned, &before, &after));
  EXPECT_EQ(before, 8u);
}

std::string Response(uint8_t op, uint32_t opaque, std::string_view value) {
  std::string h(24, '\0');
  h[0] = static_cast<char>(0x81);
  h[1] = static_cast<char>(op);
  uint32_t len = htonl(static_cast<uint32_t>(value.size()));
  memcpy(&h[8], &len, 4);
  uint32_t op_be = htonl(opaque);
  memcpy(&h[12], &op_be, 4);
  return h + std::string(value);
}

TEST(Framing, BinaryEndsAtTheSentinelsNoop) {
  size_t before, after;
  // A NOOP with another opaque (the client's own) is not the sentinel's.
  std::string r = Response(0x0d, 1, std::string(30, '\x0a')) + Response(0x0a, 7, "");
  std::string sentinel = Response(0x0a, 0x5eed5eed, "");
  EXPECT_FALSE(Find(Wire::kBinary, r, &before, &after));
  ASSERT_TRUE(Find(Wire::kBinary, r + sentinel, &before, &after));
  EXPECT_EQ(before, r.size());
  EXPECT_EQ(after, r.size() + 24);
  EXPECT_EQ(Sentinel(Wire::kBinary).substr(12, 4), sentinel.substr(12, 4));
  EXPECT_EQ(Sentinel(Wire::kText), "mn\r\n");
}

// A loopback server that runs `serve` on each accepted connection, one at a time.
class Scripted {
 public:
  explicit Scripted(std::function<void(int)> serve) : serve_(std::move(serve)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    listen(fd_, 8);
    thread_ = std::thread([this] {
      while (true) {
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0 || stop_) break;
        ++accepted;
        serve_(c);
        close(c);
      }
    });
  }
  ~Scripted() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::atomic<int> accepted{0};

 private:
  std::function<void(int)> serve_;
  int fd_;
  uint16_t port_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

placement::Members MembersFor(uint16_t port) {
  std::string text =
      "1 127.0.0.1:1 127.0.0.1:2\n2 127.0.0.1:" + std::to_string(port) + " 127.0.0.1:3\n";
  return placement::Members::Parse(text).value();
}

// Reads until `want` has arrived; false if the peer closed first.
bool ReadUntil(int fd, std::string_view want, std::string* got) {
  char buf[4096];
  while (got->find(want) == std::string::npos) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    got->append(buf, static_cast<size_t>(n));
  }
  return true;
}

TEST(Forwarder, RelaysWhatComesBeforeTheSentinel) {
  std::atomic<int> requests{0};
  Scripted srv([&](int c) {
    std::string got;
    // Two requests on one pooled connection: answers each, then the sentinel's MN.
    while (ReadUntil(c, "mn\r\n", &got)) {
      ++requests;
      got.clear();
      std::string reply = "VALUE k 0 4\r\nMN\r\n\r\nEND\r\nMN\r\n";
      send(c, reply.data(), reply.size(), 0);
    }
  });
  Forwarder f(MembersFor(srv.port()), 1, {});
  std::string reply;
  ASSERT_EQ(f.Send(2, Wire::kText, "get k\r\n", &reply), Result::kOk);
  EXPECT_EQ(reply, "VALUE k 0 4\r\nMN\r\n\r\nEND\r\n");
  ASSERT_EQ(f.Send(2, Wire::kText, "get k\r\n", &reply), Result::kOk);
  EXPECT_EQ(requests.load(), 2);
  EXPECT_EQ(srv.accepted.load(), 1);  // pooled
  EXPECT_EQ(f.forwarded(), 2u);
  EXPECT_TRUE(f.Alive(1));  // self
  EXPECT_EQ(f.Send(1, Wire::kText, "get k\r\n", &reply), Result::kUnreachable);
}

TEST(Forwarder, SilenceTimesOutAndMarksTheNodeDown) {
  Scripted srv([](int c) {
    std::string got;
    ReadUntil(c, "never", &got);  // holds the connection, answers nothing
  });
  Options o;
  o.timeout_ms = 200;
  o.down_ms = 300;
  Forwarder f(MembersFor(srv.port()), 1, o);
  std::string reply;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(f.Send(2, Wire::kText, "incr k 1\r\n", &reply), Result::kFailed);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(190));
  EXPECT_LT(took, std::chrono::milliseconds(1000));
  EXPECT_EQ(reply, "");
  EXPECT_FALSE(f.Alive(2));
  EXPECT_EQ(f.Send(2, Wire::kText, "get k\r\n", &reply), Result::kUnreachable);  // skipped
  EXPECT_EQ(f.errors(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  EXPECT_TRUE(f.Alive(2));
}

TEST(Forwarder, RefusedIsUnreachableAndAClosedPoolConnectionIsReplaced) {
  std::atomic<bool> close_after_one{true};
  Scripted srv([&](int c) {
    std::string got;
    if (!ReadUntil(c, "mn\r\n", &got)) return;
    send(c, "HD\r\nMN\r\n", 8, 0);
    if (close_after_one) return;  // the caller closes: the pooled connection dies
    got.clear();
    while (ReadUntil(c, "mn\r\n", &got)) {
      got.clear();
      send(c, "HD\r\nMN\r\n", 8, 0);
    }
  });
  Forwarder f(MembersFor(srv.port()), 1, {});
  std::string reply;
  ASSERT_EQ(f.Send(2, Wire::kText, "ms k 1\r\nx\r\n", &reply), Result::kOk);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  close_after_one = false;
  // The old connection is closed by now: noticed before sending, a new one is made.
  ASSERT_EQ(f.Send(2, Wire::kText, "ms k 1\r\nx\r\n", &reply), Result::kOk);
  EXPECT_EQ(reply, "HD\r\nHD\r\n");
  EXPECT_EQ(srv.accepted.load(), 2);

  // Nothing listens on port 1.
  placement::Members m =
      placement::Members::Parse("1 127.0.0.1:5 127.0.0.1:6\n2 127.0.0.1:1 127.0.0.1:7\n").value();
  Forwarder g(m, 1, {});
  EXPECT_EQ(g.Send(2, Wire::kBinary, std::string(24, '\x80'), &reply), Result::kUnreachable);
  EXPECT_FALSE(g.Alive(2));
}

TEST(Forwarder, AliveHookVetoes) {
  Options o;
  o.alive = [](placement::NodeId id) { return id != 2; };
  Forwarder f(MembersFor(9), 1, o);
  EXPECT_FALSE(f.Alive(2));
  std::string reply;
  EXPECT_EQ(f.Send(2, Wire::kText, "get k\r\n", &reply), Result::kUnreachable);
}

}  // namespace
}  // namespace syncached::forward
