// The change-record codec and the batch frame: the bytes replication sends and
// persistence logs. Layouts are drawn in codec_internal.h and documented byte by byte
// in docs/FORMATS.md ("Change record", "Change batch").
//
// Decoders take bytes and return Ok (with bytes consumed), NeedMore (the input is a
// prefix of something that may still be valid: not an error, read more and retry) or
// Corrupt (with a reason). They never read outside `in`, never throw, and never
// allocate on the strength of a length field: every length is checked against the
// limits before it is believed, and a length beyond the limits is Corrupt, not
// NeedMore, so a hostile peer cannot make a reader buffer gigabytes. Pure functions,
// any thread. Internal header: include "record/record.h".
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "record/change.h"

namespace syncached::record {

// Fixed bytes around each record's key and value (header, body fields, checksum).
inline constexpr size_t kRecordOverhead = 34;
inline constexpr size_t kMaxRecordSize = kRecordOverhead + kMaxKeySize + kMaxValueSize;
inline constexpr size_t kBatchHeaderSize = 24;
// Room for one maximal record plus slack: senders fill a batch up to a target size
// and send an oversized record alone.
inline constexpr size_t kMaxBatchBodySize = kMaxValueSize + (size_t{1} << 20);

enum class Corruption : uint8_t {
  kNone = 0,
  kBadMagic,
  kBadFormatVersion,
  kBadHeaderChecksum,
  kBadChecksum,
  kUnknownKind,
  kBadKeyLength,         // put/delete key empty or > 250 bytes; flush with a key
  kValueTooLarge,        // > kMaxValueSize
  kUnexpectedValue,      // delete or flush carrying a value
  kBadBatchHeader,       // reserved bits set, count impossible for the body, seq wraps
  kBatchTooLarge,        // body > kMaxBatchBodySize
  kBatchRecordMismatch,  // records do not exactly fill the body
};
const char* CorruptionName(Corruption c);

struct DecodeResult {
  enum class Code : uint8_t { kOk, kNeedMore, kCorrupt };

  Code code = Code::kNeedMore;
  // kOk: bytes of the record (or frame) decoded; the next one starts there.
  size_t consumed = 0;
  // kNeedMore: the whole record's size once its header has been read, else 0, so a
  // reader can size its buffer; always > the input size when set.
  size_t needed = 0;
  Corruption corruption = Corruption::kNone;

  static DecodeResult Ok(size_t n) { return {Code::kOk, n, 0, Corruption::kNone}; }
  static DecodeResult NeedMore(size_t needed = 0) {
    return {Code::kNeedMore, 0, needed, Corruption::kNone};
  }
  static DecodeResult Corrupt(Corruption c) { return {Code::kCorrupt, 0, 0, c}; }

  bool ok() const { return code == Code::kOk; }
  bool need_more() const { return code == Code::kNeedMore; }
  bool corrupt() const { return code == Code::kCorrupt; }
  const char* reason() const { return CorruptionName(corruption); }
};

// Encoded size of `c`: kRecordOverhead + key + value.
size_t EncodedSize(const ChangeView& c);

// Appends one record for `c` to *out. `c` must satisfy IsValid() (callers validate
// client input long before this; asserted).
void EncodeChange(const ChangeView& c, std::string* out);

// Decodes the record at the start of `in`. On Ok, *out points into `in` (valid as long
// as `in`'s bytes are) and satisfies IsValid(); otherwise *out is untouched.
DecodeResult DecodeChange(std::string_view in, ChangeView* out);

// A decoded batch: changes[i] has sequence number first_seq + i.
struct BatchView {
  uint64_t first_seq = 0;
  std::vector<ChangeView> changes;  // reused across calls: capacity is kept

  uint64_t seq(size_t i) const { return first_seq + i; }
};

// Appends one batch frame carrying `changes` numbered first_seq, first_seq + 1, ...
// Every change must be valid, the records must fit kMaxBatchBodySize and the numbers
// must not wrap (asserted).
void EncodeBatch(uint64_t first_seq, std::span<const ChangeView> changes, std::string* out);

// Decodes the batch frame at the start of `in`. The whole frame is checked before Ok,
// so a consumer never applies half of a corrupt batch. On Ok, out->changes point into
// `in`; otherwise out->changes is empty.
DecodeResult DecodeBatch(std::string_view in, BatchView* out);

}  // namespace syncached::record
