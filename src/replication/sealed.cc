#include "replication/sealed.h"

#include <sodium.h>

#include <cstring>

#include "common/bytes.h"

namespace syncached::replication {
namespace {

constexpr uint8_t kMagic = 'S';
constexpr uint8_t kVersion = 1;
constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
static_assert(kNonce == 24 && kTag == 16, "kFrameOverhead assumes these");

std::string EncodeHeader(const FrameHeader& h) {
  std::string out;
  out.reserve(kFrameHeaderBytes);
  bytes::Put8(&out, kMagic);
  bytes::Put8(&out, kVersion);
  bytes::Put8(&out, static_cast<uint8_t>(h.kind));
  bytes::Put64(&out, h.cluster);
  bytes::Put16(&out, h.node);
  bytes::Put64(&out, h.run);
  bytes::Put64(&out, h.first_seq);
  bytes::Put32(&out, h.count);
  return out;
}

}  // namespace

uint64_t ClusterTag(std::string_view cluster_name) {
  unsigned char out[8];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(cluster_name.data()),
                     cluster_name.size(), nullptr, 0);
  uint64_t tag = 0;
  for (int i = 0; i < 8; ++i) tag |= uint64_t{out[i]} << (8 * i);
  return tag;
}

FrameKey::FrameKey(std::string_view secret, std::string_view cluster_name, uint16_t node,
                   uint64_t run, std::string_view domain) {
  if (sodium_init() < 0) abort();  // no entropy source: nothing can be sealed safely
  std::string material(domain);
  material.push_back('\0');
  material.append(cluster_name);
  material.push_back('\0');
  bytes::Put16(&material, node);
  bytes::Put64(&material, run);
  crypto_generichash_state st;
  crypto_generichash_init(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                          std::min<size_t>(secret.size(), crypto_generichash_KEYBYTES_MAX),
                          sizeof key_);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(material.data()),
                            material.size());
  crypto_generichash_final(&st, key_, sizeof key_);
  sodium_memzero(&st, sizeof st);
}

FrameKey::~FrameKey() { sodium_memzero(key_, sizeof key_); }

std::string SealFrame(const FrameKey& key, const FrameHeader& h, std::string_view payload) {
  unsigned char nonce[kNonce];
  randombytes_buf(nonce, kNonce);  // random: 192 bits never repeat in practice
  return SealFrame(key, h, payload, nonce);
}

std::string SealFrame(const FrameKey& key, const FrameHeader& h, std::string_view payload,
                      const unsigned char* nonce) {
  std::string out = EncodeHeader(h);
  size_t header = out.size();
  out.resize(header + kNonce + payload.size() + kTag);
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  std::memcpy(p + header, nonce, kNonce);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      p + header + kNonce, &clen, reinterpret_cast<const unsigned char*>(payload.data()),
      payload.size(), p, header, nullptr, p + header, key.bytes());
  out.resize(header + kNonce + clen);
  return out;
}

bool PeekFrame(std::string_view frame, FrameHeader* h) {
  if (frame.size() < kFrameOverhead) return false;
  bytes::Reader r(frame);
  uint8_t magic = 0, version = 0, kind = 0;  // else GCC (ASan build): maybe-uninitialized
  if (!r.U8(&magic) || !r.U8(&version) || !r.U8(&kind)) return false;
  if (magic != kMagic || version != kVersion) return false;
  if (kind != static_cast<uint8_t>(FrameKind::kBatch) &&
      kind != static_cast<uint8_t>(FrameKind::kHeartbeat) &&
      kind != static_cast<uint8_t>(FrameKind::kLane)) {
    return false;
  }
  h->kind = static_cast<FrameKind>(kind);
  if (!r.U64(&h->cluster) || !r.U16(&h->node) || !r.U64(&h->run) || !r.U64(&h->first_seq) ||
      !r.U32(&h->count)) {
    return false;
  }
  if (h->kind == FrameKind::kHeartbeat && h->count != 0) return false;
  if (h->first_seq > UINT64_MAX - h->count) return false;
  return true;
}

bool OpenFrame(const FrameKey& key, std::string_view frame, std::string* payload) {
  if (frame.size() < kFrameOverhead) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(frame.data());
  size_t clen = frame.size() - kFrameHeaderBytes - kNonce;
  payload->resize(clen - kTag);
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(payload->data()),
                                                 &mlen, nullptr, p + kFrameHeaderBytes + kNonce,
                                                 clen, p, kFrameHeaderBytes, p + kFrameHeaderBytes,
                                                 key.bytes()) != 0) {
    payload->clear();
    return false;
  }
  payload->resize(mlen);
  return true;
}

}  // namespace syncached::replication
