#include "client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/clock.h"
#include "stat_lines.h"

namespace syncached::tool {

namespace {

int64_t NowMs() { return static_cast<int64_t>(SteadyMillis()); }

// Waits for events on fd until the deadline; 1 ready, 0 timeout, -1 error.
int WaitFd(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - NowMs();
    if (left <= 0) return 0;
    pollfd p{fd, events, 0};
    int r = poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    return r < 0 ? -1 : r;
  }
}

}  // namespace

Client::~Client() { Close(); }

void Client::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  buf_.clear();
  pos_ = 0;
}

bool Client::Connect(const Address& a, int timeout_ms) {
  Close();
  timeout_ms_ = timeout_ms;
  int64_t deadline = NowMs() + timeout_ms;
  std::vector<std::pair<sockaddr_storage, socklen_t>> targets;
  int family = AF_UNIX;
  if (a.is_unix) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    if (a.path.size() >= sizeof un.sun_path) {
      error_ = "socket path too long";
      return false;
    }
    memcpy(un.sun_path, a.path.data(), a.path.size());
    sockaddr_storage ss{};
    memcpy(&ss, &un, sizeof un);
    targets.push_back({ss, static_cast<socklen_t>(sizeof un)});
  } else {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    std::string port = std::to_string(a.port);
    int rc = getaddrinfo(a.host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) {
      error_ = gai_strerror(rc);
      return false;
    }
    for (addrinfo* r = res; r; r = r->ai_next) {
      sockaddr_storage ss{};
      memcpy(&ss, r->ai_addr, r->ai_addrlen);
      targets.push_back({ss, r->ai_addrlen});
    }
    freeaddrinfo(res);
  }
  for (auto& [ss, len] : targets) {
    family = ss.ss_family;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      error_ = strerror(errno);
      continue;
    }
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
    if (rc < 0 && errno == EINPROGRESS) {
      int w = WaitFd(fd, POLLOUT, deadline);
      if (w <= 0) {
        error_ = w == 0 ? "connect timed out" : strerror(errno);
        close(fd);
        continue;
      }
      int err = 0;
      socklen_t el = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
      rc = err ? -1 : 0;
      errno = err;
    }
    if (rc < 0) {
      error_ = strerror(errno);
      close(fd);
      continue;
    }
    if (family != AF_UNIX) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    fd_ = fd;
    error_.clear();
    return true;
  }
  return false;
}

bool Client::Send(std::string_view data) {
  int64_t deadline = NowMs() + timeout_ms_;
  while (!data.empty()) {
    ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int w = WaitFd(fd_, POLLOUT, deadline);
      if (w > 0) continue;
      error_ = w == 0 ? "timed out writing" : strerror(errno);
      return false;
    }
    error_ = strerror(errno);
    return false;
  }
  return true;
}

bool Client::Fill() {
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  int64_t deadline = NowMs() + timeout_ms_;
  char tmp[65536];
  for (;;) {
    ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
    if (n > 0) {
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
    if (n == 0) {
      error_ = "connection closed by the server";
      return false;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int w = WaitFd(fd_, POLLIN, deadline);
      if (w > 0) continue;
      error_ = w == 0 ? "timed out waiting for a reply" : strerror(errno);
      return false;
    }
    error_ = strerror(errno);
    return false;
  }
}

bool Client::ReadLine(std::string* line) {
  size_t scanned = pos_;
  for (;;) {
    size_t nl = buf_.find('\n', scanned);
    if (nl != std::string::npos) {
      line->assign(buf_, pos_, nl + 1 - pos_);
      pos_ = nl + 1;
      return true;
    }
    scanned = buf_.size();
    size_t before = pos_;
    if (!Fill()) return false;
    scanned -= before - pos_;  // Fill may have compacted the buffer
  }
}

bool Client::ReadExact(size_t n, std::string* out) {
  while (buf_.size() - pos_ < n) {
    if (!Fill()) return false;
  }
  out->assign(buf_, pos_, n);
  pos_ += n;
  return true;
}

bool Client::StatLines(const std::string& group, std::vector<std::string>* lines) {
  lines->clear();
  if (!Send(group.empty() ? "stats\r\n" : "stats " + group + "\r\n")) return false;
  std::string line;
  for (;;) {
    if (!ReadLine(&line)) return false;
    std::string_view l = StripEol(line);
    if (l == "END") return true;
    if (l.substr(0, 5) != "STAT ") {
      error_ = "stats " + group + ": " + std::string(l);
      return false;
    }
    lines->push_back(line);
  }
}

bool Client::Stats(const std::string& group,
                   std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  std::vector<std::string> lines;
  if (!StatLines(group, &lines)) return false;
  for (const std::string& raw : lines) {
    std::string_view l = StripEol(raw).substr(5);
    size_t sp = l.find(' ');
    if (sp == std::string_view::npos) {
      out->emplace_back(std::string(l), "");
    } else {
      out->emplace_back(std::string(l.substr(0, sp)), std::string(l.substr(sp + 1)));
    }
  }
  return true;
}

}  // namespace syncached::tool
