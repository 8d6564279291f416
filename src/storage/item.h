// Item layout (internal to storage; engine sees items through ItemRef).
//
// One malloc'd block per item: a 52-byte header, then the key, then the value
// (no "\r\n" suffix, no alignment padding):
//
//   0        8        16       24       32       36       40       44       48     50  51  52
//   +--------+--------+--------+--------+--------+--------+--------+--------+------+---+---+----
//   | h_next | lru_prv| lru_nxt|  cas   |exptime | atime  | flags  | vlen   | node |kl |bit| key,
//   value
//   +--------+--------+--------+--------+--------+--------+--------+--------+------+---+---+----
//
// memcached spends 48 B + 8 B CAS + key + 1 + " flags len\r\n"-free suffix + 2 B "\r\n"
// per item and rounds up to a slab class (factor 1.25: ~11% lost on average). Here the
// allocator rounds to 16 B (glibc: 8 B chunk header), so a 10 B key + 100 B value item
// costs 176 B against memcached's 192 B chunk. docs/ARCHITECTURE.md has the figures.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "record/record.h"

namespace syncached::storage {

enum ItemBits : uint8_t {
  kFetched = 1 << 0,
  kStale = 1 << 1,
  kWinSent = 1 << 2,
  kKeyBinary = 1 << 3,
  kLinked = 1 << 4,
  kActive = 1 << 5,  // read since it was stored or last reached the LRU tail
};

// Packed to 4 so the header is 52 bytes, not 56; every field still lands on its
// natural alignment because blocks come from malloc (16-byte aligned).
class __attribute__((packed, aligned(4))) Item {
 public:
  Item* h_next;
  Item* lru_prev;
  Item* lru_next;
  uint64_t cas;
  uint32_t exptime;
  uint32_t atime;
  uint32_t flags;
  uint32_t vlen;
  uint16_t node;
  uint8_t klen;
  uint8_t bits;

  char* key_data() { return reinterpret_cast<char*>(this) + sizeof(Item); }
  const char* key_data() const { return reinterpret_cast<const char*>(this) + sizeof(Item); }
  char* value_data() { return key_data() + klen; }
  const char* value_data() const { return key_data() + klen; }
  std::string_view key() const { return {key_data(), klen}; }
  std::string_view value() const { return {value_data(), vlen}; }
};
static_assert(sizeof(Item) == 52, "item header layout");

// The change record kind that carries an item's state (stale items travel as such).
inline record::Kind PutKind(const Item* it) {
  return (it->bits & kStale) ? record::Kind::kStalePut : record::Kind::kPut;
}

}  // namespace syncached::storage
