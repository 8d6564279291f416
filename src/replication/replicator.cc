#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>  // explicit_bzero
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <random>

#include "common/log.h"
#include "common/wipe.h"
#include "replication/impl.h"

namespace syncached::replication {

uint64_t NowMillis() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

namespace {
constexpr int kSendHwm = 64;  // messages (~256 KB each) queued per peer at most
constexpr int kRecvHwm = 256;
constexpr int kMcastSocketBuffer = 4 << 20;

void SetInt(void* sock, int opt, int v) { zmq_setsockopt(sock, opt, &v, sizeof v); }

std::string Endpoint(const std::string& host, uint16_t port) {
  std::string h = host;
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";
  return "tcp://" + h + ":" + std::to_string(port);
}

// "host:port" or "[v6]:port" of a peer's replication listener.
bool PeerEndpoint(const std::string& peer, std::string* endpoint) {
  size_t colon = peer.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string host = peer.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  *endpoint = Endpoint(host, static_cast<uint16_t>(std::stoi(peer.substr(colon + 1))));
  return true;
}

}  // namespace

Replicator::Replicator(const Options& options, storage::Store* store)
    : impl_(std::make_unique<Impl>(options, store)) {}

Replicator::~Replicator() { Stop(); }

Status Replicator::Start() {
  Impl& m = *impl_;
  if (m.opts.node_id == 0) return Status::Invalid("--node-id: required with --peers (1..65535)");
  if (m.opts.sync_replicas != kSyncAllPeers && m.opts.sync_replicas > m.opts.peers.size()) {
    return Status::Invalid("--sync-replicas: more than the " + std::to_string(m.opts.peers.size()) +
                           " peer(s) given with --peers");
  }
  // Before anything binds: frames are sealed with the secret, and one stream for all.
  if (!m.opts.multicast_endpoint.empty()) {
    if (m.opts.secret.empty()) {
      return Status::Invalid("--multicast: needs --cluster-secret-file (frames are sealed)");
    }
    if (m.opts.owners) {
      return Status::Invalid("--multicast: full replication only (not with --replication-factor)");
    }
  }
  for (const std::string& peer : m.opts.peers) {
    std::string endpoint;
    if (!PeerEndpoint(peer, &endpoint)) {
      return Status::Invalid("--peers: expected host:port, got '" + peer + "'");
    }
    m.link_endpoints.push_back(endpoint);
  }
  m.ctx = zmq_ctx_new();
  m.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  // Kept for the links' sockets, which are opened again on reconnects; libzmq holds
  // its own copies for their lifetime anyway. Wiped at Stop.
  CurveKeys& keys = m.keys;
  bool curve = m.curve = !m.opts.secret.empty();
  if (curve) {
    bool derived = DeriveKeys(m.opts.secret, m.opts.cluster_name, &keys);
    if (!m.opts.multicast_endpoint.empty()) {
      m.opts.multicast_secret = DeriveMulticastSecret(m.opts.secret, m.opts.cluster_name);
      derived = derived && !m.opts.multicast_secret.empty();
    }
    // The same derivation: lane and multicast keys differ by their domain (sealed.h).
    m.opts.lane_secret = DeriveMulticastSecret(m.opts.secret, m.opts.cluster_name);
    derived = derived && !m.opts.lane_secret.empty();
    WipeString(&m.opts.secret);  // not needed again: the keys are what the links use
    if (!derived) return Status::Invalid("--cluster-secret-file: cannot derive keys (libsodium)");
    m.zap_thread = std::thread(RunZapHandler, m.ctx,
                               std::string(reinterpret_cast<const char*>(keys.public_key), 32),
                               &m.stop, &m.auth_failures);
  } else {
    SC_LOG(kWarn,
           "replication: no --cluster-secret-file: peer links are unauthenticated and "
           "unencrypted");
  }
  m.router = zmq_socket(m.ctx, ZMQ_ROUTER);
  SetInt(m.router, ZMQ_LINGER, 0);
  SetInt(m.router, ZMQ_ROUTER_MANDATORY, 1);
  SetInt(m.router, ZMQ_SNDHWM, kSendHwm);
  SetInt(m.router, ZMQ_RCVHWM, kRecvHwm);
  SetInt(m.router, ZMQ_HANDSHAKE_IVL, 5000);
  if (curve) {
    SetInt(m.router, ZMQ_CURVE_SERVER, 1);
    zmq_setsockopt(m.router, ZMQ_CURVE_SECRETKEY, keys.secret_key, 32);
    zmq_setsockopt(m.router, ZMQ_ZAP_DOMAIN, "syncached", 9);
  }
  // The socket monitor counts failed handshakes (wrong secret), and tells when a
  // subscriber's connection closes (a killed peer: --sync-replicas stops waiting for it).
  zmq_socket_monitor(m.router, "inproc://syncached.repl.monitor",
                     ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                         ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                         ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
  m.monitor = zmq_socket(m.ctx, ZMQ_PAIR);
  zmq_connect(m.monitor, "inproc://syncached.repl.monitor");
  std::vector<std::string> hosts =
      m.opts.listen.empty() ? std::vector<std::string>{"*"} : m.opts.listen;
  for (const std::string& h : hosts) {
    std::string ep = Endpoint(h, m.opts.port);
    if (zmq_bind(m.router, ep.c_str()) != 0) {
      return Status::Io("--replication-port: cannot bind " + ep + ": " + zmq_strerror(zmq_errno()));
    }
  }
  if (!m.opts.multicast_endpoint.empty()) {
    Status ms = m.OpenMulticast();
    if (!ms.ok()) return ms;
  }
  m.link_sockets.assign(m.link_endpoints.size(), nullptr);
  for (size_t i = 0; i < m.link_endpoints.size(); ++i) {
    if (!m.OpenLink(i)) {
      return Status::Invalid("--peers: cannot connect to " + m.link_endpoints[i] + ": " +
                             zmq_strerror(zmq_errno()));
    }
  }
  // The epoch names this run of the publisher: a subscriber that saw another epoch
  // cannot trust our sequence numbers and takes a copy.
  std::random_device rd;
  uint64_t now = NowMillis();
  m.core = std::make_unique<Core>(m.opts, m.store, &m, (now << 16) ^ (uint64_t{rd()} & 0xffff),
                                  SteadyMillis());
  if (m.ack_listener) m.core->SetAckListener(std::move(m.ack_listener));
  {
    MutexLock lock(m.mu);
    m.all_synced = false;
  }
  m.thread = std::thread([&m] { m.Run(); });
  SC_LOG(kInfo, "replication: node %u listening on port %u, %zu peer(s)", m.opts.node_id,
         m.opts.port, m.opts.peers.size());
  return Status::Ok();
}

// The group, both ways: PGM's defaults suit 10 Mbit/s links (ZMQ_RATE 100 kbit/s), so
// rate and recovery interval are set on both sockets; hops bound how far frames go.
Status Replicator::Impl::OpenMulticast() {
  const std::string& ep = opts.multicast_endpoint;
  mcast_pub = zmq_socket(ctx, ZMQ_PUB);
  mcast_sub = zmq_socket(ctx, ZMQ_SUB);
  for (void* sock : {mcast_pub, mcast_sub}) {
    SetInt(sock, ZMQ_LINGER, 0);
    SetInt(sock, ZMQ_RATE, static_cast<int>(opts.multicast_rate_kbps));
    SetInt(sock, ZMQ_RECOVERY_IVL, static_cast<int>(opts.multicast_recovery_ms));
    SetInt(sock, ZMQ_MULTICAST_HOPS, static_cast<int>(opts.multicast_hops));
    SetInt(sock, ZMQ_MULTICAST_MAXTPDU, static_cast<int>(opts.multicast_mtu));
  }
  SetInt(mcast_pub, ZMQ_SNDHWM, kSendHwm);
  SetInt(mcast_sub, ZMQ_RCVHWM, kRecvHwm);
  // A burst of batches must not overflow the receiver's socket before the thread reads
  // it (each loss costs PGM a NAK and a resend, or us a STREAM_REPAIR); the kernel caps
  // this at net.core.rmem_max.
  SetInt(mcast_sub, ZMQ_RCVBUF, kMcastSocketBuffer);
  SetInt(mcast_pub, ZMQ_SNDBUF, kMcastSocketBuffer);
  zmq_setsockopt(mcast_sub, ZMQ_SUBSCRIBE, "", 0);
  if (zmq_connect(mcast_pub, ep.c_str()) != 0 || zmq_connect(mcast_sub, ep.c_str()) != 0) {
    return Status::Invalid("--multicast: cannot open " + ep + ": " + zmq_strerror(zmq_errno()));
  }
  SC_LOG(kInfo, "replication: multicast on %s (%u kbit/s, recovery %u ms, %u hop(s), MTU %u)",
         ep.c_str(), opts.multicast_rate_kbps, opts.multicast_recovery_ms, opts.multicast_hops,
         opts.multicast_mtu);
  return Status::Ok();
}

// Best effort: a frame the PUB cannot take now is lost like one PGM drops, and repaired
// the same way.
void Replicator::Impl::Multicast(const std::string& frame) {
  if (mcast_pub) zmq_send(mcast_pub, frame.data(), frame.size(), ZMQ_DONTWAIT);
}

void Replicator::Impl::ServeMulticast() {
  for (int i = 0; i < 256; ++i) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, mcast_sub, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&m);
      return;
    }
    core->OnMulticastFrame(std::string_view(static_cast<char*>(zmq_msg_data(&m)), zmq_msg_size(&m)),
                           SteadyMillis());
    zmq_msg_close(&m);
  }
}

