// memcached's binary protocol on the wire: opcodes, status codes, the 24-byte header and
// the encoders engine writes replies with. Values and names follow memcached 1.6's
// binary protocol definitions and doc/protocol-binary.txt; the parser is ParseBinary
// (protocol.h).
//
// Request and response header (all integers big-endian; opaque is echoed byte for byte):
//
//   0        1        2        3        4        5        6        7
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//   | magic  | opcode |     key length  | extlen |datatype| vbucket/status  |
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//   |        total body length          |              opaque               |
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//   |                                  cas                                  |
//   +--------+--------+--------+--------+--------+--------+--------+--------+
//   then body = extras (extlen) + key (key length) + value (the rest)
//
// Threads: all functions are pure.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace syncached::protocol::binary {

inline constexpr uint8_t kRequestMagic = 0x80;
inline constexpr uint8_t kResponseMagic = 0x81;
inline constexpr size_t kHeaderSize = 24;
// memcached's MAX_SASL_MECH_LEN: a longer mechanism name is EINVAL.
inline constexpr size_t kMaxSaslMechLength = 32;

enum Opcode : uint8_t {
  kGet = 0x00,
  kSet = 0x01,
  kAdd = 0x02,
  kReplace = 0x03,
  kDelete = 0x04,
  kIncrement = 0x05,
  kDecrement = 0x06,
  kQuit = 0x07,
  kFlush = 0x08,
  kGetQ = 0x09,
  kNoop = 0x0a,
  kVersion = 0x0b,
  kGetK = 0x0c,
  kGetKQ = 0x0d,
  kAppend = 0x0e,
  kPrepend = 0x0f,
  kStat = 0x10,
  kSetQ = 0x11,
  kAddQ = 0x12,
  kReplaceQ = 0x13,
  kDeleteQ = 0x14,
  kIncrementQ = 0x15,
  kDecrementQ = 0x16,
  kQuitQ = 0x17,
  kFlushQ = 0x18,
  kAppendQ = 0x19,
  kPrependQ = 0x1a,
  kVerbosity = 0x1b,
  kTouch = 0x1c,
  kGat = 0x1d,
  kGatQ = 0x1e,
  kSaslListMechs = 0x20,
  kSaslAuth = 0x21,
  kSaslStep = 0x22,
  kGatK = 0x23,
  kGatKQ = 0x24,
};

enum Status : uint16_t {
  kSuccess = 0x00,
  kKeyEnoent = 0x01,
  kKeyEexists = 0x02,
  kE2big = 0x03,
  kEinval = 0x04,
  kNotStored = 0x05,
  kDeltaBadval = 0x06,
  kAuthError = 0x20,
  kAuthContinue = 0x21,
  kUnknownCommand = 0x81,
  kEnomem = 0x82,
  // Not sent by memcached 1.6; the binary spec's "temporary failure", which
  // libmemcached and other clients know (syncached: a replica still syncing).
  kTmpFail = 0x86,
};

// The binary protocol's table of error replies: the body text of each error status, as
// memcached's write_bin_error writes it when given no text of its own. Empty for kSuccess
// and kAuthContinue. Engine sends no other error text but NoMemoryMessage's.
const char* StatusMessage(uint16_t status);
// kEnomem where memcached names what failed: a store's item allocation
// (process_bin_update), an incr/decr's new value (complete_incr_bin).
enum class NoMemory : uint8_t { kAllocatingItem, kIncrementing };
const char* NoMemoryMessage(NoMemory what);

struct Header {
  uint8_t magic = 0;
  uint8_t opcode = 0;
  uint16_t keylen = 0;
  uint8_t extlen = 0;
  uint8_t datatype = 0;
  uint16_t vbucket = 0;  // status in a response
  uint32_t bodylen = 0;
  uint32_t opaque = 0;  // raw bytes, not byte-swapped: replies copy them back
  uint64_t cas = 0;
};

inline uint16_t LoadBE16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] << 8 | u[1]);
}
inline uint32_t LoadBE32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{u[0]} << 24 | uint32_t{u[1]} << 16 | uint32_t{u[2]} << 8 | u[3];
}
inline uint64_t LoadBE64(const char* p) { return uint64_t{LoadBE32(p)} << 32 | LoadBE32(p + 4); }

