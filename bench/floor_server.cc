// syncached-floor: the least a memcached-compatible server can do per request over
// epoll, to measure what the kernel costs alone. One thread, level-triggered epoll, one
// recv and one send per batch (as syncached), an std::unordered_map, and nothing else: no
// memory limit, LRU, expiry, CAS, stats or replication. Understands get, set and version;
// anything else is answered ERROR. Not a cache: a yardstick for bench/run.py:
//
//   bench/run.py --syncached build/bin/syncached --memcached build/bin/syncached-floor
//
// Accepts memcached's -p PORT and ignores its other flags (-t, -m, -l, -U, -u).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace {

std::unordered_map<std::string, std::string> g_items;

struct Conn {
  int fd;
  std::string in, out;
};

// The n-th space-separated token of a command line.
std::string_view Token(std::string_view line, int n) {
  size_t pos = 0;
  for (int i = 0; i < n; ++i) {
    pos = line.find(' ', pos);
    if (pos == std::string_view::npos) return {};
    ++pos;
  }
  return line.substr(pos, line.find(' ', pos) - pos);
}

// Answers every complete request in c->in; leaves a partial one for the next read.
void Process(Conn* c) {
  std::string_view in = c->in;
  size_t pos = 0;
  for (;;) {
    size_t eol = in.find("\r\n", pos);
    if (eol == std::string_view::npos) break;
    std::string_view line = in.substr(pos, eol - pos);
    size_t next = eol + 2;
    if (line.starts_with("get ")) {
      for (int k = 1;; ++k) {
        std::string_view key = Token(line, k);
        if (key.empty()) break;
        auto it = g_items.find(std::string(key));
        if (it == g_items.end()) continue;
        c->out.append("VALUE ").append(key).append(" 0 ");
        c->out.append(std::to_string(it->second.size())).append("\r\n");
        c->out.append(it->second).append("\r\n");
      }
      c->out.append("END\r\n");
    } else if (line.starts_with("set ")) {
      std::string_view bytes_tok = Token(line, 4);
      size_t bytes = 0;
      if (std::from_chars(bytes_tok.data(), bytes_tok.data() + bytes_tok.size(), bytes).ec !=
          std::errc()) {
        c->out.append("CLIENT_ERROR bad command line format\r\n");
        pos = next;
        continue;
      }
      if (in.size() < next + bytes + 2) break;  // the data block is not all here yet
      g_items[std::string(Token(line, 1))].assign(in.data() + next, bytes);
      if (Token(line, 5) != "noreply") c->out.append("STORED\r\n");
      next += bytes + 2;
    } else if (line == "version") {
      c->out.append("VERSION floor\r\n");
    } else {
      c->out.append("ERROR\r\n");
    }
    pos = next;
  }
  c->in.erase(0, pos);
}

int Listen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 1024) != 0) {
    std::perror("syncached-floor: listen");
    std::exit(1);
  }
  return fd;
}

void Close(int ep, Conn* c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, nullptr);
  close(c->fd);
  delete c;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 11211;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "-p") == 0) port = std::atoi(argv[i + 1]);
  }
  int lfd = Listen(port);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  epoll_event events[256];
  auto buf = std::make_unique<char[]>(64 * 1024);
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Conn*>(events[i].data.ptr);
      if (c == nullptr) {
        int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ev.events = EPOLLIN;
        ev.data.ptr = new Conn{fd, {}, {}};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        continue;
      }
      ssize_t r = recv(c->fd, buf.get(), 64 * 1024, 0);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) {
        Close(ep, c);
        continue;
      }
      c->in.append(buf.get(), static_cast<size_t>(r));
      Process(c);
      // Blocking would stall everyone: a client that does not read its replies is dropped
      // (the loadgen always reads; this is a yardstick, not a server).
      size_t sent = 0;
      while (sent < c->out.size()) {
        ssize_t w = send(c->fd, c->out.data() + sent, c->out.size() - sent, MSG_NOSIGNAL);
        if (w <= 0) break;
        sent += static_cast<size_t>(w);
      }
      if (sent < c->out.size()) {
        Close(ep, c);
        continue;
      }
      c->out.clear();
    }
  }
}
