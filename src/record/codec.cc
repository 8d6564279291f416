// Change record encoder and decoder. Layout: codec_internal.h, docs/FORMATS.md.
#include "record/codec.h"

#include <xxhash.h>

#include <algorithm>
#include <cassert>

#include "record/codec_internal.h"

namespace syncached::record {

namespace internal {
uint32_t Checksum32(const void* data, size_t n) {
  return static_cast<uint32_t>(XXH3_64bits(data, n));
}
}  // namespace internal

using internal::Checksum32;
using internal::kChecksumSize;
using internal::kRecordFixedSize;
using internal::kRecordFormatVersion;
using internal::kRecordHeaderSize;
using internal::kRecordMagic;
using internal::Load16;
using internal::Load32;
using internal::Load64;
using internal::Store16;
using internal::Store32;
using internal::Store64;

const char* CorruptionName(Corruption c) {
  switch (c) {
    case Corruption::kNone:
      return "none";
    case Corruption::kBadMagic:
      return "bad magic";
    case Corruption::kBadFormatVersion:
      return "unknown format version";
    case Corruption::kBadHeaderChecksum:
      return "bad header checksum";
    case Corruption::kBadChecksum:
      return "bad checksum";
    case Corruption::kUnknownKind:
      return "unknown kind";
    case Corruption::kBadKeyLength:
      return "bad key length";
    case Corruption::kValueTooLarge:
      return "value too large";
    case Corruption::kUnexpectedValue:
      return "delete or flush carrying a value";
    case Corruption::kBadBatchHeader:
      return "bad batch header";
    case Corruption::kBatchTooLarge:
      return "batch too large";
    case Corruption::kBatchRecordMismatch:
      return "batch records do not match its header";
  }
  return "unknown corruption";
}

size_t EncodedSize(const ChangeView& c) { return kRecordOverhead + c.key.size() + c.value.size(); }

void EncodeChange(const ChangeView& c, std::string* out) {
  assert(IsValid(c));
  const size_t start = out->size();
  out->resize(start + EncodedSize(c));
  char* p = out->data() + start;
  p[0] = static_cast<char>(kRecordMagic);
  p[1] = static_cast<char>(kRecordFormatVersion);
  p[2] = static_cast<char>(c.kind);
  p[3] = static_cast<char>(c.key.size());
  Store32(p + 4, static_cast<uint32_t>(c.value.size()));
  Store32(p + 8, Checksum32(p, 8));
  Store64(p + 12, c.version.hlc);
  Store32(p + 20, c.flags);
  Store32(p + 24, c.exptime);
  Store16(p + 28, c.version.node);
  char* q = p + kRecordFixedSize;
  // Guarded because memcpy from an empty view's null data() is undefined.
  if (!c.key.empty()) q = std::copy(c.key.begin(), c.key.end(), q);
  if (!c.value.empty()) q = std::copy(c.value.begin(), c.value.end(), q);
  Store32(q, Checksum32(p, static_cast<size_t>(q - p)));
}

namespace {

// Checks the 12-byte header and returns the record's total size, or a Corrupt result.
// Everything the header claims is validated here, before any length is used.
DecodeResult CheckRecordHeader(const char* p, size_t* total) {
  if (Load32(p + 8) != Checksum32(p, 8)) {
    return DecodeResult::Corrupt(Corruption::kBadHeaderChecksum);
  }
  const uint8_t kind = static_cast<uint8_t>(p[2]);
  const size_t key_len = static_cast<uint8_t>(p[3]);
  const size_t value_len = Load32(p + 4);
  switch (static_cast<Kind>(kind)) {
    case Kind::kPut:
    case Kind::kStalePut:
    case Kind::kDelete:
      if (key_len == 0 || key_len > kMaxKeySize) {
        return DecodeResult::Corrupt(Corruption::kBadKeyLength);
      }
      break;
    case Kind::kFlush:
      if (key_len != 0) return DecodeResult::Corrupt(Corruption::kBadKeyLength);
      break;
    default:
      return DecodeResult::Corrupt(Corruption::kUnknownKind);
  }
  if (value_len > kMaxValueSize) return DecodeResult::Corrupt(Corruption::kValueTooLarge);
  if (value_len != 0 && static_cast<Kind>(kind) != Kind::kPut &&
      static_cast<Kind>(kind) != Kind::kStalePut) {
    return DecodeResult::Corrupt(Corruption::kUnexpectedValue);
  }
  *total = kRecordOverhead + key_len + value_len;  // ≤ kMaxRecordSize: cannot overflow
  return DecodeResult::Ok(*total);
}

}  // namespace

DecodeResult DecodeChange(std::string_view in, ChangeView* out) {
  const char* p = in.data();
  // Fail fast on the first bytes so a reader out of step (or talking to the wrong
  // thing) finds out without waiting for a whole header.
  if (in.size() >= 1 && static_cast<uint8_t>(p[0]) != kRecordMagic) {
    return DecodeResult::Corrupt(Corruption::kBadMagic);
  }
  if (in.size() >= 2 && static_cast<uint8_t>(p[1]) != kRecordFormatVersion) {
    return DecodeResult::Corrupt(Corruption::kBadFormatVersion);
  }
  if (in.size() < kRecordHeaderSize) return DecodeResult::NeedMore();
  size_t total = 0;
  if (DecodeResult r = CheckRecordHeader(p, &total); !r.ok()) return r;
  // Only now, with the lengths checked against the limits, is a short input a torn
  // record rather than a lie.
  if (in.size() < total) return DecodeResult::NeedMore(total);
  const size_t body_end = total - kChecksumSize;
  if (Load32(p + body_end) != Checksum32(p, body_end)) {
    return DecodeResult::Corrupt(Corruption::kBadChecksum);
  }
  const size_t key_len = static_cast<uint8_t>(p[3]);
  out->kind = static_cast<Kind>(p[2]);
  out->version = Version{Load64(p + 12), Load16(p + 28)};
  out->flags = Load32(p + 20);
  out->exptime = Load32(p + 24);
  out->key = in.substr(kRecordFixedSize, key_len);
  out->value = in.substr(kRecordFixedSize + key_len, body_end - kRecordFixedSize - key_len);
  return DecodeResult::Ok(total);
}

}  // namespace syncached::record
