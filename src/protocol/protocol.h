// protocol: memcached's wire formats turned into one request model, and nothing else.
// Parsers take bytes and return a result plus bytes consumed; "need more" is a result,
// not an error. No I/O, no storage. Engine writes the replies; their error lines come
// from one table per protocol (reply.h for text and meta, StatusMessage in binary.h for
// binary). Behaviour follows memcached 1.6's doc/protocol.txt and its text protocol code
// (the quirks are noted where they are reproduced).
//
// Threads: all functions are pure; a Request is owned by one connection.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "protocol/reply.h"

namespace syncached::protocol {

inline constexpr size_t kMaxKeyLength = 250;

// Takes the next key off a get family's space-separated key list (Request::keys),
// skipping runs of spaces; false when none is left. The parser checks the list with
// it and the engine walks it, so both see the same keys.
inline bool NextKey(std::string_view* keys, std::string_view* key) {
  const char* p = keys->data();
  const char* end = p + keys->size();
  while (p < end && *p == ' ') ++p;
  if (p == end) return false;
  // Keys are 10-250 bytes: memchr beats a byte loop from about 8.
  const char* space = static_cast<const char*>(memchr(p, ' ', static_cast<size_t>(end - p)));
  const char* key_end = space ? space : end;
  *key = std::string_view(p, static_cast<size_t>(key_end - p));
  *keys = std::string_view(key_end, static_cast<size_t>(end - key_end));
  return true;
}
// memcached closes a connection whose line has no '\n' after this many bytes, unless
// it is a get/gets (multigets may be long); doc/protocol.txt "Commands".
inline constexpr size_t kMaxLineLength = 2048;
// Our bound for a multiget line (memcached has none; we refuse to buffer forever).
inline constexpr size_t kMaxGetLineLength = 8u << 20;
// Meta commands take at most this many tokens (memcached's MFLAG_MAX_OPT_LENGTH).
inline constexpr size_t kMaxMetaTokens = 20;
inline constexpr size_t kMaxOpaqueLength = 32;

enum class Command : uint8_t {
  kNone,
  kError,  // reply `error` (binary: `status`), swallow; nothing executed
  kClose,  // close the connection without a reply
  kGet,
  kGets,
  kGat,
  kGats,
  kSet,
  kAdd,
  kReplace,
  kAppend,
  kPrepend,
  kCas,
  kDelete,
  kIncr,
  kDecr,
  kTouch,
  kFlushAll,
  kVersion,
  kVerbosity,
  kQuit,
  kShutdown,
  kStats,
  kLruCrawler,
  kCacheMemlimit,
  kSlabs,
  kDebugTime,
  kRefreshCerts,  // memcached's refresh_certs (TLS)
  kRepair,        // syncached: every peer link runs anti-entropy now
  kMembers,       // syncached: members reload|commit (args)
  kWatch,
  kMetaGet,
  kMetaSet,
  kMetaDelete,
  kMetaArith,
  kMetaNoop,
  kMetaDebug,
  // binary-only
  kNoop,
  kSaslListMechs,
  kSaslAuth,
  kSaslStep,
};

// Meta flags of one mg/ms/md/ma request. Tokens are kept in arrival order because
// return flags are emitted in the order they were asked for.
struct MetaFlags {
  uint64_t seen = 0;  // bit (c - 'A') for each flag letter present
  bool Has(char c) const { return c >= 'A' && c <= 'z' && (seen >> (c - 'A')) & 1; }
  int32_t ttl = 0;            // T
  int32_t vivify_ttl = 0;     // N
  int32_t recache_ttl = 0;    // R
  uint32_t client_flags = 0;  // F
  uint64_t compare_cas = 0;   // C
  uint64_t new_cas = 0;       // E
  uint64_t initial = 0;       // J
  uint64_t delta = 1;         // D
  char mode = 0;              // M<mode>
  std::array<std::string_view, kMaxMetaTokens> tokens{};
  uint8_t ntokens = 0;
};

struct Request {
  Command cmd = Command::kNone;
  bool noreply = false;
  bool key_binary = false;  // meta b: `key` is the decoded form (in key_buf)
  std::string_view key;
  std::string_view keys;  // get family: the space-separated keys
  std::string_view data;  // value of a storage command, without "\r\n"
  std::string_view args;  // stats/lru_crawler/shutdown...: the tokens after the command
  uint32_t flags = 0;
  int32_t exptime = 0;  // as sent; engine turns it into absolute time
  uint64_t cas = 0;
  uint64_t delta = 0;
  uint32_t number = 0;                 // verbosity level, memlimit MB
  TextError error = TextError::kNone;  // text/meta kError: the reply (reply.h)
  uint64_t swallow = 0;                // bytes after this request to discard unread
  bool error_ignores_noreply = false;  // meta errors are never suppressed
  bool delete_on_error = false;        // a refused set unlinks `key` (memcached's stale-data rule)
  MetaFlags meta;
  // binary protocol
  uint8_t opcode = 0;
  uint32_t opaque = 0;
  bool quiet = false;
  bool return_key = false;
  uint64_t initial = 0;
  uint16_t status = 0;             // binary kError: the status to answer (StatusMessage)
  bool close_after_error = false;  // binary kError: close once that reply is sent
  char key_buf[kMaxKeyLength + 1];

