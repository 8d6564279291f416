// Helpers for net tests: a blocking socket client with a receive timeout (so a bug fails a
// test instead of hanging it), a polling wait for server-side effects, and a line handler.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "net/net.h"

namespace syncached::net::testing {

class Client {
 public:
  Client() = default;
  explicit Client(int fd) : fd_(fd) {}
  Client(Client&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Client& operator=(Client&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Client() { Close(); }

  // `before_connect` may set socket options (buffer sizes).
  static Client Tcp(uint16_t port, const char* host = "127.0.0.1",
                    const std::function<void(int)>& before_connect = nullptr) {
    bool v6 = std::strchr(host, ':') != nullptr;
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Client();
    if (before_connect) before_connect(fd);
    sockaddr_storage ss{};
    socklen_t len;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(port);
      inet_pton(AF_INET6, host, &a->sin6_addr);
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(port);
      inet_pton(AF_INET, host, &a->sin_addr);
      len = sizeof *a;
    }
    if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      close(fd);
      return Client();
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    Client c(fd);
    c.SetTimeoutMs(5000);
    return c;
  }

  static Client Unix(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
      close(fd);
      return Client();
    }
    Client c(fd);
    c.SetTimeoutMs(5000);
    return c;
  }

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  void SetTimeoutMs(int ms) {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Up to n bytes; fewer on EOF, error or timeout.
  std::string Read(size_t n) {
    std::string s(n, '\0');
    size_t got = 0;
    while (got < n) {
      ssize_t r = recv(fd_, s.data() + got, n - got, 0);
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    s.resize(got);
    return s;
  }

  // Everything until EOF (or error/timeout, then *eof is false).
  std::string ReadToEof(bool* eof = nullptr) {
    std::string s;
    char buf[65536];
    for (;;) {
      ssize_t r = recv(fd_, buf, sizeof buf, 0);
      if (r == 0 || (r < 0 && errno == ECONNRESET)) {
        if (eof) *eof = true;
        return s;
      }
      if (r < 0) {
        if (eof) *eof = false;
        return s;
      }
      s.append(buf, static_cast<size_t>(r));
    }
  }

  std::string RoundTrip(std::string_view line) {
    if (!Send(line)) return "<send failed>";
    return Read(line.size());
  }

 private:
  int fd_ = -1;
};

// Polls cond for up to 5 s: waits on effects the server applies on its own threads.
inline bool WaitFor(const std::function<bool()>& cond) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Runs fn on every worker and returns once all have run it: everything Post()ed to them
// earlier (e.g. SetAccepting) has been applied.
inline void Barrier(Server& server) {
  std::atomic<int> done{0};
  for (int i = 0; i < server.threads(); ++i) server.Post(i, [&done] { done++; });
  WaitFor([&] { return done.load() == server.threads(); });
}

// A line protocol, one reply per '\n'-terminated line:
//   "big N"  -> N bytes of 'x' then '\n'    "quit" -> CloseAfterWrite (rest ignored)
//   "close"  -> CloseNow                    other  -> the line echoed
// It stops early once out() exceeds high_water, as the Handler contract asks; on_line may
// override a line (return true if handled, or set *stop to leave it for later).
class LineHandler : public Handler {
 public:
  explicit LineHandler(size_t high_water = Options().output_high_water) : high_water_(high_water) {}

  std::function<void(Connection&)> on_open;
  std::function<bool(Connection&, std::string_view line, bool* stop)> on_line;
  std::function<void(Connection&)> on_hold_expired;
  std::function<void(int worker)> on_wake;
  std::function<void(Connection&)> on_close;

  void OnOpen(Connection& c) override {
    opens++;
    if (on_open) on_open(c);
  }

  size_t OnData(Connection& c, std::string_view in) override {
    calls++;
    Max(max_input, in.size());
    size_t pos = 0;
    while (c.out().size() <= high_water_ && !c.held()) {
      size_t nl = in.find('\n', pos);
      if (nl == std::string_view::npos) break;
      std::string_view line = in.substr(pos, nl - pos);
      bool stop = false;
      if (on_line && on_line(c, line, &stop)) {
        // handled
      } else if (stop) {
        break;
      } else if (line.substr(0, 4) == "big ") {
        c.out().append(std::stoul(std::string(line.substr(4))), 'x');
        c.out() += '\n';
      } else if (line == "quit") {
        c.CloseAfterWrite();
        return nl + 1;
      } else if (line == "close") {
        c.CloseNow();
        return nl + 1;
      } else {
        c.out().append(line);
        c.out() += '\n';
      }
      Max(max_out, c.out().size());
      pos = nl + 1;
    }
    return pos;
  }

  void OnHoldExpired(Connection& c) override {
    if (on_hold_expired) on_hold_expired(c);
  }
  void OnWake(int worker) override {
    if (on_wake) on_wake(worker);
  }

  void OnClose(Connection& c) override {
    if (on_close) on_close(c);
    std::lock_guard<std::mutex> lock(mu_);
    close_count_[c.id()]++;
    closes++;
  }

  // Every closed connection got exactly one OnClose.
  bool ClosedOnce() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, n] : close_count_) {
      if (n != 1) return false;
    }
    return true;
  }

  std::atomic<int> opens{0}, closes{0}, calls{0};
  std::atomic<size_t> max_out{0}, max_input{0};

 private:
  static void Max(std::atomic<size_t>& m, size_t v) {
    size_t cur = m.load();
    while (v > cur && !m.compare_exchange_weak(cur, v)) {
    }
  }
  size_t high_water_;
  std::mutex mu_;
  std::map<uint64_t, int> close_count_;
};

inline Options LocalOptions(int threads = 2) {
  Options o;
  o.listen = {"127.0.0.1"};
  o.port = 0;
  o.threads = threads;
  return o;
}

}  // namespace syncached::net::testing
