#include "server/server.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "common/log.h"
#include "common/wipe.h"
#include "server/membership.h"
#include "server/memory_file.h"
#include "server/peer_security.h"
#include "server/sd_notify.h"

namespace syncached::server {

namespace {
// The store has one sink; with persistence and replication both on, each change goes
// to the journal first, then to the peers.
class FanOutSink final : public record::Sink {
 public:
  FanOutSink(record::Sink* first, record::Sink* second) : first_(first), second_(second) {}
  void OnChange(const record::ChangeView& c) override {
    first_->OnChange(c);
    second_->OnChange(c);
  }

 private:
  record::Sink* first_;
  record::Sink* second_;
};

uint32_t ShardBits(uint32_t threads) {
  // Enough stripes that workers rarely meet on one lock, few enough that per-shard
  // tables stay dense: 64 per thread, at least 256.
  uint32_t bits = 8;
  while ((1u << bits) < threads * 64 && bits < 12) ++bits;
  return bits;
}
}  // namespace

net::TlsOptions TlsOptionsFrom(const engine::Settings& e) {
  net::TlsOptions t;
  t.enabled = e.ssl_enabled;
  t.chain_cert = e.ssl_chain_cert;
  t.key = e.ssl_key;
  t.key_format = e.ssl_keyformat;
  t.verify_mode = e.ssl_verify_mode;
  t.ca_cert = e.ssl_ca_cert;
  t.ciphers = e.ssl_ciphers;
  t.min_version = e.ssl_min_version;
  t.session_cache = e.ssl_session_cache;
  t.kernel_tls = e.ssl_kernel_tls;
  return t;
}

Server::Server(const Config& config) : config_(config) {
  storage::Options so;
  so.max_bytes = config.engine.maxbytes;
  so.evict = config.engine.evictions;
  // The protocol layer refuses values over -I with memcached's item arithmetic; the
  // store's own bound is the same number over its (smaller) header.
  so.item_size_max = config.engine.item_size_max;
  so.cas_enabled = config.engine.cas_enabled;
  so.shard_bits = ShardBits(config.engine.num_threads);
  uint32_t total_power = config.hashpower ? config.hashpower : 16;
  so.initial_hash_power = total_power > so.shard_bits + 4 ? total_power - so.shard_bits : 4;
  so.slab_chunk_min = config.engine.chunk_size + 48;
  so.slab_growth_factor = config.engine.growth_factor;
  so.node_id = config.node_id;
  so.replicated = !config.peers.empty();
  so.tombstone_ttl = config.tombstone_ttl;
  clock_.AdvanceMillis(config.test_clock_offset_ms);
  store_ = std::make_unique<storage::Store>(so, &clock_);
  store_->SetCrawlerEnabled(config.engine.runtime.lru_crawler);
  engine_ = std::make_unique<engine::Engine>(config.engine, store_.get(), this);
  engine_->SetDebugClock(&clock_);
  if (Sharded(config)) {
    // Unsharded nodes get no router: their requests take exactly today's path.
    forward::Options fo;
    fo.hello = std::string(engine::kRelayHello);
    // --sync-replicas: an owner holds a forwarded write's reply until its co-owners
    // acknowledge it (up to --sync-timeout); waiting less would fail such writes.
    if (config.sync_replicas > 0) {
      fo.timeout_ms = std::max<int>(fo.timeout_ms, static_cast<int>(config.sync_timeout_ms) + 250);
    }
    ring_ = std::make_shared<const placement::Ring>(*config.members, config.ring);
    router_ = std::make_unique<KeyRouter>(*config.members, config.node_id,
                                          config.replication_factor, ring_, fo);
    engine_->SetRouter(router_.get());
  }
}

// Loads the data dir into the store before anything can change it, and hands the
// replicator the peer positions saved with the data.
Status Server::OpenPersistence(replication::Options* ro) {
  persistence::Options po;
  po.dir = config_.data_dir;
  po.fsync = config_.fsync;
  po.compact_min_bytes = config_.journal_size;
  persistence_ = std::make_unique<persistence::Persistence>(po, store_.get());
  persistence::Recovery recovered;
  Status st = persistence_->Open(&recovered);
  if (!st.ok()) return st;
  ro->has_data = recovered.had_data();
  ro->saved_positions = recovered.meta;
  persistence::Persistence* p = persistence_.get();
  ro->save_position = [p](const std::string& name, const std::string& value) {
    p->SaveMeta(name, value);
  };
  return Status::Ok();
}

Server::~Server() {
  RequestStop();
  if (metrics_) metrics_->Stop();  // its scrapes read everything below
  if (maintenance_.joinable()) maintenance_.join();
  // The replicator's ack listener wakes net workers: the net server outlives its thread.
  if (net_) net_->Stop();
  if (forward_pool_) forward_pool_->Stop();  // its tasks Post to net_
  if (replicator_) replicator_->Stop();
  net_.reset();
  if (persistence_) persistence_->Close();
}

Status Server::Start() {
  if (config_.engine.sasl) {
    Status sasl = engine::SaslInit();  // memcached's init_sasl(): once, before serving
    if (!sasl.ok()) return sasl;
  }
  if (!config_.engine.auth_file.empty()) {
    std::ifstream in(config_.engine.auth_file);
    if (!in) return Status::Invalid("-Y: cannot read auth file '" + config_.engine.auth_file + "'");
    std::vector<std::pair<std::string, std::string>> users;
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      size_t colon = line.find(':');
      if (line.empty()) continue;
      if (colon == std::string::npos || colon == 0) {
        return Status::Invalid("-Y: auth file lines must be user:pass");
      }
      users.emplace_back(line.substr(0, colon), line.substr(colon + 1));
    }
    engine_->SetAsciiUsers(std::move(users));
  }
  net::Options no;
  // Configs made by ParseCommandLine have client_listen; hand-made ones (tests) may not.
  no.listen = config_.client_listen.empty() ? config_.listen : config_.client_listen;
  no.tls = TlsOptionsFrom(config_.engine);
  // memcached: -s serves the unix socket only ("disables network support").
  no.port =
      static_cast<uint16_t>(config_.engine.domain_socket.empty() ? config_.engine.tcpport : 0);
  no.tcp = !(config_.tcp_specified && config_.engine.tcpport == 0 && !config_.tcp_ephemeral);
  no.unix_path = config_.engine.domain_socket;
  no.unix_mask = static_cast<int>(config_.engine.umask);
  no.threads = static_cast<int>(config_.engine.num_threads);
  no.max_conns = static_cast<int>(config_.engine.maxconns);
  no.listen_backlog = static_cast<int>(config_.engine.tcp_backlog);
  no.output_high_water = output_high_water_;
  no.reject_message = "ERROR Too many open connections\r\n";
  no.idle_timeout_secs = config_.engine.idle_timeout;
  net_ = std::make_unique<net::Server>(no, this);
  // The client ports are ours from here, though nothing is answered before the end of
  // Start: a port in use fails at once, not after recovery and catch-up, and no outgoing
  // connection can take it while we sync.
  Status bound = net_->Bind();
  if (!bound.ok()) return bound;
  replication::Options ro;
  ro.node_id = config_.node_id;
  ro.peers = config_.peers;
  for (const std::string& host : ListenHosts(config_.listen)) {
    ro.listen.push_back(host.empty() ? "*" : host);
  }
  ro.port = config_.replication_port;
  ro.cluster_name = config_.cluster_name;
  ro.backlog_bytes = config_.backlog_bytes;
  ro.join_timeout_ms = config_.join_timeout_ms;
  ro.sync_replicas = config_.sync_replicas;
  ro.sync_timeout_ms = config_.sync_timeout_ms;
  if (config_.members) {
    ro.members_digest = config_.members->Digest();
    if (Sharded(config_)) {
      ro.owners = [ring = ring_, r = config_.replication_factor](std::string_view key,
                                                                 std::vector<uint16_t>* owners) {
        *owners = ring->Owners(key, r);
      };
    }
  }
  if (config_.sync_replicas > 0 && config_.peers.empty()) {
    return Status::Invalid("--sync-replicas: needs --peers");
  }
  if (!config_.engine.memory_file.empty()) {
    Status ms = PrepareMemoryFile(config_.engine.memory_file);
    if (!ms.ok()) return ms;
  }
  if (!config_.data_dir.empty()) {
    NotifyServiceManager("STATUS=loading the data directory " + config_.data_dir);
    Status ps = OpenPersistence(&ro);
    if (!ps.ok()) return ps;
  }
  if (!config_.peers.empty()) {
    ro.secret = config_.cluster_secret;
    replicator_ = std::make_unique<replication::Replicator>(ro, store_.get());
  }
  // The replicator holds the only copy it needs (and wipes it once it derived its keys).
  WipeString(&ro.secret);
  WipeString(&config_.cluster_secret);
  if (persistence_ && replicator_) {
    fan_out_ = std::make_unique<FanOutSink>(persistence_.get(), replicator_.get());
    store_->SetSink(fan_out_.get());
  } else if (persistence_) {
    store_->SetSink(persistence_.get());
  } else if (replicator_) {
    store_->SetSink(replicator_.get());
  }
  // Before the join gate: a joining node's copy progress is worth watching.
  if (config_.metrics_port != 0) {
    Status ms = StartMetrics();
    if (!ms.ok()) return ms;
  }
  if (replicator_ && config_.sync_replicas > 0) {
    replica_wait_ = std::make_unique<ReplicaWait>(
        replicator_.get(), static_cast<int>(config_.engine.num_threads), config_.sync_timeout_ms,
        config_.sync_timeout_close);
    replica_wait_->Listen();
  }
  if (replicator_) {
    Status rs = replicator_->Start();
    if (!rs.ok()) return rs;
    maintenance_ = std::thread([this] { MaintenanceLoop(); });
    if (config_.join_refuse) {
      // The join gate: clients are refused (nothing listens yet) until this node holds
      // what its peers hold, so no client reads a half-filled node.
      NotifyServiceManager(
          "STATUS=joining the cluster: clients are refused until this node "
          "holds its peers' data");
      replicator_->WaitInitialSync();
    } else {
      engine_->SetSyncing(true);
    }
  }
  if (replica_wait_) replica_wait_->Attach(net_.get());
  if (router_) {
    // Requests for other nodes leave the workers (DeferForward).
    int threads = std::max(4, 2 * static_cast<int>(config_.engine.num_threads));
    forward_pool_ = std::make_unique<ForwardPool>(threads, 1024 * static_cast<size_t>(threads));
    Relay::Hooks hooks;
    hooks.done = [this](net::Connection& conn) { RelayDone(conn); };
    hooks.reroute = [this](net::Connection& conn, std::string request) {
      RelayReroute(conn, request);
    };
    relay_ = std::make_unique<Relay>(&router_->forwarder(), *config_.members,
                                     static_cast<int>(config_.engine.num_threads),
                                     router_->forwarder().timeout_ms(), std::move(hooks));
  }
  Status st = net_->Start();
  if (!st.ok()) return st;
  if (config_.engine.udpport != 0 || config_.udp_ephemeral) {
    udp_ = std::make_unique<UdpServer>(engine_.get(), config_.listen,
                                       static_cast<uint16_t>(config_.engine.udpport));
    if (persistence_) udp_->SetBeforeReply([p = persistence_.get()] { p->Commit(); });
    st = udp_->Start();
    if (!st.ok()) return st;
  }
  WritePortsFile();
  if (!maintenance_.joinable()) maintenance_ = std::thread([this] { MaintenanceLoop(); });
  if (engine_->syncing()) {
    NotifyServiceManager(
        "STATUS=joining the cluster: clients get SERVER_ERROR syncing until "
        "this node holds its peers' data");
    replicator_->WaitInitialSync();
    engine_->SetSyncing(false);
  }
  SC_LOG(kInfo, "syncached listening on port %u (%u threads, -m %llu MB)", net_->bound_port(),
         config_.engine.num_threads,
         static_cast<unsigned long long>(config_.engine.maxbytes >> 20));
  return Status::Ok();
}