// A DEALER connected to the link's peer (a fresh one on each call: messages still in an
// old socket's pipes must not reach the peer's new run under an identity about to die).
bool Replicator::Impl::OpenLink(size_t i) {
  void*& sock = link_sockets[i];
  if (sock) zmq_close(sock);
  sock = zmq_socket(ctx, ZMQ_DEALER);
  SetInt(sock, ZMQ_LINGER, 0);
  SetInt(sock, ZMQ_IMMEDIATE, 1);
  SetInt(sock, ZMQ_SNDHWM, 16);
  SetInt(sock, ZMQ_RCVHWM, kRecvHwm);
  SetInt(sock, ZMQ_RECONNECT_IVL, 100);
  SetInt(sock, ZMQ_RECONNECT_IVL_MAX, 2000);
  if (curve) {
    zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, keys.public_key, 32);
    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, keys.public_key, 32);
    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, keys.secret_key, 32);
  }
  return zmq_connect(sock, link_endpoints[i].c_str()) == 0;
}

// With ZMQ_ROUTER_MANDATORY a full pipe answers EAGAIN (the peer is slow) and a vanished
// peer EHOSTUNREACH.
Transport::Sent Replicator::Impl::ToSubscriber(const std::string& identity,
                                               const std::string& msg) {
  if (zmq_send(router, identity.data(), identity.size(), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
    return zmq_errno() == EHOSTUNREACH ? Sent::kGone : Sent::kFull;
  }
  // The identity frame is in: the body goes with it (same pipe, never EAGAIN now).
  zmq_send(router, msg.data(), msg.size(), 0);
  return Sent::kOk;
}

void Replicator::Impl::ToPublisher(size_t link, const std::string& msg) {
  zmq_send(link_sockets[link], msg.data(), msg.size(), ZMQ_DONTWAIT);  // ZMQ_IMMEDIATE
}

void Replicator::Impl::Reconnect(size_t link) { OpenLink(link); }

void Replicator::Impl::AddLink(size_t link, const std::string& address) {
  std::string endpoint;
  if (link != link_endpoints.size() || !PeerEndpoint(address, &endpoint)) {
    SC_LOG(kError, "replication: cannot link to '%s'", address.c_str());
    endpoint = "tcp://127.0.0.1:0";  // a link that never answers keeps the indexes aligned
  }
  link_endpoints.push_back(endpoint);
  link_sockets.push_back(nullptr);
  OpenLink(link);
}

void Replicator::Stop() {
  Impl& m = *impl_;
  WipeString(&m.opts.secret);  // if Start returned before deriving the keys
  if (m.stop.exchange(true)) return;
  if (m.wake_fd >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(m.wake_fd, &one, sizeof one);
  }
  if (m.thread.joinable()) m.thread.join();
  if (m.zap_thread.joinable()) m.zap_thread.join();
  explicit_bzero(&m.keys, sizeof m.keys);
  for (void* sock : m.link_sockets) {
    if (sock) zmq_close(sock);
  }
  m.link_sockets.clear();
  if (m.router) zmq_close(m.router);
  if (m.monitor) zmq_close(m.monitor);
  if (m.mcast_pub) zmq_close(m.mcast_pub);
  if (m.mcast_sub) zmq_close(m.mcast_sub);
  if (m.ctx) zmq_ctx_term(m.ctx);
  if (m.wake_fd >= 0) close(m.wake_fd);
  m.router = m.monitor = m.ctx = m.mcast_pub = m.mcast_sub = nullptr;
  m.wake_fd = -1;
  {
    MutexLock lock(m.mu);
    m.all_synced = true;  // release any waiter
  }
  m.cv.NotifyAll();
}

namespace {
// A thread that waits for its changes' acknowledgements (BeginSyncWait) wakes the
// replication thread once at the end of its turn (FlushSyncWaits), after the sync lane
// sent them, not at its first change: a wake in mid-turn takes the worker's core when
// the worker is about to send. wake_owed: it began a wait, or deferred a change's wake.
struct SyncThread {
  const Replicator* owner = nullptr;
  bool wake_owed = false;
};
thread_local SyncThread tl_sync;
}  // namespace

void Replicator::OnChange(const record::ChangeView& change) {
  Impl& m = *impl_;
  if (!m.core || !m.core->OnChange(change)) return;
  if (tl_sync.owner == this) {
    tl_sync.wake_owed = true;
    return;
  }
  // Only a sleeping replication thread needs the eventfd: while it is busy it polls
  // every millisecond, and a write per change would double a writer's syscalls.
  // (Dekker-style: Core publishes `nonempty` then we read `sleeping`; the thread
  // publishes `sleeping` then reads `nonempty`, both seq_cst, so one of us sees the
  // other.) A worker that will wait for this change (--sync-replicas) wakes it itself.
  if (m.sleeping.load(std::memory_order_seq_cst)) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(m.wake_fd, &one, sizeof one);
  }
}

