// net: moves bytes between TCP/unix sockets and a Handler; knows nothing of memcached.
//
// Threads. Server::Start spawns Options::threads workers, each with its own epoll set. Every
// listener is registered in every worker's epoll with EPOLLEXCLUSIVE, so the kernel wakes one
// idle worker per new connection and that worker owns the connection until it closes: no
// accept thread, no hand-off queue. Handler callbacks for a connection run only on its worker.
//
// Why our own reactor (not libevent/asio/io_uring): the request path is read -> OnData -> one
// write, and a level-triggered loop built for it pays the fewest syscalls: it reads again only
// if a read filled the buffer (no EAGAIN read per request, which memcached pays), sends a
// batch's replies with one send/sendmsg, and calls epoll_ctl only when output backs up or
// drains. Idle connections cost no CPU (no per-connection timers). No dependency, ~1.3k lines.
// Measured alternatives (docs/PERFORMANCE.md): io_uring (one io_uring_enter per turn for all
// recvs and sends, DEFER_TASKRUN) cost 5-8 % more CPU per request than epoll in the same
// minimal server; edge-triggered epoll saved about 1 % at 16 busy connections but cost 5 %
// pipelined, and needs every path that stops reading early to come back by itself.
//
// Memory. Input buffer: read_chunk, grown while one request needs more, shrunk once idle. A
// peer that does not read its replies is not read either once unsent output reaches
// output_high_water (~high water + one reply per connection); its kernel buffers fill and it
// blocks. Writes use MSG_NOSIGNAL, so SIGPIPE never needs ignoring.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

struct ssl_st;  // OpenSSL's SSL

namespace syncached::net {

// Client TLS, as memcached's -Z and -o ssl_* (net/tls.h). Values are OpenSSL's constants,
// which memcached also stores and prints in `stats settings`.
struct TlsOptions {
  bool enabled = false;
  std::string chain_cert;      // PEM certificate chain
  std::string key;             // private key; empty: the key is in chain_cert
  int key_format = 1;          // SSL_FILETYPE_PEM (1) or SSL_FILETYPE_ASN1 (2)
  int verify_mode = 0;         // SSL_VERIFY_* bits (memcached's 0..3 become 0, 1, 3, 7)
  std::string ca_cert;         // PEM file of acceptable client CAs; empty: none
  std::string ciphers;         // TLS 1.2 cipher list; empty: OpenSSL's default
  int min_version = 0x0303;    // TLS1_2_VERSION
  bool session_cache = false;  // server-side session cache (resumption)
  bool kernel_tls = false;     // SSL_OP_ENABLE_KTLS
};

struct Options {
  // "host", "host:port", "[v6]", "[v6]:port" or a bare v6 literal; a hostname binds all its
  // addresses. Empty = 0.0.0.0 and :: (the latter skipped if the host has no IPv6). With TLS
  // on, a "notls:" prefix makes that listener plain (memcached's -l notls:<ip>:<port>).
  std::vector<std::string> listen;
  // 0 with unix_path set: no TCP (memcached -s). 0 without: an ephemeral port (bound_port()).
  uint16_t port = 11211;
  bool tcp = true;        // false: no TCP listener at all (memcached -p 0)
  std::string unix_path;  // unix socket path (a stale socket file is replaced)
  int unix_mask = 0700;   // its permissions (memcached -a)
  int threads = 4;        // workers, each with its own epoll
  int max_conns = 1024;   // open client connections, all workers together
  int listen_backlog = 1024;
  size_t read_chunk = 16384;           // initial input buffer per connection
  size_t output_high_water = 1 << 20;  // see Handler::OnData
  std::string reject_message;          // sent (then close) to a connection over max_conns
  uint32_t idle_timeout_secs = 0;      // close connections idle this long (0: never)
  // Server::Stop: the longest a held connection (Connection::Hold) is still waited for.
  uint32_t stop_hold_grace_ms = 1000;
  // TCP listeners speak TLS when enabled (not the unix socket, not "notls:" ones).
  TlsOptions tls;
};

// Why a connection closed, as known in Handler::OnClose.
enum class CloseReason : uint8_t {
  kRequested,      // the handler called CloseAfterWrite/CloseNow (it knows why)
  kPeerClosed,     // end of stream or hangup from the peer
  kError,          // a read/write/socket error, or an exception in a callback
  kIdleTimeout,    // Options::idle_timeout_secs
  kStopped,        // Server::Stop
  kConnectFailed,  // an outgoing connection (Connect) was never established: nothing was sent
};

// One client connection. Lives on one worker thread; only that thread (its Handler callbacks
// and tasks Post()ed to that worker) may touch it. The reference is valid until OnClose returns.
class Connection {
 public:
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Append reply bytes. Sent after each OnData call (one write for the batch).
  std::string& out() { return out_; }
  // In OnData: how many more bytes out() may take before the connection's unsent output
  // (out() and what an earlier write left) reaches output_high_water. A handler that makes
  // much output stops there; OnData comes again once the output drains.
  size_t out_room() const { return out_room_; }
  void CloseAfterWrite();  // stop calling OnData, send pending output, then close
  void CloseNow();         // close without sending pending output
  // Outside OnData (e.g. in a Post()ed task): send out() now and present unconsumed input to
  // OnData again. Not needed (and ignored) inside Handler callbacks.
  void Wake();
  // Inside OnData: the handler stopped early to be fair to other connections (memcached's
  // -R); the unconsumed input is presented again after this turn's other events.
  void Yield();
  // Inside OnData: this turn's output leaves at the end of the worker's turn, after
  // Handler::OnLoopEnd returned false, instead of after this call; so a handler can do
  // once per turn, for every connection it served, what must precede their replies (the
  // journal's write). False, and nothing deferred, when it cannot (output at high water,
  // the server stopping): then the output leaves as usual.
  bool DeferOutput();
  bool closing() const { return close_after_write_ || close_now_; }
  // For output made without input (memcached's watch): asks for one Handler::OnDrain call
  // on this connection's worker once its unsent output is below output_high_water (on the
  // worker's next turn if it already is). Call from the worker (a Post()ed task, a callback).
  void WantDrain();
  // Exempts the connection from Options::idle_timeout_secs (it only receives).
  void SetNoIdleTimeout() { no_idle_timeout_ = true; }
  bool no_idle_timeout() const { return no_idle_timeout_; }
  // Valid in OnClose: the first cause of the close.
  CloseReason close_reason() const { return close_reason_; }

