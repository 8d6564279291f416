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
// A peer heard from this recently is expected to follow our stream: before we serve
// (for at most kFollowerWaitMs after our sync) and before a SIGTERM lets us exit.
constexpr uint64_t kFollowerGraceMs = 3000;
constexpr uint64_t kFollowerWaitMs = 2000;

void SetInt(void* sock, int opt, int v) { zmq_setsockopt(sock, opt, &v, sizeof v); }

std::string Endpoint(const std::string& host, uint16_t port) {
  std::string h = host;
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";
  return "tcp://" + h + ":" + std::to_string(port);
}

const char* PhaseName(Link::Phase p) {
  switch (p) {
    case Link::Phase::kConnecting:
      return "connecting";
    case Link::Phase::kFullCopy:
      return "full_copy";
    case Link::Phase::kCatchUp:
      return "catch_up";
    case Link::Phase::kStreaming:
      return "streaming";
    case Link::Phase::kRefused:
      return "refused";
  }
  return "unknown";
}
}  // namespace

Replicator::Replicator(const Options& options, storage::Store* store)
    : impl_(std::make_unique<Impl>(options, store)) {}

Replicator::~Replicator() { Stop(); }

Status Replicator::Start() {
  Impl& m = *impl_;
  if (m.opts.node_id == 0) return Status::Invalid("--node-id: required with --peers (1..65535)");
  if (m.opts.sync_replicas > m.opts.peers.size()) {
    return Status::Invalid("--sync-replicas: more than the " + std::to_string(m.opts.peers.size()) +
                           " peer(s) given with --peers");
  }
  // The epoch names this run of the publisher: a subscriber that saw another epoch
  // cannot trust our sequence numbers and takes a full copy.
  std::random_device rd;
  m.epoch = (NowMillis() << 16) ^ (uint64_t{rd()} & 0xffff);
  m.ctx = zmq_ctx_new();
  m.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  // Kept for the links' sockets, which are opened again on reconnects; libzmq holds
  // its own copies for their lifetime anyway. Wiped at Stop.
  CurveKeys& keys = m.keys;
  bool curve = m.curve = !m.opts.secret.empty();
  if (curve) {
    bool derived = DeriveKeys(m.opts.secret, m.opts.cluster_name, &keys);
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
    // Failed handshakes (wrong secret) are counted through the socket monitor.
    zmq_socket_monitor(m.router, "inproc://syncached.repl.monitor",
                       ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
    m.monitor = zmq_socket(m.ctx, ZMQ_PAIR);
    zmq_connect(m.monitor, "inproc://syncached.repl.monitor");
  }
  std::vector<std::string> hosts =
      m.opts.listen.empty() ? std::vector<std::string>{"*"} : m.opts.listen;
  for (const std::string& h : hosts) {
    std::string ep = Endpoint(h, m.opts.port);
    if (zmq_bind(m.router, ep.c_str()) != 0) {
      return Status::Io("--replication-port: cannot bind " + ep + ": " + zmq_strerror(zmq_errno()));
    }
  }
  for (const std::string& peer : m.opts.peers) {
    size_t colon = peer.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return Status::Invalid("--peers: expected host:port, got '" + peer + "'");
    }
    Link l;
    l.address = peer;
    std::string host = peer.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    l.endpoint = Endpoint(host, static_cast<uint16_t>(std::stoi(peer.substr(colon + 1))));
    if (!m.OpenLink(l)) {
      return Status::Invalid("--peers: cannot connect to " + l.endpoint + ": " +
                             zmq_strerror(zmq_errno()));
    }
    // Resume where the data on disk left this peer's stream: a catch-up from its
    // backlog if it is still there, a full copy otherwise.
    auto saved = m.opts.saved_positions.find("peer:" + peer);
    unsigned long long saved_epoch = 0, saved_seq = 0, saved_hlc = 0;
    if (saved != m.opts.saved_positions.end() &&
        sscanf(saved->second.c_str(), "%llu %llu %llu", &saved_epoch, &saved_seq, &saved_hlc) >=
            2) {
      l.epoch = saved_epoch;
      l.next_seq = saved_seq;
      l.stream_hlc = saved_hlc;
      l.phase = Link::Phase::kConnecting;
    }
    m.links.push_back(std::move(l));
  }
  m.started_ms = NowMillis();
  for (Link& l : m.links) l.connecting_since_ms = m.started_ms;
  {
    std::lock_guard lock(m.mu);
    m.all_synced = false;
  }
  m.thread = std::thread([&m] { m.Run(); });
  SC_LOG(kInfo, "replication: node %u listening on port %u, %zu peer(s)", m.opts.node_id,
         m.opts.port, m.opts.peers.size());
  return Status::Ok();
}

