// Item layout (internal to storage; engine sees items through ItemRef).
//
// A 28-byte header, the client flags when they are not 0, the key, the value (no
// "\r\n" suffix, no padding):
//
//   0        8      12     16     20     24   26  27  28
//   +--------+------+------+------+------+----+---+---+-------+---------
//   |  cas   |h_next|exptim|atime | vlen |node|kl |bit|[flags]| key, value
//   +--------+------+------+------+------+----+---+---+-------+---------
//
// The hash chain link is a 32-bit reference (Arena: offset / 4 into the slab arena, or
// kLargeBit | index into the shard's table of malloc'd items), not a pointer. Eviction
// needs no links in the header: each slab size class is a CLOCK over its chunks, with
// kActive as the reference bit, and malloc'd items keep their LRU links in front of
// the header (Shard). Flags take room only when set (kHasFlags), as memcached's
// ITEM_CFLAGS: most clients store strings with flags 0. Items up to kMaxSlabItem bytes
// live in per-shard slabs whose chunk sizes step by 4 bytes, so a 10 B key + 100 B
// value item takes exactly 140 bytes, no allocator header, no rounding beyond 4.
// memcached spends 48 + 8 (CAS) + key + 1 + value + 2 bytes and rounds up to a slab
// class (factor 1.25). docs/ARCHITECTURE.md has figures.
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
  kActive = 1 << 5,     // read or written in place since the clock hand last passed
  kHasFlags = 1 << 6,   // 4 bytes of client flags follow the header
  kFreeChunk = 1 << 7,  // a slab chunk on its class's free list, not an item
};

// Largest item (header + key + value) kept in slabs; larger ones are malloc'd, where
// the allocator's 8-16 bytes are small next to the item.
constexpr size_t kMaxSlabItem = 512;

// Packed to 4 because slab chunks are 4-byte aligned; x86 and arm64 load the 8-byte
// cas unaligned at no measurable cost.
class __attribute__((packed, aligned(4))) Item {
 public:
  uint64_t cas;     // on a free chunk: its free-list links (Shard)
  uint32_t h_next;  // a reference, see Arena; 0 = none
  uint32_t exptime;
  uint32_t atime;
  uint32_t vlen;
  uint16_t node;
  uint8_t klen;
  uint8_t bits;

  // Bytes an item with this key, value and flags takes.
  static size_t TotalSize(size_t key_len, size_t value_len, uint32_t flags) {
    return sizeof(Item) + (flags != 0 ? sizeof(uint32_t) : 0) + key_len + value_len;
  }
  uint32_t flags() const {
    uint32_t f = 0;
    if (bits & kHasFlags) memcpy(&f, tail(), sizeof f);
    return f;
  }
  // Sets the flags and with them where the key starts: before the key is written.
  void set_flags(uint32_t f) {
    bits = static_cast<uint8_t>((bits & ~kHasFlags) | (f != 0 ? kHasFlags : 0));
    if (f != 0) memcpy(tail(), &f, sizeof f);
  }
  // kHasFlags is 1 << 6: shifted down by 4 it is the 4 bytes the flags take.
  char* key_data() { return tail() + ((bits & kHasFlags) >> 4); }
  const char* key_data() const { return tail() + ((bits & kHasFlags) >> 4); }
  char* value_data() { return key_data() + klen; }
  const char* value_data() const { return key_data() + klen; }
  std::string_view key() const { return {key_data(), klen}; }
  std::string_view value() const { return {value_data(), vlen}; }

 private:
  char* tail() { return reinterpret_cast<char*>(this) + sizeof(Item); }
  const char* tail() const { return reinterpret_cast<const char*>(this) + sizeof(Item); }
};
static_assert(sizeof(Item) == 28, "item header layout");
static_assert(kHasFlags >> 4 == sizeof(uint32_t), "key_data's offset trick");

// The change record kind that carries an item's state (stale items travel as such).
inline record::Kind PutKind(const Item* it) {
  return (it->bits & kStale) ? record::Kind::kStalePut : record::Kind::kPut;
}

}  // namespace syncached::storage