  // Output hold, for replies that may leave only once something else has happened (memcached
  // parks such a connection in a waiting state). While held: pending output stays unsent (new
  // output queues behind it), OnData is not called, and the socket is not read (input already
  // buffered is kept; the rest waits in the kernel). The worker serves its other connections
  // meanwhile. Release() lifts the hold: the output is sent and unconsumed input presented to
  // OnData again. If timeout_ms passes first, Handler::OnHoldExpired runs; the hold is lifted
  // after it unless it called Hold() again or closed the connection. Hold() on a held
  // connection only moves its deadline. Inside this connection's callbacks, in a Post()ed task
  // or in Handler::OnWake on its worker. On Server::Stop a held connection gets at most
  // Options::stop_hold_grace_ms more (its hold then expires early), then it is closed.
  void Hold(uint32_t timeout_ms);
  void Release();
  bool held() const { return held_; }

  uint64_t id() const { return id_; }  // unique per Server, never reused
  int fd() const { return fd_; }
  bool tls() const { return ssl_ != nullptr; }
  bool outgoing() const { return outgoing_; }        // made by Connect, not accepted
  int worker() const { return worker_index_; }       // for Server::Post
  const std::string& peer() const { return peer_; }  // "127.0.0.1:5555", "[::1]:5555", "unix"
  // Coarse unix seconds of the last OnData call (or of accept).
  uint32_t last_active() const { return last_active_.load(std::memory_order_relaxed); }

  void* user = nullptr;  // the handler's per-connection state; net never touches it

 protected:
  Connection() = default;
  ~Connection() = default;