// A DEALER connected to the link's peer (a fresh one on each call: messages still in an
// old socket's pipes must not reach the peer's new run under an identity about to die).
bool Replicator::Impl::OpenLink(Link& l) {
  if (l.socket) zmq_close(l.socket);
  l.socket = zmq_socket(ctx, ZMQ_DEALER);
  SetInt(l.socket, ZMQ_LINGER, 0);
  SetInt(l.socket, ZMQ_IMMEDIATE, 1);
  SetInt(l.socket, ZMQ_SNDHWM, 16);
  SetInt(l.socket, ZMQ_RCVHWM, kRecvHwm);
  SetInt(l.socket, ZMQ_RECONNECT_IVL, 100);
  SetInt(l.socket, ZMQ_RECONNECT_IVL_MAX, 2000);
  if (curve) {
    zmq_setsockopt(l.socket, ZMQ_CURVE_SERVERKEY, keys.public_key, 32);
    zmq_setsockopt(l.socket, ZMQ_CURVE_PUBLICKEY, keys.public_key, 32);
    zmq_setsockopt(l.socket, ZMQ_CURVE_SECRETKEY, keys.secret_key, 32);
  }
  return zmq_connect(l.socket, l.endpoint.c_str()) == 0;
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
  for (Link& l : m.links) zmq_close(l.socket);
  m.links.clear();
  if (m.router) zmq_close(m.router);
  if (m.monitor) zmq_close(m.monitor);
  if (m.ctx) zmq_ctx_term(m.ctx);
  if (m.wake_fd >= 0) close(m.wake_fd);
  m.router = m.monitor = m.ctx = nullptr;
  m.wake_fd = -1;
  {
    std::lock_guard lock(m.mu);
    m.all_synced = true;  // release any waiter
  }
  m.cv.notify_all();
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
    if (event == ZMQ_EVENT_ACCEPTED && value >= 0) {
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
  while (!stop) {
    std::vector<zmq_pollitem_t> items;
    items.push_back({router, 0, ZMQ_POLLIN, 0});
    items.push_back({nullptr, wake_fd, ZMQ_POLLIN, 0});
    if (monitor) items.push_back({monitor, 0, ZMQ_POLLIN, 0});
    size_t first_link = items.size();
    for (Link& l : links) items.push_back({l.socket, 0, ZMQ_POLLIN, 0});
    // Short polls while changes flow (workers then skip the eventfd); a long sleep
    // only after a quiet spell, announced before the last look at the queue.
    uint64_t now_ms = NowMillis();
    bool quiet = now_ms - last_change_ms > 20;
    int timeout = busy ? 2 : 1;
    if (quiet && !busy) {
      sleeping.store(true, std::memory_order_seq_cst);
      timeout = pending.nonempty.load(std::memory_order_seq_cst) ? 0 : 50;
    }
    zmq_poll(items.data(), static_cast<int>(items.size()), timeout);
    sleeping.store(false, std::memory_order_seq_cst);
    if (pending.nonempty.load(std::memory_order_relaxed)) last_change_ms = NowMillis();
    if (stop) break;
    if (items[1].revents & ZMQ_POLLIN) {
      uint64_t v;
      [[maybe_unused]] ssize_t n = read(wake_fd, &v, sizeof v);
    }
    DrainPending();
    ServeRouter();
    if (monitor) ServeMonitor();
    for (size_t i = 0; i < links.size(); ++i) {
      if (items[first_link + i].revents & ZMQ_POLLIN) ServeLink(links[i]);
    }
    uint64_t now = NowMillis();
    TickLinks(now);
    UpdateGate(now);
    busy = false;
    PumpSessions(now, &busy);
    // At once when a link or session changed state (monitoring and tests poll for it),
    // else a few times a second for the counters.
    uint64_t signature = StatsSignature();
    if (now - last_stats >= 250 || signature != stats_signature) {
      last_stats = now;
      stats_signature = signature;
      RenderStats(now);
    }
  }
  FlushOnStop();
}

// SIGTERM drains: every change acknowledged to a client before the stop reaches the
// peers that are following us (bounded: a stuck peer gets a full copy later anyway).
// "Reaches" means the peer ACKed it, not that ZeroMQ took it: bytes still in our
// kernel send buffer are discarded if the socket closes with unread input (an RST),
// and a peer's ACK may be just that input.
void Replicator::Impl::FlushOnStop() {
  DrainPending();
  uint64_t deadline = NowMillis() + 2000;
  for (;;) {
    uint64_t now = NowMillis();
    bool busy = false;
    PumpSessions(now, &busy);
    ServeRouter();  // their ACKs
    bool done = true;
    for (const auto& [id, s] : sessions) {
      done &= s.gone || (s.mode == Session::Mode::kStream && s.queued.empty() &&
                         s.next_seq >= backlog.next_seq() && s.acked_seq >= backlog.next_seq());
    }
    // A peer we hear from but that follows no session of ours yet (we restarted a moment
    // ago and its HELLO is on the way) is waited for too: it must get our first writes.
    done &= !initial_sync_done || AllLivePeersFollow(now);
    if (done || now >= deadline) break;
    zmq_pollitem_t item{router, 0, ZMQ_POLLIN, 0};
    zmq_poll(&item, 1, 5);
  }
  // Let ZeroMQ's I/O thread put what we queued on the wire before the sockets close.
  int linger = static_cast<int>(
      std::max<int64_t>(0, static_cast<int64_t>(deadline) - static_cast<int64_t>(NowMillis())));
  zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger);
}