uint64_t Replicator::BeginSyncWait() {
  Impl& m = *impl_;
  uint64_t t = m.core ? m.core->BeginSyncWait() : 0;
  if (m.opts.sync_replicas > 0) {  // this thread flushes from now on
    if (tl_sync.owner != this) tl_sync = {this, false};
    tl_sync.wake_owed |= t != 0;
  }
  return t;
}

void Replicator::FlushSyncWaits(bool lane_sent) {
  if (tl_sync.owner != this || !tl_sync.wake_owed) return;
  tl_sync.wake_owed = false;
  // The lane carries them to the peers now: an awake thread's next short poll takes them
  // for the stream, in one batch with the other workers' (fewer wakes on both nodes).
  if (lane_sent && !impl_->sleeping.load(std::memory_order_seq_cst)) return;
  // No millisecond of the thread's busy polling to lose: clients are waiting.
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(impl_->wake_fd, &one, sizeof one);
}

bool Replicator::IsAcked(uint64_t ticket) const {
  return !impl_->core || impl_->core->IsAcked(ticket);
}

void Replicator::EndSyncWait(uint64_t waited_us, bool timed_out) {
  if (impl_->core) impl_->core->EndSyncWait(waited_us, timed_out);
}

void Replicator::SetAckListener(std::function<void(uint64_t)> fn) {
  impl_->ack_listener = std::move(fn);
}