// Every scrape reads the same text the stats commands answer, so the two cannot differ.
Status Server::StartMetrics() {
  metrics::EndpointOptions mo;
  mo.listen = config_.metrics_addr.empty() ? ListenHosts(config_.listen) : config_.metrics_addr;
  mo.port = config_.metrics_port;
  metrics_ = std::make_unique<metrics::Endpoint>(mo, [this](metrics::StatTexts* t) {
    engine::AppendStatsText(*engine_, "", &t->general);
    engine::AppendStatsText(*engine_, "settings", &t->settings);
    engine::AppendStatsText(*engine_, "items", &t->items);
    engine::AppendStatsText(*engine_, "slabs", &t->slabs);
    AppendReplicationStats(&t->replication);
    AppendPersistenceStats(&t->persistence);
    AppendClusterStats(&t->cluster);
  });
  Status st = metrics_->Start();
  if (!st.ok()) return Status::Invalid("--metrics-port: " + st.message());
  SC_LOG(kInfo, "metrics on port %u (/metrics)", metrics_->bound_port());
  return Status::Ok();
}

void Server::RequestStop() {
  std::lock_guard lock(mu_);
  stop_ = true;
  cv_.notify_all();
}

void Server::Run() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stop_; });
  }
  NotifyServiceManager("STOPPING=1\nSTATUS=stopping");
  if (metrics_) metrics_->Stop();
  if (net_) net_->Stop();
  if (forward_pool_) forward_pool_->Stop();
  if (udp_) udp_->Stop();
  if (replicator_) replicator_->Stop();
  if (maintenance_.joinable()) maintenance_.join();
  // Last: everything the peers sent while draining is journaled too.
  if (persistence_) persistence_->Close();
}

