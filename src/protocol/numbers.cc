// Number parsing with memcached's safe_strto* semantics: strtoul-style
// leading blanks and sign accepted, the token must end right after the digits, a '-'
// on a value that wraps is refused, and 32-bit results are truncated from 64 bits
// exactly as memcached stores them (flags 4294967296 reads as 0 there too).
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "protocol/protocol.h"

namespace syncached::protocol {
namespace {

// Copies the token into a NUL-terminated buffer: tokens are views into the input.
bool Terminated(std::string_view s, char* buf, size_t cap) {
  if (s.empty() || s.size() >= cap) return false;
  memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  return true;
}

bool EndsOk(const char* str, const char* end) {
  return end != str && (*end == '\0' || *end == ' ' || *end == '\t' || *end == '\r' ||
                        *end == '\n' || *end == '\v' || *end == '\f');
}

// The common case, a short run of plain digits, without a copy and strtoull.
bool SmallDigits(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

bool ParseU64(std::string_view s, uint64_t* out) {
  if (SmallDigits(s, out)) return true;
  char buf[64];
  *out = 0;
  if (!Terminated(s, buf, sizeof buf)) return false;
  errno = 0;
  char* end;
  unsigned long long v = strtoull(buf, &end, 10);
  if (errno == ERANGE || !EndsOk(buf, end)) return false;
  if (static_cast<long long>(v) < 0 && strchr(buf, '-')) return false;
  *out = v;
  return true;
}

bool ParseU32(std::string_view s, uint32_t* out) {
  uint64_t v;
  *out = 0;
  if (!ParseU64(s, &v)) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

bool ParseI32(std::string_view s, int32_t* out) {
  uint64_t small;
  if (SmallDigits(s, &small)) {
    *out = static_cast<int32_t>(static_cast<long>(small));  // truncation as memcached's
    return true;
  }
  char buf[64];
  *out = 0;
  if (!Terminated(s, buf, sizeof buf)) return false;
  errno = 0;
  char* end;
  long v = strtol(buf, &end, 10);
  if (errno == ERANGE || !EndsOk(buf, end)) return false;
  *out = static_cast<int32_t>(v);
  return true;
}

}  // namespace syncached::protocol