void Replicator::Impl::RenderStats(uint64_t now) {
  std::string out;
  char line[512];
  auto stat = [&](const char* fmt, auto... args) {
    int n = snprintf(line, sizeof line, fmt, args...);
    out.append(line, static_cast<size_t>(std::max(0, std::min<int>(n, sizeof line - 1))));
  };
  stat("STAT node_id %u\r\n", opts.node_id);
  stat("STAT cluster_name %s\r\n", opts.cluster_name.c_str());
  stat("STAT auth %s\r\n", curve ? "curve" : "none");
  stat("STAT epoch %" PRIu64 "\r\n", epoch);
  stat("STAT next_seq %" PRIu64 "\r\n", backlog.next_seq());
  stat("STAT backlog_bytes %" PRIu64 "\r\n", backlog.bytes());
  stat("STAT backlog_limit %" PRIu64 "\r\n", backlog.max_bytes());
  stat("STAT backlog_first_seq %" PRIu64 "\r\n", backlog.front_seq());
  stat("STAT peers %zu\r\n", links.size());
  stat("STAT subscribers %zu\r\n", sessions.size());
  stat("STAT conflicts %" PRIu64 "\r\n", store->conflicts());
  stat("STAT tombstones %" PRIu64 "\r\n", store->tombstones());
  stat("STAT auth_failures %" PRIu64 "\r\n", auth_failures.load());
  stat("STAT queue_overflows %" PRIu64 "\r\n", overflows);
  stat("STAT sync_replicas %u\r\n", opts.sync_replicas);
  stat("STAT sync_waits %" PRIu64 "\r\n", sync_waits.load());
  stat("STAT sync_timeouts %" PRIu64 "\r\n", sync_timeouts.load());
  stat("STAT sync_wait_us %" PRIu64 "\r\n", sync_wait_us.load());
  for (const Link& l : links) {
    const char* p = l.address.c_str();
    uint64_t lag = l.publisher_next > l.next_seq ? l.publisher_next - l.next_seq : 0;
    int64_t lag_ms = l.last_applied_hlc_ms && lag
                         ? static_cast<int64_t>(now) - static_cast<int64_t>(l.last_applied_hlc_ms)
                         : 0;
    stat("STAT peer:%s:node %u\r\n", p, l.peer_node);
    stat("STAT peer:%s:state %s\r\n", p, PhaseName(l.phase));
    if (l.phase == Link::Phase::kFullCopy) {
      stat("STAT peer:%s:full_copy_records %" PRIu64 "\r\n", p, l.copy_received);
    }
    stat("STAT peer:%s:lag_changes %" PRIu64 "\r\n", p, lag);
    stat("STAT peer:%s:lag_ms %" PRId64 "\r\n", p, lag_ms < 0 ? 0 : lag_ms);
    stat("STAT peer:%s:applied %" PRIu64 "\r\n", p, l.changes_applied);
    stat("STAT peer:%s:bytes_received %" PRIu64 "\r\n", p, l.bytes_received);
    stat("STAT peer:%s:full_copies %" PRIu64 "\r\n", p, l.full_copies);
    stat("STAT peer:%s:catch_ups %" PRIu64 "\r\n", p, l.catch_ups);
    stat("STAT peer:%s:last_copy_records %" PRIu64 "\r\n", p, l.last_copy_records);
    stat("STAT peer:%s:clock_offset_ms %" PRId64 "\r\n", p, l.clock_offset_ms);
    stat("STAT peer:%s:malformed %" PRIu64 "\r\n", p, l.malformed);
    stat("STAT peer:%s:missed_at_restart %" PRIu64 "\r\n", p, l.missed_at_restart);
    stat("STAT peer:%s:swept %" PRIu64 "\r\n", p, l.swept);
    std::string err = l.last_error.empty() ? "none" : l.last_error;
    for (char& c : err) {
      if (c == ' ' || c == '\r' || c == '\n') c = '_';
    }
    stat("STAT peer:%s:last_error %s\r\n", p, err.c_str());
  }
  for (const auto& [id, s] : sessions) {
    uint16_t n = s.node_id;
    stat("STAT subscriber:%u:mode %s\r\n", n,
         s.mode == Session::Mode::kFullCopy ? "full_copy" : "streaming");
    if (s.mode == Session::Mode::kFullCopy) {
      stat("STAT subscriber:%u:full_copy_progress %zu/%zu\r\n", n, s.snap_shard,
           store->shard_count());
    }
    stat("STAT subscriber:%u:sent_seq %" PRIu64 "\r\n", n, s.next_seq);
    stat("STAT subscriber:%u:acked_seq %" PRIu64 "\r\n", n, s.acked_seq);
    // Changes this node acknowledged to clients that the peer has not confirmed:
    // what the peer would miss if this node died now (bounded by the ACK interval).
    stat("STAT subscriber:%u:unacked_changes %" PRIu64 "\r\n", n,
         s.mode == Session::Mode::kStream && backlog.next_seq() > s.acked_seq
             ? backlog.next_seq() - std::max<uint64_t>(s.acked_seq, 1)
             : 0);
    stat("STAT subscriber:%u:bytes_sent %" PRIu64 "\r\n", n, s.bytes_sent);
    stat("STAT subscriber:%u:full_copies %" PRIu64 "\r\n", n, s.full_copies);
    stat("STAT subscriber:%u:catch_ups %" PRIu64 "\r\n", n, s.catch_ups);
    stat("STAT subscriber:%u:delta_copies %" PRIu64 "\r\n", n, s.delta_copies);
    stat("STAT subscriber:%u:copy_restarts %" PRIu64 "\r\n", n, s.copy_restarts);
  }
  std::lock_guard lock(mu);
  stats_text = std::move(out);
  stat_refused = refused_hellos;
}