void Server::Reload() {
  // The log file is reopened by main before this is called. Still to come here: the
  // members file (--members, DESIGN.md §7).
  if (!config_.engine.ssl_enabled || !net_) return;
  std::string err = RefreshCerts();
  if (err.empty()) {
    SC_LOG(kInfo, "SIGHUP: TLS certificates reloaded");
  } else {
    SC_LOG(kError, "SIGHUP: TLS certificates not reloaded (the old ones stay): %s", err.c_str());
  }
}

std::string Server::RefreshCerts() {
  if (!net_) return "Error TLS not enabled";
  Status st = net_->ReloadTls();
  return st.ok() ? std::string() : st.message();
}

void Server::MaintenanceLoop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::seconds(1));
    if (stop_) break;
    lock.unlock();
    store_->Maintain();
    lock.lock();
  }
}

// A connection's state here: its engine session, and while it watches, the link its
// watcher's wake function uses to find it (cleared on close; read only on its worker).
struct WatchLink {
  net::Connection* conn;
};
struct Server::ConnState {
  engine::Session session;
  net::Connection* conn = nullptr;
  std::shared_ptr<WatchLink> link;
  // A request of this connection runs elsewhere, relayed or on the forward pool; the
  // connection is held meanwhile.
  std::shared_ptr<ClientLink> forward_link;
  bool forward_pending = false;
};