void Replicator::Impl::ServeMonitor() {
  for (;;) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, monitor, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&m);
      return;
    }
    bool first = zmq_msg_size(&m) >= 6;
    uint16_t event = 0;
    int32_t value = -1;
    if (first) {
      memcpy(&event, zmq_msg_data(&m), 2);
      memcpy(&value, static_cast<char*>(zmq_msg_data(&m)) + 2, 4);
    }
    bool more = zmq_msg_more(&m);
    zmq_msg_close(&m);
    std::string address;
    if (more) {
      zmq_msg_init(&m);
      zmq_msg_recv(&m, monitor, 0);
      address.assign(static_cast<char*>(zmq_msg_data(&m)), zmq_msg_size(&m));
      zmq_msg_close(&m);
    }
    if (event == ZMQ_EVENT_DISCONNECTED) {
      if (core) core->ConnectionClosed();
    } else if (event == ZMQ_EVENT_ACCEPTED && value >= 0) {
      // The event names our listener; the accepted socket tells who connected. A
      // failed handshake follows its accept, so it is reported against that peer.
      sockaddr_storage sa{};
      socklen_t len = sizeof sa;
      char host[INET6_ADDRSTRLEN] = "";
      if (getpeername(value, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
        if (sa.ss_family == AF_INET) {
          auto* in = reinterpret_cast<sockaddr_in*>(&sa);
          inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        } else if (sa.ss_family == AF_INET6) {
          auto* in6 = reinterpret_cast<sockaddr_in6*>(&sa);
          inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        }
      }
      if (host[0]) last_accepted_peer = host;
    } else if (event & (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                        ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)) {
      ++auth_failures;
      // A refused peer retries every second or two: log the first refusal per host,
      // then at most once a minute with the count in between.
      std::string who = last_accepted_peer.empty() ? "on " + address : last_accepted_peer;
      uint64_t now = NowMillis();
      auto& [last_log, suppressed] = refusal_log[who];
      if (last_log == 0 || now - last_log >= 60000) {
        std::string since = suppressed ? " [" + std::to_string(suppressed) + " more since]" : "";
        SC_LOG(kWarn,
               "replication: refused peer %s: CURVE handshake failed (another cluster "
               "secret or name?)%s",
               who.c_str(), since.c_str());
        last_log = now;
        suppressed = 0;
      } else {
        ++suppressed;
      }
    }
  }
}

