#include "worker.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>

namespace syncached::bench {

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void Tally::Merge(const Tally& o) {
  ops += o.ops;
  ops_in_window += o.ops_in_window;
  gets += o.gets;
  sets += o.sets;
  keys += o.keys;
  hits += o.hits;
  misses += o.misses;
  error_replies += o.error_replies;
  bad_values += o.bad_values;
  desyncs += o.desyncs;
  conn_errors += o.conn_errors;
  timeouts += o.timeouts;
  start_ns = start_ns == 0 ? o.start_ns : std::min(start_ns, o.start_ns);
  end_ns = std::max(end_ns, o.end_ns);
  window_end_ns = std::max(window_end_ns, o.window_end_ns);
  latency.Merge(o.latency);
}

struct Worker::Conn {
  struct Pending {
    Op op;
    uint16_t nkeys;
    int64_t start_ns;
  };

  Conn(const Options& opt, const KeySpace& keys, const Encoder& enc, bool multi)
      : parser(opt.proto, keys, enc, opt.verify, multi) {}

  int fd = -1;
  SSL* ssl = nullptr;  // --tls
  bool alive = false;
  bool want_out = false;
  std::unique_ptr<char[]> rbuf;
  size_t rcap = 0, rlen = 0;
  std::unique_ptr<char[]> sbuf;  // holds every unsent byte of the requests in flight
  size_t scap = 0, slen = 0, spos = 0;
  std::vector<Pending> ring;        // in-flight requests, FIFO, capacity --depth
  std::vector<uint32_t> ring_keys;  // --mget key slots per ring entry
  size_t head = 0, count = 0;
  ResponseParser parser;
  uint64_t rng = 0;