namespace {
// Longest a connection waits for its forwarded request: past every retry's timeouts.
constexpr uint32_t kForwardHoldMs = 30000;
}  // namespace

// The request at the start of the unconsumed input runs on a pool thread (it forwards
// and waits there); the connection is held, so its later requests and replies wait
// behind it in order, while this worker serves its other connections.
size_t Server::DeferForward(net::Connection& c, ConnState* st, std::string_view request) {
  st->session.deferred = 0;
  engine::Session::Proto proto = st->session.proto;
  int cfd = st->session.cfd;
  bool relayed = st->session.relayed;
  auto run = [this, proto, cfd, relayed](std::string_view req, std::string* out) {
    engine::Session s;
    s.proto = proto;
    s.cfd = cfd;
    s.relayed = relayed;
    engine_->Process(s, req, out, SIZE_MAX);
  };
  if (!st->forward_link) st->forward_link = std::make_shared<ClientLink>(ClientLink{&c});
  auto task = [this, run, link = st->forward_link, worker = c.worker(),
               req = std::string(request)] {
    std::string reply;
    run(req, &reply);
    if (persistence_) persistence_->Commit();
    net_->Post(worker, [this, link, reply = std::move(reply)] {
      net::Connection* conn = link->conn;
      if (!conn) return;  // closed meanwhile
      static_cast<ConnState*>(conn->user)->forward_pending = false;
      conn->out().append(reply);
      conn->Release();
      // --sync-replicas: this worker's changes before the forwarded request (OnData left
      // them to us) may still wait for acks; if so the connection is held again, now
      // by ReplicaWait, before the release above takes effect.
      if (replica_wait_) replica_wait_->AfterRequests(*conn);
    });
  };
  if (!forward_pool_->Submit(std::move(task))) {
    run(request, &c.out());  // the pool's queue is full: wait here rather than queue more
    return request.size();
  }
  st->forward_pending = true;
  c.Hold(kForwardHoldMs);
  return request.size();
}

