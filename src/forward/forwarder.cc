#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/log.h"
#include "forward/forward.h"

namespace syncached::forward {
namespace {

// Which forwarder a thread's cached pool belongs to (ids, not addresses: tests make
// many forwarders, and a new one may reuse a freed one's address).
std::atomic<uint64_t> g_next_id{1};
thread_local uint64_t t_forwarder_id = 0;
thread_local void* t_pool = nullptr;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Waits for `events` on fd until `deadline_ms`; false on timeout (errno ETIMEDOUT) or
// error.
bool WaitFor(int fd, short events, int64_t deadline_ms) {
  while (true) {
    int64_t left = deadline_ms - NowMs();
    if (left <= 0) {
      errno = ETIMEDOUT;
      return false;
    }
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, static_cast<int>(left));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

int Connect(const sockaddr_storage& addr, socklen_t len, int timeout_ms) {
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    int err = errno;
    if (err == EINPROGRESS) {
      err = WaitFor(fd, POLLOUT, NowMs() + timeout_ms) ? 0 : errno;
      socklen_t elen = sizeof err;
      if (err == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) err = errno;
    }
    if (err != 0) {
      close(fd);
      errno = err;  // for the caller's log line
      return -1;
    }
  }
  // Blocking from here on, each send or receive bounded by the same timeout.
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

// An idle pooled connection has nothing to read: readable means the node closed it
// (restarted, killed) or sent junk. Checked before sending, so a dead node is found
// without sending it a request that might have run.
bool IdleHealthy(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 0;
}

}  // namespace

struct Forwarder::Node {
  placement::NodeId id = 0;
  bool self = false;
  bool resolved = false;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::atomic<int64_t> down_until_ms{0};
};

// One thread's connections, two per node (text, binary: a node's session keeps the
// protocol its first byte chose), at 2 * node index + wire; -1 when none is open.
struct Forwarder::Pool {
  std::vector<int> fds;
  std::string buf;  // reused receive buffer
};

Forwarder::Forwarder(const placement::Members& members, placement::NodeId self, Options options)
    : options_(std::move(options)),
      id_(g_next_id++),
      self_(self),
      nodes_(new std::unique_ptr<Node>[kMaxNodes]) {
  AddNodes(members);
}

bool Forwarder::AddNodes(const placement::Members& members) {
  std::lock_guard lock(add_mu_);
  for (const placement::Member& m : members.nodes()) {
    bool known = false;
    for (size_t i = 0; i < node_count(); ++i) known |= NodeAt(i)->id == m.id;
    if (known) continue;
    if (node_count() == kMaxNodes) return false;
    Add(m);
  }
  return true;
}

// Resolved once: a node's address is fixed while it is a member.
void Forwarder::Add(const placement::Member& m) {
  auto n = std::make_unique<Node>();
  n->id = m.id;
  n->self = m.id == self_;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(m.port);
  if (!n->self && getaddrinfo(m.host.c_str(), port.c_str(), &hints, &res) == 0 && res) {
    memcpy(&n->addr, res->ai_addr, res->ai_addrlen);
    n->addr_len = res->ai_addrlen;
    n->resolved = true;
  } else if (!n->self) {
    SC_LOG(kWarn, "forwarding: cannot resolve node %u's client address %s", m.id,
           m.client_address.c_str());
  }
  if (res) freeaddrinfo(res);
  size_t at = node_count();
  nodes_[at] = std::move(n);
  node_count_.store(at + 1, std::memory_order_release);
}

Forwarder::~Forwarder() {
  for (auto& p : pools_) {
    for (int fd : p->fds) {
      if (fd >= 0) close(fd);
    }
  }
}

Forwarder::Pool& Forwarder::ThisThreadPool() {
  if (t_forwarder_id == id_) return *static_cast<Pool*>(t_pool);
  std::lock_guard lock(pools_mu_);
  pools_.push_back(std::make_unique<Pool>());
  pools_.back()->fds.assign(2 * kMaxNodes, -1);
  t_pool = pools_.back().get();
  t_forwarder_id = id_;
  return *pools_.back();
}

bool Forwarder::Alive(placement::NodeId id) const {
  for (size_t i = 0; i < node_count(); ++i) {
    const Node* n = NodeAt(i);
    if (n->id != id) continue;
    if (n->self) return true;
    if (!n->resolved || n->down_until_ms.load(std::memory_order_relaxed) > NowMs()) return false;
    return !options_.alive || options_.alive(id);
  }
  return false;
}

void Forwarder::MarkDown(size_t index, const char* what) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  Node& n = *NodeAt(index);
  int64_t now = NowMs();
  // Logged once per down period, not once per worker or request.
  int64_t was = n.down_until_ms.exchange(now + options_.down_ms, std::memory_order_relaxed);
  if (was <= now) {
    SC_LOG(kWarn, "forwarding: node %u %s (%s); skipped for %d ms", n.id, what,
           errno ? strerror(errno) : "closed", options_.down_ms);
  }
}

bool Forwarder::Address(placement::NodeId id, sockaddr_storage* addr, socklen_t* len) const {
  for (size_t i = 0; i < node_count(); ++i) {
    const Node* n = NodeAt(i);
    if (n->id != id) continue;
    if (n->self || !n->resolved) return false;
    *addr = n->addr;
    *len = n->addr_len;
    return true;
  }
  return false;
}

void Forwarder::MarkDown(placement::NodeId id, const char* what) {
  for (size_t i = 0; i < node_count(); ++i) {
    if (NodeAt(i)->id == id && !NodeAt(i)->self) return MarkDown(i, what);
  }
}

Result Forwarder::Send(placement::NodeId id, Wire wire, std::string_view request,
                       std::string* reply) {
  size_t index = 0, count = node_count();
  while (index < count && NodeAt(index)->id != id) ++index;
  if (index == count || NodeAt(index)->self || !Alive(id)) return Result::kUnreachable;
  Node& node = *NodeAt(index);
  Pool& pool = ThisThreadPool();
  int& fd = pool.fds[2 * index + (wire == Wire::kBinary ? 1 : 0)];
  if (fd >= 0 && !IdleHealthy(fd)) {
    close(fd);
    fd = -1;
  }
  std::string_view hello;
  if (fd < 0) {
    fd = Connect(node.addr, node.addr_len, options_.timeout_ms);
    if (fd < 0) {
      MarkDown(index, "could not be connected to");
      return Result::kUnreachable;
    }
    hello = options_.hello;
  }
  auto fail = [&](Result r, const char* what) {
    int err = errno;
    close(fd);
    fd = -1;
    errno = err;
    MarkDown(index, what);
    return r;
  };
  // The request and the sentinel in one sendmsg, the reply in (mostly) one blocking
  // recv: every syscall here is paid on top of a local request.
  std::string_view sentinel = Sentinel(wire);
  iovec iov[3] = {{const_cast<char*>(hello.data()), hello.size()},
                  {const_cast<char*>(request.data()), request.size()},
                  {const_cast<char*>(sentinel.data()), sentinel.size()}};
  msghdr msg{};
  msg.msg_iov = hello.empty() ? iov + 1 : iov;
  msg.msg_iovlen = hello.empty() ? 2 : 3;
  size_t sent_total = 0, total = hello.size() + request.size() + sentinel.size();
  while (sent_total < total) {
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) errno = ETIMEDOUT;
      return fail(sent_total == 0 ? Result::kUnreachable : Result::kFailed, "failed a send");
    }
    sent_total += static_cast<size_t>(n);
    for (size_t left = static_cast<size_t>(n); left > 0;) {  // step over what went out
      size_t step = std::min(left, msg.msg_iov->iov_len);
      msg.msg_iov->iov_base = static_cast<char*>(msg.msg_iov->iov_base) + step;
      msg.msg_iov->iov_len -= step;
      left -= step;
      if (msg.msg_iov->iov_len == 0 && msg.msg_iovlen > 1) {
        ++msg.msg_iov;
        --msg.msg_iovlen;
      }
    }
  }
  std::string& buf = pool.buf;
  buf.clear();
  size_t scanned = 0, before = 0, after = 0;
  constexpr size_t kChunk = 16384;
  while (!FindSentinelReply(wire, buf, &scanned, &before, &after)) {
    if (scanned > options_.max_reply) {
      // The node is fine; the connection is mid-reply, so it goes (no down mark).
      close(fd);
      fd = -1;
      return Result::kTooLarge;
    }
    size_t old = buf.size();
    buf.resize(old + kChunk);
    ssize_t n = recv(fd, buf.data() + old, kChunk, 0);
    buf.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) errno = ETIMEDOUT;
    if (n == 0) errno = 0;
    return fail(Result::kFailed, "gave no complete reply");  // closed, reset or timed out
  }
  // Anything after the sentinel's reply was not asked for: start afresh next time.
  if (after != buf.size()) {
    close(fd);
    fd = -1;
  }
  reply->append(buf, 0, before);
  forwarded_.fetch_add(1, std::memory_order_relaxed);
  return Result::kOk;
}

}  // namespace syncached::forward
