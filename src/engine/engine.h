// engine: runs memcached requests (text, meta, binary) against storage and writes the
// replies. Bytes in, bytes out, no I/O: the server feeds it what a connection read and
// sends what it wrote, so the whole protocol behaviour is testable without sockets.
//
// Command semantics (add vs set, cas checks, append, incr wrap...) live once, in
// ops.h, shared by every protocol; text.cc, meta.cc and binary.cc only translate.
//
// Threads: one Engine serves all worker threads. A Session belongs to one connection
// and is only touched by the thread that owns that connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/prefix_stats.h"
#include "engine/router.h"
#include "engine/settings.h"
#include "engine/thread_stats.h"
#include "engine/watch_log.h"
#include "protocol/protocol.h"
#include "protocol/reply.h"
#include "storage/storage.h"
#include "watch/watch.h"

namespace syncached::engine {

// What the engine needs from the server around it (connections, process facts).
class Host {
 public:
  virtual ~Host() = default;
  struct NetStats {
    uint64_t curr_connections = 0, total_connections = 0, rejected_connections = 0;
    uint64_t connection_structures = 0, bytes_read = 0, bytes_written = 0;
    uint64_t listen_disabled_num = 0;
    uint64_t idle_kicks = 0;
    bool accepting = true;
    uint64_t ssl_handshake_errors = 0, ssl_new_sessions = 0;
    uint32_t ssl_cert_loaded_at = 0;  // unix seconds
  };
  virtual NetStats GetNetStats() const = 0;
  // `stats conns` lines, each "STAT <fd>:<name> <value>\r\n".
  virtual void AppendConnStats(std::string* out) const = 0;
  virtual void Shutdown(bool graceful) = 0;
  // `stats replication` lines; nothing on a node without peers.
  virtual void AppendReplicationStats(std::string* out) const {}
  // `stats persistence` lines; nothing on a node without --data-dir.
  virtual void AppendPersistenceStats(std::string* out) const {}
  // `stats cluster` lines; nothing on a node without --members.
  virtual void AppendClusterStats(std::string* out) const {}
  // memcached's `refresh_certs`: reloads the TLS certificates. "" on success, else the
  // error line (memcached's text, without CRLF).
  virtual std::string RefreshCerts() {
    return std::string(protocol::TextErrorLine(protocol::TextError::kTlsDisabled));
  }
  // `repair`: every peer link compares digests now. "" on success, else the error line.
  virtual std::string StartRepair() { return "SERVER_ERROR repair needs --peers"; }
  // `members reload` / `members commit` (docs/SHARDING.md): "" for OK, else the error line.
  virtual std::string Members(std::string_view action) {
    return "SERVER_ERROR members needs --members";
  }
  // `watch`: a function, callable from any thread, that makes the session's connection
  // call Engine::DrainWatch soon on its own thread. Empty when the session cannot watch
  // (UDP), which memcached's WATCHER_FAILED reply then reports.
  virtual std::function<void()> WatchWaker(struct Session& s) { return {}; }
  // A peer's sync lane (router.h kLaneHello): whether the session's connection may open
  // one, and one frame of it, whose answer goes to *out.
  virtual bool TakesLane(const struct Session& s) const { return false; }
  virtual void ApplyLane(std::string_view frame, std::string* out) {}
};

// One connection's SASL exchange (engine/sasl.h); freed with its Session.
struct SaslConn;
struct SaslConnDeleter {
  void operator()(SaslConn* c) const;
};
using SaslConnPtr = std::unique_ptr<SaslConn, SaslConnDeleter>;

// Per-connection protocol state.
struct Session {
  enum class Proto : uint8_t { kUnknown, kText, kBinary };
  Proto proto = Proto::kUnknown;
  bool close = false;  // close after the pending output is written
  // Why, when close is set (watch connevents' reason=): quit normal, protocol error error.
  watch::CloseReason close_reason = watch::CloseReason::kError;
  bool yield = false;          // stopped after -R requests with input left (conn_yields)
  bool authenticated = false;  // SASL / -Y
  uint64_t swallow = 0;        // bytes still to discard (a refused value)
  ThreadStats* stats = nullptr;
  SaslConnPtr sasl;       // -S: Cyrus state, made by the first SASL command
  protocol::Request req;  // reused: no per-request allocation
  std::string scratch;    // reused formatting buffer
  int cfd = 0;            // the connection's fd, for watch lines (cfd=)
  protocol::Command last_cmd = protocol::Command::kNone;  // the previous text request's
  // How far the request at the head of the unconsumed input got before it stopped at
  // the output limit: the keys a get answered (text.cc ExecuteGet), the shards a
  // metadump listed (stats_commands.cc); 0 otherwise.
  uint32_t resume = 0;
  void* host_data = nullptr;  // the Host's per-connection state (Host::WatchWaker)
  // Set once `watch` succeeded: the connection only streams log lines from then on.
  std::unique_ptr<watch::Watcher> watcher;
  // Sharded (router.h): instead of forwarding in Process, stop before a request that
  // runs on another node and leave its size in `deferred`; the host runs it elsewhere
  // (Process on another thread, on a session without this flag) while this thread
  // serves other connections. Without it, Process forwards and waits.
  bool defer_forwards = false;
  bool relayed = false;  // another node's forwarding connection (router.h kRelayHello)
  bool lane = false;     // a peer's sync lane (router.h kLaneHello)
  size_t deferred = 0;   // bytes at the start of the unconsumed input
  // With `deferred`: the one node that runs it as sent (Router::kSplit: Process must run
  // it, a get over several owners or one without a live owner), and its failure reply.
  int deferred_node = Router::kSplit;
  ForwardFailure deferred_failure;
};

class Engine {
 public:
  Engine(const Settings& settings, storage::Store* store, Host* host);
  ~Engine();

