#include "repair/wire.h"

#include "common/bytes.h"

namespace syncached::repair {
namespace {

using bytes::Put16;
using bytes::Put32;
using bytes::Put64;
using bytes::Put8;
using bytes::Reader;

bool ValidBits(uint8_t bits) {
  return bits >= Digests::kMinBits && bits <= Digests::kMaxBits && bits % 4 == 0;
}

}  // namespace

bool PeekType(std::string_view msg, MsgType* type) {
  if (msg.empty()) return false;
  auto t = static_cast<uint8_t>(msg[0]);
  if (t < 1 || t > 3) return false;
  *type = static_cast<MsgType>(t);
  return true;
}

std::string EncodeHashes(const HashesMsg& m) {
  std::string out;
  out.reserve(7 + 12 * m.nodes.size());
  Put8(&out, static_cast<uint8_t>(MsgType::kHashes));
  Put8(&out, static_cast<uint8_t>(m.bits));
  Put8(&out, static_cast<uint8_t>(m.level));
  Put32(&out, static_cast<uint32_t>(m.nodes.size()));
  for (const auto& [index, hash] : m.nodes) {
    Put32(&out, index);
    Put64(&out, hash);
  }
  return out;
}

bool DecodeHashes(std::string_view msg, HashesMsg* m) {
  Reader r(msg);
  uint8_t type, bits, level;
  uint32_t n;
  if (!r.U8(&type) || type != static_cast<uint8_t>(MsgType::kHashes)) return false;
  if (!r.U8(&bits) || !ValidBits(bits) || !r.U8(&level) || level > bits / 4) return false;
  if (!r.U32(&n) || r.left() != size_t{n} * 12) return false;
  m->bits = bits;
  m->level = level;
  m->nodes.clear();
  m->nodes.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t index = 0;
    uint64_t hash = 0;
    if (!r.U32(&index) || !r.U64(&hash)) return false;  // cannot fail: size checked above
    m->nodes.emplace_back(index, hash);
  }
  return true;
}

size_t KeysBucketBytes(const BucketKeys& b) {
  size_t n = 10;
  for (const KeyVersion& k : b.keys) n += 2 + k.key.size() + 11;
  return n;
}

std::string EncodeKeys(const KeysMsg& m) {
  std::string out;
  Put8(&out, static_cast<uint8_t>(MsgType::kKeys));
  Put8(&out, static_cast<uint8_t>(m.bits));
  Put8(&out, m.last ? 1 : 0);
  Put32(&out, static_cast<uint32_t>(m.buckets.size()));
  for (const BucketKeys& b : m.buckets) {
    Put8(&out, static_cast<uint8_t>(b.level));
    Put32(&out, b.index);
    Put8(&out, b.evicted ? 1 : 0);
    Put32(&out, static_cast<uint32_t>(b.keys.size()));
    for (const KeyVersion& k : b.keys) {
      Put16(&out, static_cast<uint16_t>(k.key.size()));
      out.append(k.key);
      Put64(&out, k.version.hlc);
      Put16(&out, k.version.node);
      Put8(&out, k.tombstone ? 1 : 0);
    }
  }
  return out;
}

bool DecodeKeys(std::string_view msg, KeysMsg* m) {
  Reader r(msg);
  uint8_t type, bits, last;
  uint32_t n;
  if (!r.U8(&type) || type != static_cast<uint8_t>(MsgType::kKeys)) return false;
  if (!r.U8(&bits) || !ValidBits(bits) || !r.U8(&last) || last > 1) return false;
  // Each entry takes at least 10 bytes: a count past what is left is a lie.
  if (!r.U32(&n) || n > r.left() / 10) return false;
  m->bits = bits;
  m->last = last == 1;
  m->buckets.assign(n, {});
  for (BucketKeys& b : m->buckets) {
    uint8_t level, evicted;
    uint32_t count;
    if (!r.U8(&level) || level > bits / 4 || !r.U32(&b.index) ||
        b.index >= (1u << (bits - 4 * level)) || !r.U8(&evicted) || evicted > 1) {
      return false;
    }
    b.level = level;
    b.evicted = evicted == 1;
    if (!r.U32(&count) || count > r.left() / 13) return false;
    b.keys.resize(count);
    for (KeyVersion& k : b.keys) {
      uint16_t len;
      std::string_view key;
      uint8_t tomb;
      if (!r.U16(&len) || !r.Bytes(len, &key) || !r.U64(&k.version.hlc) ||
          !r.U16(&k.version.node) || !r.U8(&tomb) || tomb > 1) {
        return false;
      }
      k.key.assign(key);
      k.tombstone = tomb == 1;
    }
  }
  return r.left() == 0;
}

std::string EncodeWant(const std::vector<std::string>& keys) {
  std::string out;
  Put8(&out, static_cast<uint8_t>(MsgType::kWant));
  Put32(&out, static_cast<uint32_t>(keys.size()));
  for (const std::string& k : keys) {
    Put16(&out, static_cast<uint16_t>(k.size()));
    out.append(k);
  }
  return out;
}

bool DecodeWant(std::string_view msg, std::vector<std::string>* keys) {
  Reader r(msg);
  uint8_t type;
  uint32_t n;
  if (!r.U8(&type) || type != static_cast<uint8_t>(MsgType::kWant)) return false;
  if (!r.U32(&n) || n > r.left() / 2) return false;
  keys->clear();
  keys->reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    uint16_t len;
    std::string_view key;
    if (!r.U16(&len) || !r.Bytes(len, &key)) return false;
    keys->emplace_back(key);
  }
  return r.left() == 0;
}

}  // namespace syncached::repair