  std::string out_;
  size_t out_room_ = SIZE_MAX;  // set by the worker before each OnData
  uint64_t id_ = 0;
  int fd_ = -1;
  int worker_index_ = 0;
  std::string peer_;
  bool close_after_write_ = false;
  bool close_now_ = false;
  bool held_ = false;
  bool no_idle_timeout_ = false;
  bool close_reason_known_ = false;
  bool outgoing_ = false;
  ::ssl_st* ssl_ = nullptr;  // OpenSSL's SSL, on a TLS listener's connection
  CloseReason close_reason_ = CloseReason::kError;
  // Records why, the first time a close is decided.
  void NoteClose(CloseReason r) {
    if (close_reason_known_) return;
    close_reason_known_ = true;
    close_reason_ = r;
  }
  std::atomic<uint32_t> last_active_{0};
};

// An outgoing TCP connection owned by the calling worker, for a handler that relays
// requests to another server without blocking its worker. Call only on a worker thread
// (inside a Handler callback or a Post()ed task). The connect does not block: output
// appended at once is sent when it completes (Wake() the connection after appending, as
// outside its own callbacks). From then on it is driven as an accepted connection, with
// the same Handler (tell them apart by outgoing() or user), except that OnOpen is not
// called, it is not counted in curr_connections or listed in Connections(), and it has
// no idle timeout. A connect that fails later closes it with kConnectFailed. Null with
// errno when the socket cannot be made or the connect fails at once.
Connection* Connect(const sockaddr* addr, socklen_t addr_len, void* user);

// Called on the connection's worker thread; must not block. Exceptions escaping a callback
// close that connection (and are logged).
class Handler {
 public:
  virtual ~Handler() = default;
  virtual void OnOpen(Connection&) {}
  // Gets all unconsumed input; returns how many bytes were consumed (a prefix). The rest is
  // kept and presented again, with any new bytes appended, when:
  //  - more bytes arrive, or
  //  - the handler stopped with unsent output >= output_high_water: it is re-presented as
  //    soon as output drains below high water, even if no new bytes came, or
  //  - Connection::Wake() is called.
  // So a handler that needs more bytes returns what it has consumed; a handler producing a
  // lot of output should stop once c.out().size() exceeds output_high_water.
  // Not called while closing(), while held() or while unsent output >= output_high_water.
  virtual size_t OnData(Connection& c, std::string_view input) = 0;
  // A Connection::Hold() timed out; the connection is still open and held. Typically the
  // handler either lets the output go (Release(), or nothing) or drops it (CloseNow()).
  virtual void OnHoldExpired(Connection&) {}
  // Runs on worker `worker`'s thread after Server::WakeWorker(worker); see there.
  virtual void OnWake(int /*worker*/) {}
  // Runs on each worker once it handled what one wake-up brought, before it waits for
  // more: for work batched over those callbacks (one fsync for all their changes). True
  // when it released or woke connections: they are served, and it runs again, before
  // the worker waits.
  virtual bool OnLoopEnd(int /*worker*/) { return false; }
  // After Connection::WantDrain, once unsent output is below output_high_water: append
  // more output. Not called while closing().
  virtual void OnDrain(Connection&) {}
  // Exactly once per opened connection (peer close, error, CloseNow, CloseAfterWrite, Stop).
  // held() still tells whether its output was held (that output is dropped).
  virtual void OnClose(Connection&) {}
};

struct Stats {  // named as memcached's stats
  uint64_t curr_connections = 0, total_connections = 0, rejected_connections = 0;
  uint64_t bytes_read = 0, bytes_written = 0;
  uint64_t listen_disabled_num = 0;  // times accept hit EMFILE/ENFILE and paused
  uint64_t idle_kicks = 0;           // connections closed for idling past idle_timeout_secs
  uint32_t threads = 0;
  bool accepting_conns = true;
  // With TLS (memcached's names): failed handshakes, sessions made for the session cache,
  // and the unix time the certificates were last (re)loaded.
  uint64_t ssl_handshake_errors = 0, ssl_new_sessions = 0;
  uint32_t ssl_cert_loaded_at = 0;
};

// One line of "stats conns". Listening sockets come first (state "conn_listening", id 0).
struct ConnInfo {
  uint64_t id = 0;
  int fd = -1;
  std::string peer;         // clients as Connection::peer(); listeners "0.0.0.0:11211", unix path
  std::string listen_addr;  // clients: the listener's name, as peer is for listeners
  const char* state = "";   // static: conn_{listening,waiting,read,nread,parse_cmd,...}
  uint32_t idle_secs = 0;
  bool unix_socket = false;
};

// Owns listeners and workers. Handler must outlive the Server (or the return of Stop()).
class Server {
 public:
  Server(Options options, Handler* handler);
  ~Server();  // Stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds all addresses (SO_REUSEADDR) without listening: connections are refused, but the
  // ports are taken, so a port another server listens on fails a start at once rather
  // than after a long catch-up, and no outgoing connection takes the port meanwhile. Optional;
  // Start() binds if Bind() was not called. On failure nothing is left open and the Status names
  // the address.
  Status Bind();
  // Listens and starts the workers. On failure nothing is left open. Call once.
  Status Start();
  // Stops accepting, closes every connection (OnClose on its worker), joins the workers.
  // Idempotent; callable from any thread but a signal handler. Called from a worker thread
  // (inside a callback) it only requests the stop; Wait() or another thread's Stop() finishes.
  void Stop();
  void Wait();  // blocks until a Stop() has completed (finishing it if only requested)

  Stats GetStats() const;                     // any thread; relaxed counters summed
  std::vector<ConnInfo> Connections() const;  // any thread; a snapshot
  void SetAccepting(bool on);  // pause/resume accepting; applied on each worker's next turn
  // Reloads the TLS certificate, key and CA files into a new context that new connections
  // use (open ones keep theirs). Any thread. On failure the old context stays and the
  // Status carries memcached's message ("Error loading the certificate chain: ...").
  Status ReloadTls();
  uint16_t bound_port() const;  // the first TCP listener's port (0 if none)
  int threads() const;
  // Runs fn on worker `worker`'s thread soon (in order, after that turn's events). Dropped
  // if the server is stopped (or worker is out of range).
  void Post(int worker, std::function<void()> fn);
  // Calls Handler::OnWake(worker) on that worker's thread soon. Any thread; no lock and no
  // allocation: an atomic flag and, unless a wake is already pending, one eventfd write, so
  // wakes coalesce. Unlike Post it still works while a stopping worker waits for its held
  // connections (Options::stop_hold_grace_ms). Ignored before Start and for a bad index.
  void WakeWorker(int worker);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace syncached::net
