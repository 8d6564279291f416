#include "encoder.h"

#include <cstring>
#include <utility>

namespace syncached::bench {
namespace {

void PutBe16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
}

void PutBe32(char* p, uint32_t v) {
  PutBe16(p, static_cast<uint16_t>(v >> 16));
  PutBe16(p + 2, static_cast<uint16_t>(v));
}

// Request header: magic, opcode, key length, extras length, data type,
// vbucket, total body length, opaque, cas.
void BinHeader(char* h, uint8_t op, size_t key_len, uint8_t extras, uint32_t body) {
  std::memset(h, 0, binproto::kHeaderLen);
  h[0] = static_cast<char>(binproto::kReqMagic);
  h[1] = static_cast<char>(op);
  PutBe16(h + 2, static_cast<uint16_t>(key_len));
  h[4] = static_cast<char>(extras);
  PutBe32(h + 8, body);
}

char* Put(char* out, const char* s, size_t n) {
  std::memcpy(out, s, n);
  return out + n;
}

}  // namespace

KeySpace::KeySpace(std::string prefix, uint32_t count)
    : prefix_(std::move(prefix)), count_(count), width_(1) {
  for (uint32_t max = count > 0 ? count - 1 : 0; max >= 10; max /= 10) ++width_;
}

KeySpace::KeySpace(std::vector<std::string> keys)
    : count_(static_cast<uint32_t>(keys.size())), width_(0), list_(std::move(keys)) {}

Encoder::Encoder(Proto proto, const KeySpace& keys, uint32_t value_size, bool multi)
    : proto_(proto), keys_(keys), value_size_(value_size), multi_(multi) {
  value_.resize(value_size + 2);
  for (uint32_t i = 0; i < value_size; ++i) {
    value_[i] = static_cast<char>("abcdefghijklmnopqrstuvwxyz0123456789"[i % 36]);
  }
  value_[value_size] = '\r';
  value_[value_size + 1] = '\n';
  std::string n = std::to_string(value_size);
  set_suffix_ = proto == Proto::kMeta ? " " + n + "\r\n" : " 0 0 " + n + "\r\n";
  size_t kl = keys.key_len();
  BinHeader(bin_get_, multi ? binproto::kOpGetKQ : binproto::kOpGetK, kl, 0,
            static_cast<uint32_t>(kl));
  BinHeader(bin_set_, binproto::kOpSet, kl, 8, static_cast<uint32_t>(8 + kl + value_size));
  std::memset(bin_set_ + binproto::kHeaderLen, 0, 8);
  BinHeader(bin_noop_, binproto::kOpNoop, 0, 0, 0);
  PutBe32(bin_noop_ + 12, 0xffffffffu);
}

size_t Encoder::MaxRequestSize(int max_keys) const {
  size_t kl = keys_.key_len();
  size_t per_key = kl + 16 + binproto::kHeaderLen;  // generous for every protocol
  size_t get = static_cast<size_t>(max_keys) * per_key + binproto::kHeaderLen + 8;
  size_t set = kl + set_suffix_.size() + value_.size() + sizeof(bin_set_) + 8;
  return get > set ? get : set;
}

size_t Encoder::EncodeGet(const uint32_t* keys, int n, char* out) const {
  const size_t kl = keys_.key_len();
  char* p = out;
  switch (proto_) {
    case Proto::kText:
      p = Put(p, "get", 3);
      for (int i = 0; i < n; ++i) {
        *p++ = ' ';
        keys_.Format(keys[i], p);
        p += kl;
      }
      p = Put(p, "\r\n", 2);
      break;
    case Proto::kMeta:
      // k: echo the key so hits can be matched to requests; q (multi only):
      // suppress misses (EN), the batch ends at the reply to "mn".
      for (int i = 0; i < n; ++i) {
        p = Put(p, "mg ", 3);
        keys_.Format(keys[i], p);
        p += kl;
        p = multi_ ? Put(p, " k v q\r\n", 8) : Put(p, " k v\r\n", 6);
      }
      if (multi_) p = Put(p, "mn\r\n", 4);
      break;
    case Proto::kBinary:
      // The opaque carries the key's position in the batch.
      for (int i = 0; i < n; ++i) {
        p = Put(p, bin_get_, sizeof(bin_get_));
        PutBe32(p - 12, static_cast<uint32_t>(i));
        keys_.Format(keys[i], p);
        p += kl;
      }
      if (multi_) p = Put(p, bin_noop_, sizeof(bin_noop_));
      break;
  }
  return static_cast<size_t>(p - out);
}

size_t Encoder::EncodeSet(uint32_t key, char* out) const {
  const size_t kl = keys_.key_len();
  char* p = out;
  switch (proto_) {
    case Proto::kText:
    case Proto::kMeta:
      p = proto_ == Proto::kText ? Put(p, "set ", 4) : Put(p, "ms ", 3);
      keys_.Format(key, p);
      p += kl;
      p = Put(p, set_suffix_.data(), set_suffix_.size());
      p = Put(p, value_.data(), value_.size());
      break;
    case Proto::kBinary:
      p = Put(p, bin_set_, sizeof(bin_set_));
      keys_.Format(key, p);
      p += kl;
      p = Put(p, value_.data(), value_size_);
      break;
  }
  return static_cast<size_t>(p - out);
}

}  // namespace syncached::bench
