// Server: startup and wiring (store, engine, net, replication, persistence, router),
// the maintenance thread, and orderly stop.
#include "server/server.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "common/log.h"
#include "common/wipe.h"
#include "protocol/reply.h"
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
  if (config.members) placement_.Set(InitialPlacement(config));
  if (Sharded(config)) {
    // Unsharded nodes get no router: their requests take exactly today's path.
    forward::Options fo;
    fo.hello = std::string(engine::kRelayHello);
    // --sync-replicas: an owner holds a forwarded write's reply until its co-owners
    // acknowledge it (up to --sync-timeout); waiting less would fail such writes.
    if (config.sync_replicas > 0) {
      fo.timeout_ms = std::max<int>(fo.timeout_ms, static_cast<int>(config.sync_timeout_ms) + 250);
    }
    // A forwarded reply is gathered whole: at least two of the largest items fit.
    fo.max_reply = std::max<size_t>(fo.max_reply, 2 * size_t{config.engine.item_size_max});
    router_ = std::make_unique<KeyRouter>(&placement_, config.node_id, fo);
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
  // The journal's writer runs until Close: its fsync listener must not wake a net
  // server that is gone.
  if (persistence_) persistence_->SetDurableListener(nullptr);
  if (forward_pool_) forward_pool_->Stop();  // its tasks Post to net_
  JoinMembersApplier();
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
  no.reject_message =
      std::string(protocol::TextErrorLine(protocol::TextError::kTooManyConnections)) + "\r\n";
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
  ro.multicast_endpoint = config_.multicast;
  ro.multicast_rate_kbps = config_.multicast_rate_kbps;
  ro.multicast_recovery_ms = config_.multicast_recovery_ms;
  ro.multicast_hops = config_.multicast_hops;
  ro.multicast_mtu = config_.multicast_mtu;
  ro.sync_timeout_ms = config_.sync_timeout_ms;
  if (config_.members) {
    ro.members_digest = placement_.Get()->epoch;
    if (Sharded(config_)) ro.owners = StreamOwnersFn();
  }
  if (config_.sync_replicas > 0 && config_.peers.empty()) {
    return Status::Invalid("--sync-replicas: needs --peers");
  }
  if (!config_.multicast.empty() && config_.peers.empty()) {
    return Status::Invalid("--multicast: needs --peers");
  }
  if (!config_.multicast.empty() && config_.members) {
    // A members file may turn into sharding at a reload: streams would then differ.
    return Status::Invalid("--multicast: full replication with --peers only (not --members)");
  }
  if (!config_.peers.empty()) StartRepairIndex(&ro);  // before the data dir loads
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
    ro.client_address = LaneAddress();
    replicator_ = std::make_unique<replication::Replicator>(ro, store_.get());
    if (router_ && config_.join && !ro.has_data) {
      // --join: a node starting empty takes its keys over by comparing digests with its
      // peers (forwarding their requests meanwhile), instead of a full copy from each.
      replicator_->SetMembership(MembershipOf(placement_.Get(), nullptr, true));
    }
    if (router_) {
      router_->SetReadiness(
          {[r = replicator_.get()](uint64_t epoch) { return r->handover_ready(epoch); },
           [r = replicator_.get()](uint64_t epoch) { return r->all_ready(epoch); }});
    }
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
    auto peers = std::make_unique<PeerAcks>(replicator_.get());
    if (!router_) {
      lane_ = std::make_unique<LaneClient>(
          replicator_.get(), static_cast<int>(config_.engine.num_threads), config_.sync_timeout_ms,
          [this](int worker) { ack_wait_->OnWake(worker); });
      peers->SetLane(lane_.get());
    }
    peer_acks_ = std::move(peers);
  }
  if (persistence_ && config_.fsync == persistence::FsyncPolicy::kAlways) {
    disk_acks_ = std::make_unique<DiskAcks>(persistence_.get());
  }
  if (peer_acks_ || disk_acks_) {
    ack_wait_ = std::make_unique<AckWait>(peer_acks_.get(), disk_acks_.get(),
                                          static_cast<int>(config_.engine.num_threads),
                                          config_.sync_timeout_ms, config_.sync_timeout_close);
    ack_wait_->Listen();
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
  if (ack_wait_) ack_wait_->Attach(net_.get());
  if (router_) {
    // Requests for other nodes leave the workers (DeferForward).
    int threads = std::max(4, 2 * static_cast<int>(config_.engine.num_threads));
    forward_pool_ = std::make_unique<ForwardPool>(threads, 1024 * static_cast<size_t>(threads));
    Relay::Hooks hooks;
    hooks.done = [this](net::Connection& conn) { RelayDone(conn); };
    hooks.reroute = [this](net::Connection& conn, const std::string& request) {
      RelayReroute(conn, request);
    };
    relay_ = std::make_unique<Relay>(&router_->forwarder(), *placement_.Get()->members,
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
  // The journal's writer runs until Close: its fsync listener must not wake a net
  // server that is gone.
  if (persistence_) persistence_->SetDurableListener(nullptr);
  if (forward_pool_) forward_pool_->Stop();
  if (udp_) udp_->Stop();
  JoinMembersApplier();  // it hands the replicator the new membership
  if (replicator_) replicator_->Stop();
  if (maintenance_.joinable()) maintenance_.join();
  // Last: everything the peers sent while draining is journaled too.
  if (persistence_) persistence_->Close();
}

void Server::Reload() {
  // The log file is reopened by main before this is called.
  if (config_.members && replicator_) {
    std::string err = ReloadMembers();
    if (!err.empty()) SC_LOG(kError, "SIGHUP: members file not reloaded: %s", err.c_str());
  }
  if (!config_.engine.ssl_enabled || !net_) return;
  std::string err = RefreshCerts();
  if (err.empty()) {
    SC_LOG(kInfo, "SIGHUP: TLS certificates reloaded");
  } else {
    SC_LOG(kError, "SIGHUP: TLS certificates not reloaded (the old ones stay): %s", err.c_str());
  }
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

}  // namespace syncached::server