// The request at the start of the unconsumed input runs on another node: relayed from
// this worker when it is one node's as the client sent it, else on the pool.
size_t Server::Forward(net::Connection& c, ConnState* st, std::string_view request) {
  engine::Session& s = st->session;
  if (relay_ && s.deferred_node >= 0) {
    if (!st->forward_link) st->forward_link = std::make_shared<ClientLink>(ClientLink{&c});
    forward::Wire wire =
        s.proto == engine::Session::Proto::kBinary ? forward::Wire::kBinary : forward::Wire::kText;
    if (relay_->Send(c, st->forward_link, static_cast<placement::NodeId>(s.deferred_node), wire,
                     request, s.deferred_failure)) {
      s.deferred = 0;
      st->forward_pending = true;
      c.Hold(static_cast<uint32_t>(relay_->hold_ms()));
      return request.size();
    }
  }
  return DeferForward(c, st, request);
}

void Server::RelayDone(net::Connection& c) {
  static_cast<ConnState*>(c.user)->forward_pending = false;
  c.Release();
  // --sync-replicas: as after a pool thread's reply (DeferForward).
  if (replica_wait_) replica_wait_->AfterRequests(c);
}

void Server::RelayReroute(net::Connection& c, std::string_view request) {
  DeferForward(c, static_cast<ConnState*>(c.user), request);
}

void Server::OnOpen(net::Connection& c) {
  auto* st = new ConnState();
  st->conn = &c;
  st->session.cfd = c.fd();
  st->session.host_data = st;
  st->session.defer_forwards = forward_pool_ != nullptr;
  c.user = st;
  if (engine_->hub()->Wants(watch::kConnEvents)) [[unlikely]] {
    LogConnEvent(c, true, watch::CloseReason::kNormal);
  }
}

// memcached's conn_new / conn_close lines (memcached.c conn_new, conn_close).
void Server::LogConnEvent(const net::Connection& c, bool open, watch::CloseReason reason) {
  watch::ConnEvent ev;
  ev.cfd = c.fd();
  ev.reason = reason;
  std::string_view peer = c.peer();  // "127.0.0.1:5555", "[::1]:5555", "unix"
  size_t colon = peer.rfind(':');
  if (peer == "unix" || colon == std::string_view::npos) {
    ev.rip = "unix";
    ev.transport = watch::Transport::kLocal;
  } else {
    ev.rip = peer.substr(0, colon);
    if (ev.rip.size() >= 2 && ev.rip.front() == '[') ev.rip = ev.rip.substr(1, ev.rip.size() - 2);
    ev.rport = static_cast<uint16_t>(atoi(std::string(peer.substr(colon + 1)).c_str()));
  }
  if (open) {
    engine_->hub()->LogConnNew(ev);
  } else {
    engine_->hub()->LogConnClose(ev);
  }
}

std::function<void()> Server::WatchWaker(engine::Session& s) {
  auto* st = static_cast<ConnState*>(s.host_data);
  if (!st || !net_) return {};  // UDP: no connection to stream to
  st->link = std::make_shared<WatchLink>(WatchLink{st->conn});
  net::Server* net = net_.get();
  int worker = st->conn->worker();
  // Producers call this when the watcher's buffer becomes non-empty; the drain itself runs
  // on the watcher's worker, so producers never write to its socket. Watchers are gone
  // (OnClose) before net_ is, so `net` outlives every call.
  return [net, worker, link = st->link] {
    net->Post(worker, [link] {
      if (link->conn) link->conn->WantDrain();
    });
  };
}

void Server::OnDrain(net::Connection& c) {
  engine_->DrainWatch(static_cast<ConnState*>(c.user)->session, &c.out());
}