void Replicator::Impl::Run() {
  uint64_t last_stats = 0;
  uint64_t last_change_ms = 0;
  bool busy = false;
  std::vector<zmq_pollitem_t> items;
  while (!stop) {
    items.clear();
    items.push_back({router, 0, ZMQ_POLLIN, 0});
    items.push_back({nullptr, wake_fd, ZMQ_POLLIN, 0});
    if (monitor) items.push_back({monitor, 0, ZMQ_POLLIN, 0});
    if (mcast_sub) items.push_back({mcast_sub, 0, ZMQ_POLLIN, 0});
    size_t first_link = items.size();
    for (void* sock : link_sockets) items.push_back({sock, 0, ZMQ_POLLIN, 0});
    // Short polls while changes flow (workers then skip the eventfd); a long sleep
    // only after a quiet spell, announced before the last look at the queue.
    bool quiet = SteadyMillis() - last_change_ms > 20;
    int timeout = core->active_poll_ms(busy);
    if (quiet && !busy) {
      sleeping.store(true, std::memory_order_seq_cst);
      timeout = core->pending_nonempty() ? 0 : 50;
    }
    zmq_poll(items.data(), static_cast<int>(items.size()), timeout);
    sleeping.store(false, std::memory_order_seq_cst);
    if (core->pending_nonempty()) last_change_ms = SteadyMillis();
    if (stop) break;
    if (items[1].revents & ZMQ_POLLIN) {
      uint64_t v;
      [[maybe_unused]] ssize_t n = read(wake_fd, &v, sizeof v);
    }
    ServeRouter();
    if (monitor) ServeMonitor();
    if (mcast_sub) ServeMulticast();
    for (size_t i = 0; i < link_sockets.size(); ++i) {
      if (items[first_link + i].revents & ZMQ_POLLIN) ServeLink(i);
    }
    uint64_t now = SteadyMillis();
    std::unique_ptr<Membership> membership;
    {
      MutexLock lock(mu);
      membership = std::move(next_membership);
    }
    if (membership) core->SetMembership(*membership);
    busy = core->Step(now);
    // Epoch last: a reader that sees this epoch sees readiness of this epoch.
    handover_ready.store(core->handover_ready(), std::memory_order_relaxed);
    all_ready.store(core->AllReady(), std::memory_order_relaxed);
    members_epoch.store(core->members_epoch(), std::memory_order_release);
    // Stats at once when a link or session changed state (monitoring and tests poll
    // for it), else a few times a second for the counters.
    bool stats_now = Elapsed(now, last_stats) >= 250 || core->StatsSignature() != stats_signature;
    if (stats_now) last_stats = now;
    Publish(now, stats_now);
  }
  FlushOnStop();
}

