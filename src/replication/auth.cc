// Peer authentication: every node derives the same CURVE key pair from the cluster
// secret (libsodium's seeded key pair over a keyed BLAKE2b hash of secret and cluster
// name), serves CURVE with it, and a ZAP handler admits only clients presenting that
// same public key. A peer with another secret fails the handshake; one with the
// right secret but another cluster name derives other keys and fails too.
#include <sodium.h>
#include <zmq.h>

#include <cstring>
#include <string>

#include "common/log.h"
#include "replication/impl.h"

namespace syncached::replication {

bool DeriveKeys(const std::string& secret, const std::string& cluster, CurveKeys* keys) {
  if (sodium_init() < 0) return false;
  unsigned char seed[crypto_box_SEEDBYTES];
  std::string material = "syncached-cluster-v1:" + cluster;
  crypto_generichash_state st;
  if (crypto_generichash_init(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                              std::min<size_t>(secret.size(), crypto_generichash_KEYBYTES_MAX),
                              sizeof seed) != 0) {
    return false;
  }
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(material.data()),
                            material.size());
  // Secrets longer than the hash key size still count in full.
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                            secret.size());
  crypto_generichash_final(&st, seed, sizeof seed);
  sodium_memzero(&st, sizeof st);  // keyed with the secret
  int rc = crypto_box_seed_keypair(keys->public_key, keys->secret_key, seed);
  sodium_memzero(seed, sizeof seed);
  return rc == 0;
}

std::string DeriveMulticastSecret(const std::string& secret, const std::string& cluster) {
  if (sodium_init() < 0) return {};
  std::string out(32, '\0');
  std::string material = "syncached-multicast-v1:" + cluster;
  crypto_generichash_state st;
  if (crypto_generichash_init(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                              std::min<size_t>(secret.size(), crypto_generichash_KEYBYTES_MAX),
                              out.size()) != 0) {
    return {};
  }
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(material.data()),
                            material.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                            secret.size());
  crypto_generichash_final(&st, reinterpret_cast<unsigned char*>(out.data()), out.size());
  sodium_memzero(&st, sizeof st);
  return out;
}

namespace {
std::string Recv(void* sock, bool* more) {
  zmq_msg_t m;
  zmq_msg_init(&m);
  int n = zmq_msg_recv(&m, sock, 0);
  std::string s =
      n >= 0 ? std::string(static_cast<char*>(zmq_msg_data(&m)), zmq_msg_size(&m)) : std::string();
  *more = n >= 0 && zmq_msg_more(&m);
  zmq_msg_close(&m);
  return s;
}
void Send(void* sock, const std::string& s, bool more) {
  zmq_send(sock, s.data(), s.size(), more ? ZMQ_SNDMORE : 0);
}
}  // namespace

// ZAP (RFC 27) over inproc: request frames version, request id, domain, address,
// identity, mechanism, credentials...; reply version, request id, status code, text,
// user id, metadata.
void RunZapHandler(void* ctx, const std::string& public_key, std::atomic<bool>* stop,
                   std::atomic<uint64_t>* failures) {
  void* rep = zmq_socket(ctx, ZMQ_REP);
  int linger = 0;
  zmq_setsockopt(rep, ZMQ_LINGER, &linger, sizeof linger);
  if (zmq_bind(rep, "inproc://zeromq.zap.01") != 0) {
    SC_LOG(kError, "replication: cannot start the ZAP handler: %s", zmq_strerror(zmq_errno()));
    zmq_close(rep);
    return;
  }
  while (!*stop) {
    zmq_pollitem_t item{rep, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, 200) <= 0) continue;
    std::vector<std::string> frames;
    bool more = true;
    while (more) frames.push_back(Recv(rep, &more));
    if (frames.size() < 6) continue;
    const std::string& request_id = frames[1];
    const std::string& address = frames[3];
    bool ok = frames[5] == "CURVE" && frames.size() >= 7 && frames[6].size() == 32 &&
              public_key.size() == 32 && frames[6] == public_key;
    if (!ok) {
      ++*failures;
      SC_LOG(kWarn, "replication: refused peer %s: it does not hold this cluster's secret",
             address.c_str());
    }
    Send(rep, "1.0", true);
    Send(rep, request_id, true);
    Send(rep, ok ? "200" : "400", true);
    Send(rep, ok ? "OK" : "unknown key", true);
    Send(rep, "", true);
    Send(rep, "", false);
  }
  zmq_close(rep);
}

}  // namespace syncached::replication
