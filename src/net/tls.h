// Client TLS (memcached -Z): the shared SSL_CTX and one connection's TLS I/O. Internal to net.
//
// A TLS connection's SSL works directly on its non-blocking socket (a socket BIO; the process
// ignores SIGPIPE). The worker's loop stays as it is: Conn::WriteOnce and the read in
// HandleRead branch once on Conn::ssl_ to the functions below, which map OpenSSL's
// WANT_READ/WANT_WRITE onto EAGAIN. The handshake needs no state of its own: SSL_read drives
// it (SSL_set_accept_state). Reads use read-ahead (one recv per burst of records instead
// of two per record), so bytes OpenSSL buffered must be drained before epoll is asked
// again (Conn::tls_more_). Writes use partial-write mode: SSL_write returns after each
// record, and a retry after WANT_WRITE presents the same unsent bytes again (moving buffers
// allowed), which is what Conn's output buffers do anyway.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "common/status.h"
#include "net/net.h"

namespace syncached::net {

class Conn;

// The process's SSL_CTX. Reload builds a whole new context and swaps it in under a mutex
// (taken once per TLS accept); connections hold a reference to the one they started with.
class TlsContext {
 public:
  explicit TlsContext(TlsOptions opts) : opts_(std::move(opts)) {}
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  Status Load();                 // (re)builds the context from the files; keeps the old on error
  SSL* NewSsl(int fd, Conn* c);  // a server-side SSL on c's socket fd, or null (logged)
  void AddStats(Stats* s) const;

  // Counted from callbacks and workers.
  void CountHandshakeError() { handshake_errors_.fetch_add(1, std::memory_order_relaxed); }
  void CountNewSession() { new_sessions_.fetch_add(1, std::memory_order_relaxed); }

 private:
  Result<SSL_CTX*> Build() const;
  Status LoadCertificates(SSL_CTX* ctx) const;

  const TlsOptions opts_;
  std::mutex mu_;
  SSL_CTX* ctx_ = nullptr;  // guarded by mu_
  std::atomic<uint64_t> handshake_errors_{0}, new_sessions_{0};
  std::atomic<uint32_t> loaded_at_{0};
};

// Plaintext read on a TLS connection, as recv: > 0 bytes, 0 the peer closed (close_notify or
// end of stream), -1 with errno EAGAIN (sets c->tls_read_wants_write_ if the handshake must
// write first) or another errno for a fatal error (a failed handshake is counted).
ssize_t TlsRead(Conn* c, void* buf, size_t n);
// Sends a close_notify if the session is healthy (best effort, never waits) and frees it.
void TlsClose(Conn* c);

}  // namespace syncached::net