// The join gate and the stats, for the other threads.
void Replicator::Impl::Publish(uint64_t now, bool stats_now) {
  std::string text;
  if (stats_now) {
    stats_signature = core->StatsSignature();
    text = core->RenderStats(curve ? "curve" : "none", auth_failures.load());
  }
  bool open = core->gate_open(), any = core->any_synced();
  {
    MutexLock lock(mu);
    if (stats_now) {
      stats_text = std::move(text);
      stat_refused = core->refused_hellos();
    }
    if (open == all_synced && any == any_welcomed) return;
    all_synced = open;
    any_welcomed = any;
  }
  cv.NotifyAll();
}

void Replicator::Impl::ServeRouter() {
  for (int i = 0; i < 256; ++i) {
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    if (zmq_msg_recv(&id, router, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&id);
      return;
    }
    std::string identity(static_cast<char*>(zmq_msg_data(&id)), zmq_msg_size(&id));
    bool more = zmq_msg_more(&id);
    zmq_msg_close(&id);
    if (!more) continue;
    zmq_msg_init(&body);
    zmq_msg_recv(&body, router, 0);
    std::string_view msg(static_cast<char*>(zmq_msg_data(&body)), zmq_msg_size(&body));
    core->OnSubscriberMessage(identity, msg, SteadyMillis());
    // Drop any further frames: our protocol has exactly two.
    while (zmq_msg_more(&body)) {
      zmq_msg_close(&body);
      zmq_msg_init(&body);
      zmq_msg_recv(&body, router, 0);
    }
    zmq_msg_close(&body);
  }
}

void Replicator::Impl::ServeLink(size_t link) {
  for (int i = 0; i < 64; ++i) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    // The core may reopen the socket while handling a message (Reconnect).
    if (zmq_msg_recv(&m, link_sockets[link], ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&m);
      return;
    }
    std::string_view msg(static_cast<char*>(zmq_msg_data(&m)), zmq_msg_size(&m));
    core->OnPublisherMessage(link, msg, SteadyMillis());
    zmq_msg_close(&m);
  }
}

// SIGTERM drains: every change acknowledged to a client before the stop reaches the
// peers that are following us (bounded: a stuck peer gets a full copy later anyway).
// "Reaches" means the peer ACKed it, not that ZeroMQ took it: bytes still in our
// kernel send buffer are discarded if the socket closes with unread input (an RST),
// and a peer's ACK may be just that input.
void Replicator::Impl::FlushOnStop() {
  uint64_t deadline = SteadyMillis() + 2000;
  for (;;) {
    uint64_t now = SteadyMillis();
    core->Drain(now);
    ServeRouter();  // their ACKs (and HELLOs)
    if (core->Drained() || now >= deadline) break;
    zmq_pollitem_t item{router, 0, ZMQ_POLLIN, 0};
    zmq_poll(&item, 1, 5);
  }
  // Let ZeroMQ's I/O thread put what we queued on the wire before the sockets close.
  int linger = static_cast<int>(
      std::max<int64_t>(0, static_cast<int64_t>(deadline) - static_cast<int64_t>(SteadyMillis())));
  zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger);
}

bool Replicator::WaitInitialSync() {
  Impl& m = *impl_;
  if (m.opts.peers.empty()) return true;
  MutexLock lock(m.mu);
  for (;;) {
    if (m.all_synced) {
      if (m.any_welcomed) return true;
      SC_LOG(kWarn, "replication: no peer answered within %u ms; serving alone",
             m.opts.join_timeout_ms);
      return false;
    }
    m.cv.WaitFor(m.mu, std::chrono::milliseconds(100));
  }
}

