// Fuzzes the journal/snapshot reader: ScanFrames over arbitrary bytes (meta frames
// mixed with change records), DecodeFileHeader and ParseFileName. Beyond "no crash"
// it checks what recovery relies on: consumed never exceeds the input, a clean scan
// ends exactly at the end or at zeros that run to it, torn, corrupt and zero tail
// never two at once, and the frames handed back
// re-encode to exactly the bytes consumed (every accepted frame has one encoding, so
// what Load replays is what was written).
//
// As in record_codec_fuzz, random mutations rarely survive a 32-bit checksum, so each
// input is also scanned after its checksums have been fixed up frame by frame.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "persistence/format.h"
#include "record/codec_internal.h"
#include "record/record.h"

namespace {

using namespace syncached;
using record::internal::Checksum32;
using record::internal::Load32;
using record::internal::Store32;

// Abort rather than assert: the fuzz build may define NDEBUG.
void Check(bool ok) {
  if (!ok) std::abort();
}

void FuzzScan(std::string_view in) {
  std::string again;
  persistence::ScanResult r = persistence::ScanFrames(
      in,
      [&](const record::ChangeView& c) {
        Check(record::IsValid(c));
        record::EncodeChange(c, &again);
      },
      [&](std::string_view name, std::string_view value) {
        Check(!name.empty() && name.size() <= 255 && value.size() <= persistence::kMaxMetaValue);
        persistence::EncodeMeta(name, value, &again);
      });
  Check(r.consumed <= in.size());
  Check(r.torn + r.corrupt + r.zero_tail <= 1);
  Check(r.corrupt == !r.reason.empty());
  Check((r.torn || r.corrupt || r.zero_tail) == (r.consumed < in.size()));
  // A zero tail is nothing but zeros to the end (allocated space, never written).
  Check(!r.zero_tail || in.substr(r.consumed).find_first_not_of('\0') == std::string_view::npos);
  Check(again == in.substr(0, r.consumed));
}

// Rewrites the checksums of each frame as its header lengths claim them, stopping at
// the first frame that runs past the end or has an unknown type.
std::string FixChecksums(std::string s) {
  size_t pos = 0;
  while (s.size() - pos >= 12) {
    char* p = s.data() + pos;
    uint64_t total;
    if (static_cast<uint8_t>(p[0]) == 0xC5) {
      Store32(p + 8, Checksum32(p, 8));
      total = 34 + static_cast<uint8_t>(p[3]) + uint64_t{Load32(p + 4)};
    } else if (static_cast<uint8_t>(p[0]) == persistence::kMetaMagic) {
      total = 12 + static_cast<uint8_t>(p[1]) + uint64_t{Load32(p + 4)};
    } else {
      break;
    }
    if (total > s.size() - pos) break;
    Store32(p + total - 4, Checksum32(p, total - 4));
    pos += total;
  }
  return s;
}

void FuzzHeaderAndName(std::string_view in) {
  for (const char* magic : {persistence::kJournalMagic, persistence::kSnapshotMagic}) {
    uint64_t g = 0;
    if (persistence::DecodeFileHeader(in, magic, &g)) {
      std::string h;
      persistence::EncodeFileHeader(magic, g, &h);
      Check(h == in.substr(0, persistence::kFileHeaderSize));
    }
  }
  bool journal = false;
  uint64_t g = 0;
  if (persistence::ParseFileName(in, &journal, &g)) {
    Check((journal ? persistence::JournalName(g) : persistence::SnapshotName(g)) == in);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  FuzzScan(in);
  FuzzScan(FixChecksums(std::string(in)));
  FuzzHeaderAndName(in);
  // A whole file: the frames start after the header.
  if (in.size() >= persistence::kFileHeaderSize) FuzzScan(in.substr(persistence::kFileHeaderSize));
  return 0;
}