size_t Server::OnData(net::Connection& c, std::string_view input) {
  if (c.outgoing()) [[unlikely]]
    return relay_ ? relay_->OnData(c, input) : input.size();
  auto* s = &static_cast<ConnState*>(c.user)->session;
  size_t n = engine_->Process(*s, input, &c.out(), output_high_water_);
  bool forwarding = false;  // held until the reply from another node comes back
  if (s->deferred) [[unlikely]] {
    auto* st = static_cast<ConnState*>(c.user);
    n += Forward(c, st, input.substr(n, s->deferred));
    forwarding = st->forward_pending;
  }
  // Changes hit the journal file before their replies leave: kill -9 loses no write a
  // client saw acknowledged.
  if (persistence_) persistence_->Commit();
  // --sync-replicas: the replies wait (held, the worker carries on with other connections)
  // until enough peers applied the changes. While a forward holds the connection, its
  // reply's arrival checks instead (a second holder could release the first's hold).
  if (replica_wait_ && !forwarding) replica_wait_->AfterRequests(c);
  if (s->close) c.CloseAfterWrite();
  // memcached's watchers leave the workers' idle checks: they only receive.
  if (s->watcher) [[unlikely]]
    c.SetNoIdleTimeout();
  if (s->yield) {
    s->yield = false;
    c.Yield();
  }
  return n;
}

void Server::OnClose(net::Connection& c) {
  if (c.outgoing()) [[unlikely]] {
    if (relay_) relay_->OnClose(c);
    return;
  }
  if (replica_wait_) replica_wait_->OnClose(c);
  auto* st = static_cast<ConnState*>(c.user);
  if (st->link) st->link->conn = nullptr;  // wakes still queued find nothing
  if (st->forward_link) st->forward_link->conn = nullptr;
  st->session.watcher.reset();  // unsubscribes
  // memcached logs no closes when the whole server stops.
  if (engine_->hub()->Wants(watch::kConnEvents) && c.close_reason() != net::CloseReason::kStopped)
      [[unlikely]] {
    watch::CloseReason reason = watch::CloseReason::kError;
    switch (c.close_reason()) {
      case net::CloseReason::kRequested:
        reason = st->session.close_reason;
        break;
      case net::CloseReason::kPeerClosed:
        reason = watch::CloseReason::kNormal;
        break;
      case net::CloseReason::kIdleTimeout:
        reason = watch::CloseReason::kIdleTimeout;
        break;
      case net::CloseReason::kError:
      case net::CloseReason::kStopped:
      case net::CloseReason::kConnectFailed:
        break;
    }
    LogConnEvent(c, false, reason);
  }
  delete st;
  c.user = nullptr;
}

void Server::OnHoldExpired(net::Connection& c) {
  auto* st = static_cast<ConnState*>(c.user);
  if (st && st->forward_pending) {
    if (relay_ && st->forward_link->upstream) {
      relay_->Expire(*st->forward_link);  // answers it (and its neighbours) with failures
      return;
    }
    // A pool thread's reply is still to come; letting later ones go first would
    // reorder them.
    c.CloseNow();
    return;
  }
  if (replica_wait_) replica_wait_->OnHoldExpired(c);
}

void Server::OnWake(int worker) {
  if (replica_wait_) replica_wait_->OnWake(worker);
}

engine::Host::NetStats Server::GetNetStats() const {
  NetStats ns;
  if (!net_) return ns;
  net::Stats s = net_->GetStats();
  ns.curr_connections = s.curr_connections;
  ns.total_connections = s.total_connections;
  ns.rejected_connections = s.rejected_connections;
  ns.connection_structures = s.curr_connections;
  ns.bytes_read = s.bytes_read;
  ns.bytes_written = s.bytes_written;
  ns.listen_disabled_num = s.listen_disabled_num;
  ns.idle_kicks = s.idle_kicks;
  ns.accepting = s.accepting_conns;
  ns.ssl_handshake_errors = s.ssl_handshake_errors;
  ns.ssl_new_sessions = s.ssl_new_sessions;
  ns.ssl_cert_loaded_at = s.ssl_cert_loaded_at;
  return ns;
}

