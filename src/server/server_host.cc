// Server as engine::Host: the stats it owns (net counters, conns, replication,
// persistence, cluster) and the metrics endpoint serving the same texts, TLS
// certificate refresh, and a client's shutdown.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "common/log.h"
#include "server/peer_security.h"
#include "server/server.h"

namespace syncached::server {

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

std::string Server::RefreshCerts() {
  if (!net_) return "Error TLS not enabled";
  Status st = net_->ReloadTls();
  return st.ok() ? std::string() : st.message();
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
  // memcached walks its conns[] array, so lines come in fd order (memcached's own
  // watcher test reads the last one as the asking connection's own fd).
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
  add("members_applying", members_applying_ ? "1" : "0");
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

void Server::ApplyLane(std::string_view frame, std::string* out) {
  replicator_->ApplyLaneFrame(frame, out);
}

// "" when no plain TCP listener takes them: client TLS, the unix socket only.
std::string Server::LaneAddress() const {
  if (config_.engine.ssl_enabled || !config_.engine.domain_socket.empty()) return "";
  uint16_t port = net_->bound_port();
  if (port == 0) return "";
  std::vector<std::string> hosts = ListenHosts(config_.listen);
  std::string host = hosts.empty() ? "" : hosts.front();
  if (host == "0.0.0.0" || host == "::" || host == "*") host.clear();  // peers know a host
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}

}  // namespace syncached::server
