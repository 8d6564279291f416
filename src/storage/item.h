// Item layout (internal to storage; engine sees items through ItemRef).
//
// A 40-byte header, then the key, then the value (no "\r\n" suffix, no padding):
//
//   0        8      12     16     20     24     28     32     36   38  39  40
//   +--------+------+------+------+------+------+------+------+----+---+---+---------
//   |  cas   |h_next|lru_pv|lru_nx|exptim|atime |flags | vlen |node|kl |bit| key, value
//   +--------+------+------+------+------+------+------+------+----+---+---+---------
//
// Links are 32-bit references (Arena: offset / 4 into the slab arena, or kLargeBit |
// index into the shard's table of malloc'd items), not pointers: 12 bytes instead of
// 24. Items up to kMaxSlabItem bytes live in per-shard slabs whose chunk sizes step by
// 4 bytes, so a 10 B key + 100 B value item takes exactly 152 bytes, no allocator
// header, no rounding beyond 4. memcached spends 48 + 8 (CAS) + key + 1 + value + 2
// bytes and rounds up to a slab class (factor 1.25). docs/ARCHITECTURE.md has figures.
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
  kActive = 1 << 5,     // read since it was stored or last reached its LRU's tail
  kFreeChunk = 1 << 7,  // a slab chunk on its class's free list, not an item
};

// Largest item (header + key + value) kept in slabs; larger ones are malloc'd, where
// the allocator's 8-16 bytes are small next to the item.
constexpr size_t kMaxSlabItem = 512;

// Packed to 4 because slab chunks are 4-byte aligned; x86 and arm64 load the 8-byte
// cas unaligned at no measurable cost.
class __attribute__((packed, aligned(4))) Item {
 public:
  uint64_t cas;
  uint32_t h_next;  // references, see Arena; 0 = none
  uint32_t lru_prev;
  uint32_t lru_next;
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
static_assert(sizeof(Item) == 40, "item header layout");

// The change record kind that carries an item's state (stale items travel as such).
inline record::Kind PutKind(const Item* it) {
  return (it->bits & kStale) ? record::Kind::kStalePut : record::Kind::kPut;
}

}  // namespace syncached::storage