  // Back to a fresh request. Cheaper than `*this = Request{}`: the token array and
  // key buffer (~600 bytes) are only read up to their counts, so they are left alone.
  void Reset() {
    cmd = Command::kNone;
    noreply = key_binary = quiet = return_key = false;
    error_ignores_noreply = delete_on_error = close_after_error = false;
    key = keys = data = args = {};
    flags = number = opaque = 0;
    exptime = 0;
    cas = delta = swallow = initial = 0;
    error = TextError::kNone;
    opcode = 0;
    status = 0;
    meta.seen = 0;
    meta.ttl = meta.vivify_ttl = meta.recache_ttl = 0;
    meta.client_flags = 0;
    meta.compare_cas = meta.new_cas = meta.initial = 0;
    meta.delta = 1;
    meta.mode = 0;
    meta.ntokens = 0;
  }
};

struct ParseResult {
  enum Status : uint8_t { kOk, kNeedMore, kClose } status;
  size_t consumed;
};

// Text and meta protocol. On kOk, `req` describes one request occupying `consumed`
// bytes of `in`; its views point into `in` (or req->key_buf).
ParseResult ParseText(std::string_view in, size_t item_size_max, Request* req);

// Binary protocol (protocol/binary.h has the wire format): one request per call, views
// into `in` as for ParseText. A 32-bit exptime travels in Request::exptime bit for bit
// (engine reads it back as uint32_t). Errors come back as kError with `status` set.
ParseResult ParseBinary(std::string_view in, size_t item_size_max, Request* req);

// memcached's safe_strto* semantics (leading spaces and '+' accepted, whole token must
// be numeric, negative refused for unsigned, 32-bit results truncated as memcached's).
bool ParseU32(std::string_view s, uint32_t* out);
bool ParseI32(std::string_view s, int32_t* out);
bool ParseU64(std::string_view s, uint64_t* out);

// The common case of all three, a short run of plain digits, parsed inline (a storage
// command has three numbers; the calls cost more than the digits). False: use the above.
inline bool ParsePlainDigits(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    unsigned d = static_cast<unsigned>(static_cast<unsigned char>(c)) - '0';
    if (d > 9) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}
inline bool ParseU32Fast(std::string_view s, uint32_t* out) {
  uint64_t v;
  if (!ParsePlainDigits(s, &v)) return ParseU32(s, out);
  *out = static_cast<uint32_t>(v);  // truncated as memcached's
  return true;
}
inline bool ParseI32Fast(std::string_view s, int32_t* out) {
  uint64_t v;
  if (!ParsePlainDigits(s, &v)) return ParseI32(s, out);
  *out = static_cast<int32_t>(static_cast<long>(v));  // truncated as memcached's
  return true;
}
inline bool ParseU64Fast(std::string_view s, uint64_t* out) {
  return ParsePlainDigits(s, out) || ParseU64(s, out);
}

// Base64 (RFC 4648, padded), used by meta's b flag. Decode returns false on bad input.
bool Base64Decode(std::string_view in, std::string* out);
bool Base64DecodeTo(std::string_view in, char* out, size_t cap, size_t* len);
void Base64Encode(std::string_view in, std::string* out);
// metadump's key encoding: RFC 3986 percent-encoding of everything but unreserved.
void UriEncode(std::string_view in, std::string* out);

// memcached's size of an item with this key and value, for -I checks, `me` and
// metadump size= (48 B header + 8 B CAS + key + 1 + flags suffix + value + "\r\n").
inline size_t MemcachedItemSize(size_t nkey, size_t nvalue, uint32_t flags) {
  return 48 + 8 + nkey + 1 + (flags ? 4 : 0) + nvalue + 2;
}

}  // namespace syncached::protocol