void Server::AppendConnStats(std::string* out) const {
  if (udp_) udp_->AppendConnStats(out);
  if (!net_) return;
  char line[512];
  // memcached walks its conns[] array, so lines come in fd order (t/watcher_connid.t reads
  // the last one as the asking connection's own fd).
  std::vector<net::ConnInfo> conns = net_->Connections();
  std::sort(conns.begin(), conns.end(),
            [](const net::ConnInfo& a, const net::ConnInfo& b) { return a.fd < b.fd; });
  for (const net::ConnInfo& ci : conns) {
    const char* kind = ci.unix_socket ? "unix" : "tcp";
    int n = snprintf(line, sizeof line, "STAT %d:addr %s:%s\r\n", ci.fd, kind, ci.peer.c_str());
    out->append(line, static_cast<size_t>(n));
    if (std::string_view(ci.state) != "conn_listening") {
      n = snprintf(line, sizeof line, "STAT %d:listen_addr %s:%s\r\n", ci.fd, kind,
                   ci.listen_addr.c_str());
      out->append(line, static_cast<size_t>(n));
    }
    n = snprintf(line, sizeof line, "STAT %d:state %s\r\n", ci.fd, ci.state);
    out->append(line, static_cast<size_t>(n));
    n = snprintf(line, sizeof line, "STAT %d:secs_since_last_cmd %u\r\n", ci.fd, ci.idle_secs);
    out->append(line, static_cast<size_t>(n));
  }
}

// memcached's MEMCACHED_PORT_FILENAME: "TCP INET: <port>" / "UDP INET6: <port>" lines
// for every bound socket, written to <name>.lck and renamed, so a script that started
// us with -p -1 (ephemeral) can learn the port once the file appears.
void Server::WritePortsFile() const {
  const char* name = getenv("MEMCACHED_PORT_FILENAME");
  if (!name || !*name) return;
  std::string tmp = std::string(name) + ".lck";
  FILE* f = fopen(tmp.c_str(), "a");
  if (!f) {
    SC_LOG(kWarn, "cannot open %s: %s", tmp.c_str(), strerror(errno));
    return;
  }
  // Listener names are "0.0.0.0:11211" or "[::]:11211".
  auto line = [f](const char* proto, const std::string& addr) {
    size_t colon = addr.rfind(':');
    if (colon == std::string::npos) return;
    fprintf(f, "%s %s: %s\n", proto, addr[0] == '[' ? "INET6" : "INET", addr.c_str() + colon + 1);
  };
  if (net_) {
    for (const net::ConnInfo& ci : net_->Connections()) {
      if (!ci.unix_socket && std::string_view(ci.state) == "conn_listening") line("TCP", ci.peer);
    }
  }
  if (udp_) {
    for (const std::string& addr : udp_->names()) line("UDP", addr);
  }
  fclose(f);
  rename(tmp.c_str(), name);
}

void Server::AppendReplicationStats(std::string* out) const {
  if (replicator_) replicator_->AppendStats(out);
}

void Server::AppendPersistenceStats(std::string* out) const {
  if (persistence_) persistence_->AppendStats(out);
}

void Server::AppendClusterStats(std::string* out) const {
  if (!config_.members) return;
  char line[160];
  auto add = [&](const char* name, const std::string& v) {
    int n = snprintf(line, sizeof line, "STAT %s %s\r\n", name, v.c_str());
    out->append(line, static_cast<size_t>(n));
  };
  add("node_id", std::to_string(config_.node_id));
  add("ring", placement::RingKindName(config_.ring.kind));
  add("replication_factor", std::to_string(config_.replication_factor));
  add("members", std::to_string(config_.members->nodes().size()));
  char share[32];
  snprintf(share, sizeof share, "%.4f", router_ ? router_->owned_share() : 1.0);
  add("owned_share", share);
  if (router_) {
    router_->AppendStats(out);
  } else {
    add("forwarded", "0");
    add("forward_errors", "0");
    add("forward_unavailable", "0");
  }
}

void Server::Shutdown(bool graceful) {
  SC_LOG(kInfo, "shutdown requested by a client (%s)", graceful ? "graceful" : "immediate");
  RequestStop();
}

}  // namespace syncached::server
