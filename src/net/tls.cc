#include "net/tls.h"

#include <openssl/err.h>
#include <sys/uio.h>

#include <cerrno>
#include <climits>
#include <ctime>

#include "common/log.h"
#include "net/conn.h"

namespace syncached::net {
namespace {

// memcached's SESSION_ID_CONTEXT: session resumption is scoped to this application.
constexpr char kSessionIdContext[] = "memcached";

// The oldest queued OpenSSL error as text (memcached's print_ssl_error); logs and drops the
// rest, as memcached's ERR_print_errors_fp does.
std::string TakeSslError() {
  char buf[256] = "";
  if (unsigned long err = ERR_get_error()) ERR_error_string_n(err, buf, sizeof buf);
  while (unsigned long more = ERR_get_error()) {
    char line[256];
    ERR_error_string_n(more, line, sizeof line);
    SC_LOG(kWarn, "tls: %s", line);
  }
  return buf;
}

const char* OrNull(const std::string& s) { return s.empty() ? "(null)" : s.c_str(); }

// Marks the connection's handshake done (SSL_is_init_finished also turns false while a
// TLS 1.3 session reads post-handshake messages, so it cannot tell a failed handshake).
void OnInfo(const SSL* ssl, int where, int) {
  if (!(where & SSL_CB_HANDSHAKE_DONE)) return;
  if (auto* c = static_cast<Conn*>(SSL_get_app_data(ssl))) c->tls_established_ = true;
}

int OnNewSession(SSL* ssl, SSL_SESSION*) {
  auto* tc = static_cast<TlsContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (tc) tc->CountNewSession();
  return 0;  // OpenSSL keeps its own reference
}

}  // namespace

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

// memcached's load_server_certificates, with its messages.
Status TlsContext::LoadCertificates(SSL_CTX* ctx) const {
  // memcached needs ssl_key; its --help says the key may be in the chain file, so allow that.
  const std::string& key = opts_.key.empty() ? opts_.chain_cert : opts_.key;
  if (!SSL_CTX_use_certificate_chain_file(ctx, opts_.chain_cert.c_str())) {
    return Status::Invalid("Error loading the certificate chain: " +
                           std::string(OrNull(opts_.chain_cert)) + " : " + TakeSslError());
  }
  if (!SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), opts_.key_format)) {
    return Status::Invalid("Error loading the key: " + std::string(OrNull(key)) + " : " +
                           TakeSslError());
  }
  if (!SSL_CTX_check_private_key(ctx)) {
    return Status::Invalid("Error validating the certificate: " + TakeSslError());
  }
  if (!opts_.ca_cert.empty()) {
    if (!SSL_CTX_load_verify_locations(ctx, opts_.ca_cert.c_str(), nullptr)) {
      return Status::Invalid("Error loading the CA certificate: " + opts_.ca_cert + " : " +
                             TakeSslError());
    }
    SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(opts_.ca_cert.c_str()));
  }
  return Status::Ok();
}

// memcached's ssl_init, plus the modes our non-blocking buffers rely on.
Result<SSL_CTX*> TlsContext::Build() const {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return Status::Io("SSL_CTX_new: " + TakeSslError());
  SSL_CTX_set_app_data(ctx, const_cast<TlsContext*>(this));
  SSL_CTX_set_min_proto_version(ctx, opts_.min_version);
  Status st = LoadCertificates(ctx);
  if (st.ok() && !opts_.ciphers.empty() && !SSL_CTX_set_cipher_list(ctx, opts_.ciphers.c_str())) {
    ERR_clear_error();
    st = Status::Invalid("Error setting the provided cipher(s): " + opts_.ciphers);
  }
  if (!st.ok()) {
    SSL_CTX_free(ctx);
    return st;
  }
  SSL_CTX_set_verify(ctx, opts_.verify_mode, nullptr);
  SSL_CTX_set_info_callback(ctx, OnInfo);
  if (opts_.session_cache) {
    SSL_CTX_sess_set_new_cb(ctx, OnNewSession);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char*>(kSessionIdContext),
                                   sizeof kSessionIdContext - 1);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  if (opts_.kernel_tls) SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_read_ahead(ctx, 1);
  return ctx;
}

Status TlsContext::Load() {
  auto built = Build();
  if (!built) return built.error();
  SSL_CTX* old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = ctx_;
    ctx_ = *built;
  }
  SSL_CTX_free(old);  // reference counted: connections made from it keep it alive
  loaded_at_.store(static_cast<uint32_t>(time(nullptr)), std::memory_order_relaxed);
  return Status::Ok();
}