// The join gate: every peer is either synced, refused, or has been silent longer than
// the join timeout (never answered since we started, or died mid-copy: the copies the
// other peers send cover what it had). Once any peer has answered, the cluster has data
// for us: the node then waits for some peer to finish a sync, however long, rather than
// serve part of a copy. Then the peers that followed our earlier run and were told to
// wait get their copies, and clients are let in once every live peer follows us.
void Replicator::Impl::UpdateGate(uint64_t now) {
  bool resolved_all = true, any_synced = false, ever_welcomed = false;
  for (const Link& l : links) {
    uint64_t heard = l.last_rx_ms ? l.last_rx_ms : started_ms;
    bool silent = Elapsed(now, heard) > opts.join_timeout_ms;
    resolved_all &= l.synced || l.phase == Link::Phase::kRefused || silent;
    any_synced |= l.synced;
    ever_welcomed |= l.welcomed;
  }
  if (resolved_all && (any_synced || !ever_welcomed) && !initial_sync_done) {
    initial_sync_done = true;
    synced_at_ms = now;
    auto waiting = std::move(deferred_hellos);
    deferred_hellos.clear();
    for (auto& [node, hello] : waiting) HandleHello(hello.first, hello.second, now);
  }
  // Clients only once every peer we hear from follows our stream (or a moment passed:
  // a link that works one way only must not keep us shut), so our first writes reach
  // them, whatever the scheduling of their HELLOs.
  bool open = initial_sync_done &&
              (AllLivePeersFollow(now) || Elapsed(now, synced_at_ms) > kFollowerWaitMs);
  if (open == gate_all_synced && any_synced == gate_any_synced) return;
  gate_all_synced = open;
  gate_any_synced = any_synced;
  {
    std::lock_guard lock(mu);
    any_welcomed = any_synced;
    all_synced = open;
  }
  cv.notify_all();
}