void Replicator::SetMembership(const Membership& m) {
  {
    MutexLock lock(impl_->mu);
    impl_->next_membership = std::make_unique<Membership>(m);
  }
  uint64_t one = 1;
  if (impl_->wake_fd >= 0) [[maybe_unused]]
    ssize_t n = write(impl_->wake_fd, &one, sizeof one);
}

// Of `epoch` only: until the thread took a change, its readiness is the old epoch's.
bool Replicator::handover_ready(uint64_t epoch) const {
  return impl_->members_epoch.load(std::memory_order_acquire) == epoch &&
         impl_->handover_ready.load(std::memory_order_relaxed);
}

bool Replicator::all_ready(uint64_t epoch) const {
  return impl_->members_epoch.load(std::memory_order_acquire) == epoch &&
         impl_->all_ready.load(std::memory_order_relaxed);
}

bool Replicator::RequestRepair() {
  if (!impl_->core || !impl_->opts.repair) return false;
  impl_->core->RequestRepair();  // the thread looks at least every 50 ms
  return true;
}

void Replicator::AppendStats(std::string* out) const {
  MutexLock lock(impl_->mu);
  out->append(impl_->stats_text);
  out->append("STAT refused_peers ");
  out->append(std::to_string(impl_->stat_refused));
  out->append("\r\n");
  if (SyncLane* lane = impl_->lane()) {
    auto stat = [out](const char* name, const std::atomic<uint64_t>& v) {
      out->append("STAT ").append(name).append(" ");
      out->append(std::to_string(v.load(std::memory_order_relaxed))).append("\r\n");
    };
    stat("lane_applied", lane->applied);
    stat("lane_refused", lane->refused);
    stat("lane_deferred", lane->deferred);
    stat("lane_sent", lane->sent);
    stat("lane_answers", lane->answers);
    stat("lane_settled", lane->settled);
  }
}

// Core captures changes and publishes peers only with --sync-replicas: without it Take
// finds nothing and the peer list stays empty (version 0).
bool Replicator::TakeLaneBatch(LaneBatch* out) {
  SyncLane* lane = impl_->lane();
  return lane && lane->Take(out);
}

uint64_t Replicator::LanePeers(std::vector<LanePeer>* out, uint32_t* needed) const {
  SyncLane* lane = impl_->lane();
  return lane ? lane->Peers(out, needed) : 0;
}

uint64_t Replicator::lane_peers_version() const {
  SyncLane* lane = impl_->lane();
  return lane ? lane->peers_version() : 0;
}

void Replicator::ApplyLaneFrame(std::string_view frame, std::string* reply) {
  Impl& m = *impl_;
  SyncLane* lane = m.lane();
  thread_local std::string records;
  thread_local std::vector<record::ChangeView> changes;
  uint16_t node = 0;
  std::string token;
  if (!lane || !lane->Open(frame, &node, &records, &token) ||
      !DecodeLaneRecords(records, node, &changes)) {
    if (lane) lane->refused.fetch_add(1, std::memory_order_relaxed);
    reply->push_back('R');
    reply->append(kLaneTokenBytes, '\0');
    return;
  }
  if (!lane->Following(node)) {  // copying from it: its stream brings them (sync_lane.h)
    lane->deferred.fetch_add(1, std::memory_order_relaxed);
    reply->push_back('N');
    reply->append(kLaneTokenBytes, '\0');
    return;
  }
  for (const record::ChangeView& c : changes) {
    if (!m.opts.drop_prefix_for_tests.empty() && c.key.starts_with(m.opts.drop_prefix_for_tests))
        [[unlikely]] {
      continue;
    }
    m.store->Apply(c);
  }
  lane->applied.fetch_add(1, std::memory_order_relaxed);
  reply->push_back('A');
  reply->append(token);
}

void Replicator::CountLane(uint64_t sent, uint64_t answers, uint64_t settled) {
  SyncLane* lane = impl_->lane();
  if (!lane) return;
  lane->sent.fetch_add(sent, std::memory_order_relaxed);
  lane->answers.fetch_add(answers, std::memory_order_relaxed);
  lane->settled.fetch_add(settled, std::memory_order_relaxed);
}

}  // namespace syncached::replication
