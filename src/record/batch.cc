// Batch frame encoder and decoder: numbered change records for replication.
// Layout: codec_internal.h, docs/FORMATS.md.
#include <cassert>

#include "record/codec.h"
#include "record/codec_internal.h"

namespace syncached::record {

using internal::Checksum32;
using internal::kBatchCheckedSize;
using internal::kBatchFormatVersion;
using internal::kBatchMagic;
using internal::Load16;
using internal::Load32;
using internal::Load64;
using internal::Store16;
using internal::Store32;
using internal::Store64;

void EncodeBatch(uint64_t first_seq, std::span<const ChangeView> changes, std::string* out) {
  size_t body = 0;
  for (const ChangeView& c : changes) body += EncodedSize(c);
  assert(body <= kMaxBatchBodySize);
  assert(changes.size() <= UINT32_MAX && first_seq <= UINT64_MAX - changes.size());
  const size_t start = out->size();
  out->reserve(start + kBatchHeaderSize + body);
  out->resize(start + kBatchHeaderSize);
  char* p = out->data() + start;
  p[0] = static_cast<char>(kBatchMagic);
  p[1] = static_cast<char>(kBatchFormatVersion);
  Store16(p + 2, 0);
  Store32(p + 4, static_cast<uint32_t>(changes.size()));
  Store32(p + 8, static_cast<uint32_t>(body));
  Store64(p + 12, first_seq);
  Store32(p + 20, Checksum32(p, kBatchCheckedSize));
  for (const ChangeView& c : changes) EncodeChange(c, out);
}

namespace {

DecodeResult CheckBatchHeader(const char* p, uint32_t* count, size_t* body_len) {
  if (Load32(p + 20) != Checksum32(p, kBatchCheckedSize)) {
    return DecodeResult::Corrupt(Corruption::kBadHeaderChecksum);
  }
  *count = Load32(p + 4);
  *body_len = Load32(p + 8);
  const uint64_t first_seq = Load64(p + 12);
  if (*body_len > kMaxBatchBodySize) return DecodeResult::Corrupt(Corruption::kBatchTooLarge);
  // Each record takes at least kRecordOverhead bytes, so a count the body cannot hold
  // is refused here rather than after reading up to 1 GiB of body.
  if (Load16(p + 2) != 0 || *count > *body_len / kRecordOverhead ||
      (*count == 0) != (*body_len == 0) || first_seq > UINT64_MAX - *count) {
    return DecodeResult::Corrupt(Corruption::kBadBatchHeader);
  }
  return DecodeResult::Ok(kBatchHeaderSize + *body_len);
}

DecodeResult DecodeBatchBody(std::string_view body, uint32_t count, BatchView* out) {
  // count ≤ body size / 34, and the body is in memory: this reserve is bounded by
  // bytes actually received, not by a claim.
  out->changes.reserve(count);
  while (!body.empty()) {
    if (out->changes.size() == count) {
      return DecodeResult::Corrupt(Corruption::kBatchRecordMismatch);
    }
    ChangeView c;
    DecodeResult r = DecodeChange(body, &c);
    // A record running past the body is the frame's fault, not a torn read: the body
    // is complete by now.
    if (r.need_more()) return DecodeResult::Corrupt(Corruption::kBatchRecordMismatch);
    if (!r.ok()) return r;
    out->changes.push_back(c);
    body.remove_prefix(r.consumed);
  }
  if (out->changes.size() != count) {
    return DecodeResult::Corrupt(Corruption::kBatchRecordMismatch);
  }
  return DecodeResult::Ok(0);
}

}  // namespace

DecodeResult DecodeBatch(std::string_view in, BatchView* out) {
  out->changes.clear();
  const char* p = in.data();
  if (in.size() >= 1 && static_cast<uint8_t>(p[0]) != kBatchMagic) {
    return DecodeResult::Corrupt(Corruption::kBadMagic);
  }
  if (in.size() >= 2 && static_cast<uint8_t>(p[1]) != kBatchFormatVersion) {
    return DecodeResult::Corrupt(Corruption::kBadFormatVersion);
  }
  if (in.size() < kBatchHeaderSize) return DecodeResult::NeedMore();
  uint32_t count = 0;
  size_t body_len = 0;
  if (DecodeResult r = CheckBatchHeader(p, &count, &body_len); !r.ok()) return r;
  const size_t total = kBatchHeaderSize + body_len;
  if (in.size() < total) return DecodeResult::NeedMore(total);
  if (DecodeResult r = DecodeBatchBody(in.substr(kBatchHeaderSize, body_len), count, out);
      !r.ok()) {
    out->changes.clear();
    return r;
  }
  out->first_seq = Load64(p + 12);
  return DecodeResult::Ok(total);
}

}  // namespace syncached::record
