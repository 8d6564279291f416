// Bytes of the journal and snapshot files (internal; docs/FORMATS.md is the
// reference, keep the two in step).
//
// A file is a 16-byte header (8-byte magic naming the kind and format version, then
// the u64 generation, little-endian) followed by frames back to back. A frame is
// either a change record of the record codec (first byte 0xC5, self-delimiting and
// checksummed) or a meta frame:
//
//        +--------+--------+-----------------+
//      0 | 0xA9   | namelen| reserved = 0    |
//        +--------+--------+-----------------+
//      4 |          value_len (u32)          |   <= kMaxMetaValue
//        +-----------------------------------+
//      8 | name (namelen >= 1 bytes), value (value_len bytes)
//        +-----------------------------------------------+
//        |  checksum = Checksum32(every byte before it)  |
//        +-----------------------------------------------+
//
// A snapshot ends with the meta frame "snapshot.end" whose value is the u64 count of
// change records before it; a snapshot without it is incomplete and never loaded.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "record/record.h"

namespace syncached::persistence {

inline constexpr size_t kFileHeaderSize = 16;
inline constexpr char kJournalMagic[9] = "SCJRNL\0\1";
inline constexpr char kSnapshotMagic[9] = "SCSNAP\0\1";
inline constexpr uint8_t kMetaMagic = 0xA9;
inline constexpr size_t kMaxMetaValue = 4096;
inline constexpr char kSnapshotEnd[] = "snapshot.end";

// magic: kJournalMagic or kSnapshotMagic.
void EncodeFileHeader(const char* magic, uint64_t generation, std::string* out);
// False if `in` does not start with that kind of header.
bool DecodeFileHeader(std::string_view in, const char* magic, uint64_t* generation);

void EncodeMeta(std::string_view name, std::string_view value, std::string* out);

// Reads the frames after a file header. Stops at the end, at a frame cut short by the
// end of the input (a torn tail), or at the first corrupt frame; never reads outside
// `in`, never throws, never trusts a length before checking it.
struct ScanResult {
  size_t consumed = 0;     // bytes of whole, valid frames
  bool torn = false;       // the input ends inside a frame
  bool zero_tail = false;  // only zeros follow `consumed`: space allocated, never written
  bool corrupt = false;
  std::string reason;  // set when corrupt
};
ScanResult ScanFrames(std::string_view in,
                      const std::function<void(const record::ChangeView&)>& on_change,
                      const std::function<void(std::string_view, std::string_view)>& on_meta);

// Names in the data directory.
std::string JournalName(uint64_t generation);   // "journal-<16 hex>.log"
std::string SnapshotName(uint64_t generation);  // "snapshot-<16 hex>.dat"
// Parses either kind of name; false for anything else.
bool ParseFileName(std::string_view name, bool* is_journal, uint64_t* generation);

}  // namespace syncached::persistence