SSL* TlsContext::NewSsl(int fd, Conn* c) {
  SSL* ssl;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ssl = ctx_ ? SSL_new(ctx_) : nullptr;
  }
  if (!ssl || !SSL_set_fd(ssl, fd)) {
    SC_LOG(kWarn, "tls: cannot make a session: %s", TakeSslError().c_str());
    SSL_free(ssl);
    return nullptr;
  }
  SSL_set_app_data(ssl, c);
  SSL_set_accept_state(ssl);
  return ssl;
}

void TlsContext::AddStats(Stats* s) const {
  s->ssl_handshake_errors = handshake_errors_.load(std::memory_order_relaxed);
  s->ssl_new_sessions = new_sessions_.load(std::memory_order_relaxed);
  s->ssl_cert_loaded_at = loaded_at_.load(std::memory_order_relaxed);
}

ssize_t TlsRead(Conn* c, void* buf, size_t n) {
  SSL* ssl = c->ssl();
  int r = SSL_read(ssl, buf, static_cast<int>(std::min<size_t>(n, INT_MAX)));
  if (r > 0) {
    c->tls_more_ = SSL_has_pending(ssl);  // buffered by read-ahead: epoll will not say
    return r;
  }
  c->tls_more_ = false;
  int err = SSL_get_error(ssl, r);
  int saved_errno = errno;
  switch (err) {
    case SSL_ERROR_WANT_READ:
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_WANT_WRITE:
      c->tls_read_wants_write_ = true;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_ZERO_RETURN:  // close_notify
      return 0;
    default:
      break;
  }
  // A fatal error, or the stream ended without close_notify. A port probe that connects
  // and leaves before saying anything is not a failed handshake.
  bool handshake = !c->tls_established_;
  // OpenSSL 3 reports an end of stream without close_notify as an SSL error of its own.
  unsigned long first = ERR_peek_error();
  bool silent_eof = (err == SSL_ERROR_SYSCALL && saved_errno == 0 && first == 0) ||
                    (err == SSL_ERROR_SSL && ERR_GET_LIB(first) == ERR_LIB_SSL &&
                     ERR_GET_REASON(first) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
  bool nothing_read = BIO_number_read(SSL_get_rbio(ssl)) == 0;
  if (handshake && !(silent_eof && nothing_read)) {
    auto* tc = static_cast<TlsContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    if (tc) tc->CountHandshakeError();
    SC_LOG(kDebug, "tls handshake with %s failed: %s", c->peer().c_str(), TakeSslError().c_str());
  }
  ERR_clear_error();
  c->tls_failed_ = true;
  if (silent_eof && !handshake) return 0;  // treat as a close, answered like one
  errno = saved_errno != 0 && saved_errno != EAGAIN ? saved_errno : EPROTO;
  return -1;
}

// One SSL_write per record until the output is sent or the socket is full; bookkeeping as
// WriteOnce's (sending_ then out_).
ssize_t Conn::WriteTls() {
  size_t total = 0;
  while (pending_out() > 0) {
    size_t tail = sending_.size() - send_off_;
    const char* p = tail ? sending_.data() + send_off_ : out_.data();
    size_t len = tail ? tail : out_.size();
    int r = SSL_write(ssl_, p, static_cast<int>(std::min<size_t>(len, INT_MAX)));
    if (r <= 0) {
      int err = SSL_get_error(ssl_, r);
      if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        if (total > 0) return static_cast<ssize_t>(total);
        errno = EAGAIN;
        return -1;
      }
      int saved_errno = errno;
      ERR_clear_error();
      tls_failed_ = true;
      errno = saved_errno != 0 && saved_errno != EAGAIN ? saved_errno : EPIPE;
      return -1;
    }
    size_t n = static_cast<size_t>(r);
    total += n;
    if (tail) {
      send_off_ += n;
      if (send_off_ == sending_.size()) {
        sending_.clear();
        send_off_ = 0;
      }
    } else if (n == out_.size()) {
      out_.clear();
    } else {
      KeepUnsent(n);
    }
  }
  return static_cast<ssize_t>(total);
}

void TlsClose(Conn* c) {
  SSL* ssl = c->ssl();
  if (!ssl) return;
  // SSL_shutdown must not follow a fatal error; on a healthy session it queues our
  // close_notify and sends what the socket takes now.
  if (!c->tls_failed_ && c->tls_established_) SSL_shutdown(ssl);
  ERR_clear_error();
  SSL_free(ssl);
  c->set_ssl(nullptr);
}

}  // namespace syncached::net