  uint64_t Random() {  // xorshift64*
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
  }
};

namespace {

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

Worker::Worker(const Options& opt, const KeySpace& keys, const Encoder& enc, int id)
    : opt_(opt), keys_(keys), enc_(enc), id_(id), multi_(opt.mget > 1) {}

Worker::~Worker() {
  for (auto& c : conns_) {
    SSL_free(c->ssl);
    if (c->fd >= 0) close(c->fd);
  }
  SSL_CTX_free(tls_ctx_);
  if (epfd_ >= 0) close(epfd_);
}

// A blocking handshake right after connect, then the socket goes non-blocking like the
// plain ones (their send/recv pass MSG_DONTWAIT). Partial writes: SSL_write returns per
// record, and a retry presents the same unsent bytes, which sbuf keeps anyway.
bool Worker::StartTls(Conn& c, std::string* err) {
  if (!tls_ctx_) {
    tls_ctx_ = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx_) return *err = "SSL_CTX_new failed", false;
    SSL_CTX_set_mode(tls_ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(tls_ctx_, SSL_VERIFY_NONE, nullptr);
  }
  c.ssl = SSL_new(tls_ctx_);
  if (!c.ssl || !SSL_set_fd(c.ssl, c.fd) || SSL_connect(c.ssl) != 1) {
    char buf[256] = "TLS handshake failed";
    if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, buf, sizeof buf);
    *err = buf;
    return false;
  }
  fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
  return true;
}

ssize_t Worker::Send(Conn& c, const char* p, size_t n) {
  if (!c.ssl) return send(c.fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  int r = SSL_write(c.ssl, p, static_cast<int>(n));
  if (r > 0) return r;
  int e = SSL_get_error(c.ssl, r);
  errno = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? EAGAIN : EPIPE;
  ERR_clear_error();
  return -1;
}

// TLS: reads on while OpenSSL holds decrypted bytes (epoll cannot see those).
ssize_t Worker::Recv(Conn& c, char* p, size_t n) {
  if (!c.ssl) return recv(c.fd, p, n, MSG_DONTWAIT);
  size_t got = 0;
  while (got < n) {
    int r = SSL_read(c.ssl, p + got, static_cast<int>(n - got));
    if (r > 0) {
      got += static_cast<size_t>(r);
      continue;
    }
    int e = SSL_get_error(c.ssl, r);
    ERR_clear_error();
    if (got > 0) break;
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : ECONNRESET;
    return -1;
  }
  return static_cast<ssize_t>(got);
}

bool Worker::Connect(std::string* err) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) {
    *err = std::string("epoll_create1: ") + std::strerror(errno);
    return false;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* ai = nullptr;
  std::string port = std::to_string(opt_.port);
  if (int rc = getaddrinfo(opt_.host.c_str(), port.c_str(), &hints, &ai); rc != 0) {
    *err = "resolve " + opt_.host + ": " + gai_strerror(rc);
    return false;
  }
  const size_t max_req = enc_.MaxRequestSize(opt_.mget);
  const size_t reply = static_cast<size_t>(opt_.mget) * (opt_.value_size + keys_.key_len() + 48);
  const size_t rcap =
      std::clamp<size_t>(static_cast<size_t>(opt_.depth) * reply, 16 << 10, 256 << 10);
  bool ok = true;
  for (int i = id_; i < opt_.conns && ok; i += opt_.threads) {
    auto c = std::make_unique<Conn>(opt_, keys_, enc_, multi_);
    c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      *err = "connect " + opt_.host + ":" + port + ": " + std::strerror(errno);
      ok = false;
      break;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (opt_.tls && !StartTls(*c, err)) {
      *err = "TLS to " + opt_.host + ":" + port + ": " + *err;
      ok = false;
      break;
    }
    c->alive = true;
    ++alive_;
    c->rcap = rcap;
    c->rbuf = std::make_unique<char[]>(rcap);
    c->scap = max_req * (static_cast<size_t>(opt_.depth) + 1);
    c->sbuf = std::make_unique<char[]>(c->scap);
    c->ring.resize(static_cast<size_t>(opt_.depth));
    c->ring_keys.resize(static_cast<size_t>(opt_.depth) * static_cast<size_t>(opt_.mget));
    c->rng = SplitMix(opt_.seed * 1000003 + static_cast<uint64_t>(i)) | 1;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = c.get();
    epoll_ctl(epfd_, EPOLL_CTL_ADD, c->fd, &ev);
    conns_.push_back(std::move(c));
  }
  freeaddrinfo(ai);
  return ok;
}

bool Worker::NextRequest(Conn& c, Op* op, uint32_t* keys, int* n) {
  if (stop_issuing_) return false;
  if (phase_ != Phase::kMeasure) {
    if (cursor_ >= cursor_end_) {
      stop_issuing_ = true;
      return false;
    }
    *op = phase_ == Phase::kPreload ? Op::kSet : Op::kGet;
    *n = *op == Op::kSet ? 1
                         : static_cast<int>(std::min<uint32_t>(static_cast<uint32_t>(opt_.mget),
                                                               cursor_end_ - cursor_));
    for (int i = 0; i < *n; ++i) keys[i] = cursor_++;
    return true;
  }
  if (now_ >= deadline_ || (opt_.requests > 0 && issued_ >= quota_)) {
    stop_issuing_ = true;
    return false;
  }
  const uint64_t count = keys_.count();
  uint64_t r = c.Random();
  bool get = static_cast<uint32_t>(r) % (opt_.get_weight + opt_.set_weight) < opt_.get_weight;
  *op = get ? Op::kGet : Op::kSet;
  *n = get ? opt_.mget : 1;
  for (int i = 0; i < *n; ++i) {
    if (i > 0) r = c.Random();
    keys[i] = static_cast<uint32_t>(((r >> 32) * count) >> 32);
  }
  return true;
}

void Worker::Fill(Conn& c) {
  const size_t depth = c.ring.size();
  const size_t max_req = c.scap / (depth + 1);
  while (c.alive && c.count < depth) {
    if (c.spos == c.slen) {
      c.spos = c.slen = 0;
    } else if (c.scap - c.slen < max_req) {
      std::memmove(c.sbuf.get(), c.sbuf.get() + c.spos, c.slen - c.spos);
      c.slen -= c.spos;
      c.spos = 0;
    }
    const size_t tail = (c.head + c.count) % depth;
    uint32_t* keys = &c.ring_keys[tail * static_cast<size_t>(opt_.mget)];
    Op op;
    int n;
    if (!NextRequest(c, &op, keys, &n)) return;
    char* out = c.sbuf.get() + c.slen;
    c.slen += op == Op::kGet ? enc_.EncodeGet(keys, n, out) : enc_.EncodeSet(keys[0], out);
    c.ring[tail] = Conn::Pending{op, static_cast<uint16_t>(n), now_};
    ++c.count;
    ++in_flight_;
    ++issued_;
  }
}

void Worker::SetWantOut(Conn& c, bool want) {
  if (c.want_out == want) return;
  c.want_out = want;
  epoll_event ev{};
  ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
  ev.data.ptr = &c;
  epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
}

void Worker::Flush(Conn& c) {
  if (!c.alive) return;
  if (c.spos < c.slen) {
    ssize_t n = Send(c, c.sbuf.get() + c.spos, c.slen - c.spos);
    if (n > 0) {
      c.spos += static_cast<size_t>(n);
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      Drop(c, &Tally::conn_errors, std::strerror(errno));
      return;
    }
  }
  SetWantOut(c, c.spos < c.slen);
}

void Worker::OnReadable(Conn& c) {
  ssize_t n = Recv(c, c.rbuf.get() + c.rlen, c.rcap - c.rlen);
  if (n == 0) {
    Drop(c, &Tally::conn_errors, "connection closed by server");
    return;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      Drop(c, &Tally::conn_errors, std::strerror(errno));
    }
    return;
  }
  now_ = NowNs();
  c.rlen += static_cast<size_t>(n);
  size_t pos = 0;
  while (c.count > 0) {
    const Conn::Pending& p = c.ring[c.head];
    Expect e{p.op, p.nkeys, &c.ring_keys[c.head * static_cast<size_t>(opt_.mget)]};
    Outcome o;
    size_t used = 0;
    ResponseParser::Step s = c.parser.Parse(e, c.rbuf.get() + pos, c.rlen - pos, &used, &o);
    pos += used;
    if (s == ResponseParser::Step::kDesync) {
      Drop(c, &Tally::desyncs, c.parser.error());
      return;
    }
    if (s == ResponseParser::Step::kNeedMore) break;
    Complete(c, o);
  }
  if (c.count == 0 && pos < c.rlen) {
    Drop(c, &Tally::desyncs, "reply bytes with no request in flight");
    return;
  }
  c.rlen -= pos;
  if (c.rlen > 0 && pos > 0) std::memmove(c.rbuf.get(), c.rbuf.get() + pos, c.rlen);
  if (c.rlen == c.rcap) {  // cannot happen: lines and headers are far below rcap
    Drop(c, &Tally::desyncs, "reply line larger than the receive buffer");
    return;
  }
  Fill(c);
  Flush(c);
  // A record bigger than the room left: the rest is decrypted already, no epoll event.
  if (c.ssl && c.alive && SSL_pending(c.ssl) > 0) OnReadable(c);
}

