// Version: which write of an item is newer. Every item and every change record carries
// one; replicas apply a change only if its version is newer than what they hold (last
// writer wins, docs/REPLICATION.md), and the hlc part doubles as the item's CAS unique, so the
// same version means the same CAS on every replica. Plain value type, any thread.
//
// HLC layout (a 64-bit hybrid logical clock reading):
//
//   63                              16 15              0
//   +---------------------------------+----------------+
//   |  Unix time in milliseconds (48) | logical (16)   |
//   +---------------------------------+----------------+
//
// 48 bits of milliseconds last until the year 10889; the logical counter orders
// events within one millisecond and keeps the clock moving when the wall clock
// steps back. Internal header: include "record/record.h".
#pragma once

#include <compare>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace syncached::record {

inline constexpr int kHlcLogicalBits = 16;
inline constexpr uint64_t kHlcLogicalMask = (uint64_t{1} << kHlcLogicalBits) - 1;
inline constexpr uint64_t kHlcMaxMillis = (uint64_t{1} << (64 - kHlcLogicalBits)) - 1;

constexpr uint64_t MakeHlc(uint64_t millis, uint16_t logical) {
  return (millis << kHlcLogicalBits) | logical;
}
constexpr uint64_t HlcMillis(uint64_t hlc) { return hlc >> kHlcLogicalBits; }
constexpr uint16_t HlcLogical(uint64_t hlc) { return static_cast<uint16_t>(hlc & kHlcLogicalMask); }

struct Version {
  uint64_t hlc = 0;
  uint16_t node = 0;

  // Member order makes the defaulted comparison lexicographic: hlc first, then node as
  // the tie-break, so two nodes writing in the same HLC tick still order totally and
  // every replica picks the same winner.
  friend constexpr auto operator<=>(const Version&, const Version&) = default;
  friend constexpr bool operator==(const Version&, const Version&) = default;

  // "<millis>.<logical>@<node>", e.g. "1700000000000.3@7".
  std::string ToString() const;
};

// For logs and GoogleTest failure messages.
std::ostream& operator<<(std::ostream& os, const Version& v);

}  // namespace syncached::record
