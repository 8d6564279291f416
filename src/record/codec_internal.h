// Byte layouts of the change record and the batch frame, and the helpers codec.cc and
// batch.cc share. Internal to the record module (tests include it to forge frames).
// docs/FORMATS.md is the reference; keep the two in step.
//
// Change record, format version 1 (integers little-endian; total 34 + keylen + value_len):
//
//        +--------+--------+--------+--------+
//      0 | 0xC5   |version |  kind  | keylen |
//        +--------+--------+--------+--------+
//      4 |          value_len (u32)          |
//        +-----------------------------------+
//      8 |  header check = Checksum32(0..8)  |
//        +-----------------------------------+
//     12 |             hlc (u64)             |
//     16 |                                   |
//        +-----------------------------------+
//     20 |            flags (u32)            |
//        +-----------------------------------+
//     24 |           exptime (u32)           |
//        +-----------------+-----------------+
//     28 |   node (u16)    | key (keylen bytes), then value (value_len bytes)
//        +-----------------+------------------ ...
//        |  checksum = Checksum32(every byte before it)  |
//        +-----------------------------------------------+
//
// Batch frame, format version 1:
//
//        +--------+--------+-----------------+
//      0 | 0xB7   |version | reserved = 0    |
//        +--------+--------+-----------------+
//      4 |            count (u32)            |
//        +-----------------------------------+
//      8 |          body_len (u32)           |
//        +-----------------------------------+
//     12 |          first_seq (u64)          |
//     16 |                                   |
//        +-----------------------------------+
//     20 | header check = Checksum32(0..20)  |
//        +-----------------------------------+
//     24 | body: exactly `count` change records back to back, body_len bytes
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace syncached::record::internal {

inline constexpr uint8_t kRecordMagic = 0xC5;
inline constexpr uint8_t kRecordFormatVersion = 1;
inline constexpr size_t kRecordHeaderSize = 12;  // magic .. header check
inline constexpr size_t kRecordFixedSize = 30;   // header + hlc, node, flags, exptime
inline constexpr size_t kChecksumSize = 4;

inline constexpr uint8_t kBatchMagic = 0xB7;
inline constexpr uint8_t kBatchFormatVersion = 1;
inline constexpr size_t kBatchCheckedSize = 20;  // bytes covered by the header check

// Low 32 bits of XXH3-64: XXH3 mixes every input bit into every output bit, so any
// 32-bit slice is as good a checksum as CRC32C for random corruption (not for
// adversaries; nothing here is). See docs/FORMATS.md for why not CRC32C.
// Defined in codec.cc so that only this module sees xxhash.h.
uint32_t Checksum32(const void* data, size_t n);
inline uint32_t Checksum32(std::string_view s) { return Checksum32(s.data(), s.size()); }

// Explicit little-endian stores and loads: the format must not depend on the host.
inline void Store16(char* p, uint16_t v) {
  for (int i = 0; i < 2; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void Store32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void Store64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline uint16_t Load16(const char* p) {
  uint16_t v = 0;
  for (int i = 1; i >= 0; --i) v = static_cast<uint16_t>((v << 8) | static_cast<uint8_t>(p[i]));
  return v;
}
inline uint32_t Load32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t Load64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

}  // namespace syncached::record::internal