  // Consumes as many complete requests from `in` as possible, appending replies to
  // `out`; stops early once out exceeds `out_limit`. Returns bytes consumed. Sets
  // s.close when the connection must close after `out` is flushed.
  size_t Process(Session& s, std::string_view in, std::string* out, size_t out_limit);
  // A watching session: moves its buffered log lines to `out` (after Host::WatchWaker's
  // function ran, on the session's thread).
  void DrainWatch(Session& s, std::string* out);

  // memcached's `watch` streams (fetchers, mutations, deletions, evictions here; the
  // server adds connevents).
  watch::Hub* hub() { return &hub_; }
  LogCtx LogFor(const Session& s) { return {&hub_, s.cfd}; }

  // Stats of the calling worker thread (created on first use).
  ThreadStats* StatsForThisThread();
  ThreadStats SumThreadStats() const;
  void ResetStats();

  const Settings& settings() const { return settings_; }
  Settings& mutable_settings() { return settings_; }
  storage::Store* store() { return store_; }
  Host* host() { return host_; }
  PrefixStats& prefix_stats() { return prefix_stats_; }
  // The clock `debugtime` moves (null: the command is refused).
  void SetDebugClock(OffsetClock* clock) { debug_clock_ = clock; }
  OffsetClock* debug_clock() { return debug_clock_; }
  uint32_t started() const { return started_; }
  // Turns a protocol exptime into absolute unix seconds (0 = never), as memcached's
  // realtime(): <= 30 days is relative, larger is absolute, negative is already past.
  uint32_t AbsoluteExptime(int64_t exptime) const;

  // -Y: user/password pairs from the auth file (memcached's authfile format).
  void SetAsciiUsers(std::vector<std::pair<std::string, std::string>> users) {
    ascii_users_ = std::move(users);
  }
  bool CheckAsciiUser(std::string_view user, std::string_view pass) const;

  // Join gate in "error" mode: until a replicated node is in sync every data command
  // answers SERVER_ERROR syncing (binary: temporary failure).
  void SetSyncing(bool syncing) { syncing_.store(syncing); }
  bool syncing() const { return syncing_.load(std::memory_order_relaxed); }
  static bool AllowedWhileSyncing(protocol::Command c);

  // Sharded (engine/router.h): keyed requests go where `router` says. Null (the
  // default, and every unsharded node): everything runs here, as before. Set before
  // serving; the router outlives the engine's use of it.
  void SetRouter(Router* router) { router_ = router; }
  Router* router() const { return router_; }

 private:
  size_t ProcessText(Session& s, std::string_view in, std::string* out, size_t out_limit);
  size_t ProcessBinary(Session& s, std::string_view in, std::string* out, size_t out_limit);
  size_t ProcessLane(Session& s, std::string_view in, std::string* out, size_t out_limit);

  Settings settings_;
  storage::Store* store_;
  Host* host_;
  uint32_t started_;
  uint64_t id_;
  mutable std::mutex stats_mu_;
  std::vector<std::unique_ptr<ThreadStats>> thread_stats_;
  std::vector<std::pair<std::string, std::string>> ascii_users_;
  PrefixStats prefix_stats_;
  OffsetClock* debug_clock_ = nullptr;
  std::atomic<bool> syncing_{false};
  Router* router_ = nullptr;
  watch::Hub hub_;
  // Tells hub_ of the store's evictions (storage::EvictionListener).
  class EvictionLog;
  std::unique_ptr<EvictionLog> eviction_log_;
};

// -S: process-wide SASL initialisation (sasl_server_init, engine/sasl.h); later calls
// return the first result. Fails when Cyrus cannot start or finds no configuration.
Status SaslInit();

// What `stats <group>` answers for "" (general), settings, items, slabs and sizes, as
// "STAT name value\r\n" lines without END (the metrics endpoint renders these). Any
// thread. False for other groups.
bool AppendStatsText(Engine& e, std::string_view group, std::string* out);

}  // namespace syncached::engine