// Every peer we heard from lately has a session on our stream (a copy or the stream).
bool Replicator::Impl::AllLivePeersFollow(uint64_t now) const {
  for (const Link& l : links) {
    if (l.peer_node == 0 || Elapsed(now, l.last_rx_ms) > kFollowerGraceMs) continue;
    bool followed = false;
    for (const auto& [id, s] : sessions) followed |= s.node_id == l.peer_node && !s.gone;
    if (!followed) return false;
  }
  return true;
}

// Changes whenever a link's phase or the set of sessions and their modes change.
uint64_t Replicator::Impl::StatsSignature() const {
  uint64_t h = sessions.size();
  for (const Link& l : links) {
    h = h * 31 + static_cast<uint64_t>(l.phase) * 2 + (l.synced ? 1 : 0);
  }
  for (const auto& [id, s] : sessions) {
    h = h * 31 + s.node_id * 2 + (s.mode == Session::Mode::kFullCopy ? 1 : 0);
  }
  return h;
}

bool Replicator::WaitInitialSync() {
  Impl& m = *impl_;
  if (m.links.empty()) return true;
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(m.opts.join_timeout_ms);
  (void)deadline;
  std::unique_lock lock(m.mu);
  for (;;) {
    if (m.all_synced) {
      if (m.any_welcomed) return true;
      SC_LOG(kWarn, "replication: no peer answered within %u ms; serving alone",
             m.opts.join_timeout_ms);
      return false;
    }
    m.cv.wait_for(lock, std::chrono::milliseconds(100));
  }
}

void Replicator::AppendStats(std::string* out) const {
  std::lock_guard lock(impl_->mu);
  out->append(impl_->stats_text);
  out->append("STAT refused_peers ");
  out->append(std::to_string(impl_->stat_refused));
  out->append("\r\n");
}

}  // namespace syncached::replication
