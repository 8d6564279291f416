// Worker, part 3: new connections: accepts (one per event; paused after EMFILE/ENFILE or
// by SetAccepting) and outgoing connects (net::Connect). Worker thread only.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/log.h"
#include "net/tls.h"
#include "net/worker.h"

namespace syncached::net {
namespace {
constexpr int kBackoffMs = 10;  // accept pause after EMFILE/ENFILE (memcached: 10ms)
}  // namespace

Connection* Connect(const sockaddr* addr, socklen_t addr_len, void* user) {
  Worker* w = Worker::CurrentWorker();
  if (!w) {
    errno = EINVAL;
    return nullptr;
  }
  return w->Connect(addr, addr_len, user);
}

void Worker::Accept(const Listener& l) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  // One accept per event: level-triggered epoll reports the listener again if more are
  // queued, and EXCLUSIVE lets another idle worker take them. No EAGAIN-terminated loop.
  int fd = accept4(l.fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
      Backoff(err);
    } else if (!WouldBlock(err) && err != ECONNABORTED) {
      SC_LOG(kWarn, "accept on %s: %s", l.name.c_str(), std::strerror(err));
    }
    return;
  }
  backoff_logged_ = false;
  if (shared_->open_conns.fetch_add(1, std::memory_order_relaxed) >= shared_->opts.max_conns) {
    shared_->open_conns.fetch_sub(1, std::memory_order_relaxed);
    Bump(counters_.rejected, 1);
    const std::string& msg = shared_->opts.reject_message;
    if (!msg.empty()) {
      ssize_t r = send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      (void)r;  // best effort, as memcached
    }
    close(fd);
    return;
  }
  if (l.tcp) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  std::unique_ptr<Conn> owned = TakeConn();
  Conn* c = owned.get();
  c->Reset(fd, shared_->next_id.fetch_add(1, std::memory_order_relaxed),
           l.tcp ? FormatAddress(reinterpret_cast<sockaddr*>(&ss), len) : "unix", now_);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = c;
  // The handshake starts with the first read (tls.h); nothing is sent before the client's hello.
  if (l.tls) c->set_ssl(shared_->tls->NewSsl(fd, c));
  if ((l.tls && !c->ssl()) || epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    if (!l.tls || c->ssl()) {
      SC_LOG(kError, "epoll_ctl add %s: %s", c->peer().c_str(), std::strerror(errno));
    }
    c->tls_failed_ = true;  // nothing to shut down
    TlsClose(c);
    close(fd);
    shared_->open_conns.fetch_sub(1, std::memory_order_relaxed);
    c->open_ = false;
    pool_.push_back(std::move(owned));
    return;
  }
  c->events_ = EPOLLIN;
  c->listen_name_ = &l.name;
  {
    std::lock_guard<std::mutex> lock(conns_mu_);
    c->slot_ = open_.size();
    open_.push_back(std::move(owned));
  }
  Bump(counters_.total, 1);
  CallHandler(c, "OnOpen", [&] { shared_->handler->OnOpen(*c); });
  Settle(c);
}

std::unique_ptr<Conn> Worker::TakeConn() {
  if (pool_.empty()) return std::make_unique<Conn>(this, index_);
  std::unique_ptr<Conn> c = std::move(pool_.back());
  pool_.pop_back();
  return c;
}

Conn* Worker::Connect(const sockaddr* addr, socklen_t len, void* user) {
  int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  bool connecting = false;
  if (connect(fd, addr, len) != 0) {
    if (errno != EINPROGRESS) {
      int err = errno;
      close(fd);
      errno = err;
      return nullptr;
    }
    connecting = true;
  }
  std::unique_ptr<Conn> owned = TakeConn();
  Conn* c = owned.get();
  c->Reset(fd, shared_->next_id.fetch_add(1, std::memory_order_relaxed),
           FormatAddress(const_cast<sockaddr*>(addr), len), now_);
  c->set_outgoing(true);
  c->connecting_ = connecting;
  c->SetNoIdleTimeout();
  c->user = user;
  epoll_event ev{};
  // Until connected, EPOLLOUT reports the outcome (FinishConnect).
  ev.events = connecting ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  ev.data.ptr = c;
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int err = errno;
    close(fd);
    c->open_ = false;
    pool_.push_back(std::move(owned));
    errno = err;
    return nullptr;
  }
  c->events_ = ev.events;
  c->want_write_ = connecting;  // nothing is written before the connect completes
  {
    std::lock_guard<std::mutex> lock(conns_mu_);
    c->slot_ = open_.size();
    open_.push_back(std::move(owned));
  }
  return c;
}

bool Worker::FinishConnect(Conn* c) {
  int err = 0;
  socklen_t elen = sizeof err;
  if (getsockopt(c->fd(), SOL_SOCKET, SO_ERROR, &err, &elen) != 0) err = errno;
  if (err == 0) {
    // Connected, or still connecting (a wake-up for input that cannot have come yet).
    sockaddr_storage peer;
    socklen_t slen = sizeof peer;
    if (getpeername(c->fd(), reinterpret_cast<sockaddr*>(&peer), &slen) != 0) return true;
    c->connecting_ = false;
    return true;
  }
  errno = err;
  c->note_close(CloseReason::kConnectFailed);
  Close(c);
  return false;
}

void Worker::Backoff(int err) {
  Bump(counters_.listen_disabled, 1);
  if (!backoff_logged_) {
    SC_LOG(kWarn, "accept: %s; pausing accepts for %d ms", std::strerror(err), kBackoffMs);
    backoff_logged_ = true;
  }
  backoff_until_ms_ = MonotonicMs() + kBackoffMs;
  UpdateListeners();
}

void Worker::SetAccepting(bool on) {
  accepting_ = on;
  UpdateListeners();
}

void Worker::UpdateListeners() {
  bool want = accepting_ && backoff_until_ms_ == 0;
  if (want == listening_) return;
  for (size_t i = 0; i < shared_->listeners.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.u64 = i + 1;
    int fd = shared_->listeners[i].fd;
    if (epoll_ctl(ep_, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) != 0) {
      SC_LOG(kError, "epoll_ctl listener %s: %s", shared_->listeners[i].name.c_str(),
             std::strerror(errno));
    }
  }
  listening_ = want;
}

}  // namespace syncached::net