inline void AppendBE16(std::string* out, uint16_t v) {
  char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(b, 2);
}
inline void AppendBE32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out->append(b, 4);
}
inline void AppendBE64(std::string* out, uint64_t v) {
  AppendBE32(out, static_cast<uint32_t>(v >> 32));
  AppendBE32(out, static_cast<uint32_t>(v));
}

// Decodes the first kHeaderSize bytes of `in`; false when fewer are available.
inline bool DecodeHeader(std::string_view in, Header* h) {
  if (in.size() < kHeaderSize) return false;
  const char* p = in.data();
  h->magic = static_cast<uint8_t>(p[0]);
  h->opcode = static_cast<uint8_t>(p[1]);
  h->keylen = LoadBE16(p + 2);
  h->extlen = static_cast<uint8_t>(p[4]);
  h->datatype = static_cast<uint8_t>(p[5]);
  h->vbucket = LoadBE16(p + 6);
  h->bodylen = LoadBE32(p + 8);
  memcpy(&h->opaque, p + 12, 4);
  h->cas = LoadBE64(p + 16);
  return true;
}

// Appends a response header (datatype raw bytes). The body must follow: extras, key,
// value, `bodylen` bytes in all.
inline void StoreBE32(char* p, uint32_t v) {
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap32(v);
  memcpy(p, &v, 4);
}

// The 24 header bytes (the encoder behind both functions below).
inline void EncodeResponseHeader(char* h, uint8_t opcode, uint16_t status, uint8_t extlen,
                                 uint16_t keylen, uint32_t bodylen, uint32_t opaque, uint64_t cas) {
  h[0] = static_cast<char>(kResponseMagic);
  h[1] = static_cast<char>(opcode);
  h[2] = static_cast<char>(keylen >> 8);
  h[3] = static_cast<char>(keylen);
  h[4] = static_cast<char>(extlen);
  h[5] = 0;
  h[6] = static_cast<char>(status >> 8);
  h[7] = static_cast<char>(status);
  StoreBE32(h + 8, bodylen);
  memcpy(h + 12, &opaque, 4);
  StoreBE32(h + 16, static_cast<uint32_t>(cas >> 32));
  StoreBE32(h + 20, static_cast<uint32_t>(cas));
}

inline void AppendResponseHeader(std::string* out, uint8_t opcode, uint16_t status, uint8_t extlen,
                                 uint16_t keylen, uint32_t bodylen, uint32_t opaque, uint64_t cas) {
  char h[kHeaderSize];
  EncodeResponseHeader(h, opcode, status, extlen, keylen, bodylen, opaque, cas);
  out->append(h, kHeaderSize);
}

// A whole response whose body is extras + key + value. One resize of `out`: a GETK hit
// made eleven appends for the header alone.
inline void AppendResponse(std::string* out, uint8_t opcode, uint16_t status, uint32_t opaque,
                           uint64_t cas, std::string_view extras, std::string_view key,
                           std::string_view value) {
  size_t body = extras.size() + key.size() + value.size();
  size_t old = out->size();
  if (body > 512) {
    // resize() zero-fills: for a large value that is a second pass over the whole block.
    out->reserve(old + kHeaderSize + body);
    AppendResponseHeader(out, opcode, status, static_cast<uint8_t>(extras.size()),
                         static_cast<uint16_t>(key.size()), static_cast<uint32_t>(body), opaque,
                         cas);
    out->append(extras);
    out->append(key);
    out->append(value);
    return;
  }
  out->resize(old + kHeaderSize + body);
  char* w = out->data() + old;
  EncodeResponseHeader(w, opcode, status, static_cast<uint8_t>(extras.size()),
                       static_cast<uint16_t>(key.size()), static_cast<uint32_t>(body), opaque, cas);
  w += kHeaderSize;
  if (!extras.empty()) memcpy(w, extras.data(), extras.size());
  w += extras.size();
  if (!key.empty()) memcpy(w, key.data(), key.size());
  w += key.size();
  if (!value.empty()) memcpy(w, value.data(), value.size());
}

// A whole request (what a client sends): for tests, tools and fuzz seeds.
inline void AppendRequest(std::string* out, uint8_t opcode, std::string_view key,
                          std::string_view extras = {}, std::string_view value = {},
                          uint64_t cas = 0, uint32_t opaque = 0) {
  size_t start = out->size();
  AppendResponse(out, opcode, 0, opaque, cas, extras, key, value);
  (*out)[start] = static_cast<char>(kRequestMagic);
}

}  // namespace syncached::protocol::binary