void Worker::Complete(Conn& c, const Outcome& o) {
  const Conn::Pending& p = c.ring[c.head];
  Tally& t = *t_;
  ++t.ops;
  if (p.op == Op::kGet) {
    ++t.gets;
    t.keys += p.nkeys;
  } else {
    ++t.sets;
  }
  t.hits += o.hits;
  t.misses += o.misses;
  t.error_replies += o.error_replies;
  t.bad_values += o.bad_values;
  if (now_ < deadline_) {
    ++t.ops_in_window;
    t.latency.Record(static_cast<uint64_t>(now_ - p.start_ns));
  }
  c.head = c.head + 1 == c.ring.size() ? 0 : c.head + 1;
  --c.count;
  --in_flight_;
  last_progress_ = now_;
}

void Worker::Drop(Conn& c, uint64_t Tally::*counter, const char* why) {
  if (!c.alive) return;
  ++(t_->*counter);
  if (++drops_logged_ <= 3) {
    std::fprintf(stderr, "syncached-loadgen: dropping connection (%s)%s\n", why,
                 drops_logged_ == 3 ? "; not logging further drops of this thread" : "");
  }
  SSL_free(c.ssl);
  c.ssl = nullptr;
  close(c.fd);
  c.fd = -1;
  c.alive = false;
  --alive_;
  in_flight_ -= c.count;
  c.count = 0;
}

void Worker::Run(Phase phase) {
  phase_ = phase;
  t_ = &tallies_[static_cast<int>(phase)];
  now_ = NowNs();
  t_->start_ns = now_;
  t_->end_ns = t_->window_end_ns = now_;
  if (failed_) return;
  stop_issuing_ = false;
  issued_ = 0;
  deadline_ = std::numeric_limits<int64_t>::max();
  const uint64_t nkeys = keys_.count();
  cursor_ = static_cast<uint32_t>(nkeys * static_cast<uint64_t>(id_) / opt_.threads);
  cursor_end_ = static_cast<uint32_t>(nkeys * static_cast<uint64_t>(id_ + 1) / opt_.threads);
  if (phase == Phase::kMeasure) {
    if (opt_.requests > 0) {
      quota_ = opt_.requests / opt_.threads +
               (static_cast<uint64_t>(id_) < opt_.requests % opt_.threads ? 1 : 0);
    } else {
      deadline_ = now_ + static_cast<int64_t>(opt_.duration * 1e9);
    }
  }
  for (auto& c : conns_) {
    Fill(*c);
    Flush(*c);
  }
  last_progress_ = now_;
  const int64_t stall_ns = static_cast<int64_t>(opt_.stall_timeout * 1e9);
  epoll_event evs[256];
  while (!(stop_issuing_ && in_flight_ == 0)) {
    if (alive_ == 0) {
      failed_ = true;
      break;
    }
    int timeout_ms = 100;
    if (!stop_issuing_ && deadline_ != std::numeric_limits<int64_t>::max()) {
      timeout_ms = static_cast<int>(std::clamp<int64_t>((deadline_ - now_) / 1000000 + 1, 0, 100));
    }
    int n = epoll_wait(epfd_, evs, 256, timeout_ms);
    now_ = NowNs();
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Conn*>(evs[i].data.ptr);
      if (c->alive && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) OnReadable(*c);
      if (c->alive && (evs[i].events & EPOLLOUT)) Flush(*c);
    }
    if (!stop_issuing_ && now_ >= deadline_) stop_issuing_ = true;
    if (in_flight_ > 0 && now_ - last_progress_ > stall_ns) {
      ++t_->timeouts;
      std::fprintf(stderr, "syncached-loadgen: no reply for %.1f s with %llu requests in flight\n",
                   opt_.stall_timeout, static_cast<unsigned long long>(in_flight_));
      for (auto& c : conns_) {
        if (c->alive) {
          close(c->fd);
          c->fd = -1;
          c->alive = false;
          c->count = 0;
          --alive_;
        }
      }
      in_flight_ = 0;
      failed_ = true;
      break;
    }
  }
  t_->end_ns = now_;
  t_->window_end_ns = std::min(now_, deadline_);
}

}  // namespace syncached::bench
