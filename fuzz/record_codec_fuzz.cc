// Fuzzes the change-record codec and the batch frame with arbitrary bytes. Beyond "no
// crash" (ASan/UBSan catch out-of-bounds reads), it checks what callers rely on:
// consumed and needed are consistent with the input, decoded records obey the limits,
// and re-encoding a decoded record gives bytes that decode to the same change.
//
// Random mutations almost never survive a 32-bit checksum, which would leave the
// decoder's logic past the checksums unexplored; so each input is also decoded after
// its checksums have been fixed up (FixRecordChecksums), which lets the fuzzer reach
// every length, kind and batch-count path with forged but "valid" frames.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "record/codec_internal.h"
#include "record/record.h"

namespace {

using syncached::record::BatchView;
using syncached::record::ChangeView;
using syncached::record::Corruption;
using syncached::record::DecodeResult;
using syncached::record::EncodeBatch;
using syncached::record::EncodeChange;
using syncached::record::Kind;
using syncached::record::internal::Checksum32;
using syncached::record::internal::Load32;
using syncached::record::internal::Store32;

// Abort rather than assert: the fuzz build may define NDEBUG.
void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckResult(const DecodeResult& r, size_t input_size) {
  Check(r.ok() || r.consumed == 0);
  Check(!r.ok() || (r.consumed > 0 && r.consumed <= input_size));
  Check(!r.need_more() || r.needed == 0 || r.needed > input_size);
  Check(r.corrupt() == (r.corruption != Corruption::kNone));
}

void CheckChange(const ChangeView& c, std::string_view input) {
  Check(IsValid(c));
  if (c.kind != Kind::kFlush) Check(c.key.size() >= 1 && c.key.size() <= 250);
  // Borrowed views must point inside the input.
  Check(c.key.empty() || (c.key.data() >= input.data() &&
                          c.key.data() + c.key.size() <= input.data() + input.size()));
  Check(c.value.empty() || (c.value.data() >= input.data() &&
                            c.value.data() + c.value.size() <= input.data() + input.size()));
  std::string again;
  EncodeChange(c, &again);
  ChangeView back;
  const DecodeResult r = DecodeChange(again, &back);
  Check(r.ok() && r.consumed == again.size() && back == c);
}

// Walks the input as a stream of records, as a log reader would.
void FuzzRecords(std::string_view in) {
  while (!in.empty()) {
    ChangeView c;
    const DecodeResult r = DecodeChange(in, &c);
    CheckResult(r, in.size());
    if (!r.ok()) return;
    CheckChange(c, in);
    in.remove_prefix(r.consumed);
  }
}

void FuzzBatch(std::string_view in) {
  BatchView batch;
  const DecodeResult r = DecodeBatch(in, &batch);
  CheckResult(r, in.size());
  if (!r.ok()) {
    Check(batch.changes.empty());
    return;
  }
  for (const ChangeView& c : batch.changes) CheckChange(c, in);
  std::string again;
  EncodeBatch(batch.first_seq, batch.changes, &again);
  Check(again == in.substr(0, r.consumed));  // the frame has one encoding
}

// Rewrites the header check and trailing checksum of each record in s[pos..end) as
// the header lengths claim them, stopping at the first record that runs past `end`.
void FixRecordChecksums(std::string* s, size_t pos, size_t end) {
  while (end - pos >= 12) {
    char* p = s->data() + pos;
    Store32(p + 8, Checksum32(p, 8));
    const uint64_t total = 34 + static_cast<uint8_t>(p[3]) + uint64_t{Load32(p + 4)};
    if (total > end - pos) return;
    Store32(p + total - 4, Checksum32(p, total - 4));
    pos += total;
  }
}

void FixBatchChecksums(std::string* s) {
  if (s->size() < 24) return;
  Store32(s->data() + 20, Checksum32(s->data(), 20));
  const uint64_t body_end = std::min<uint64_t>(s->size(), 24 + uint64_t{Load32(s->data() + 8)});
  FixRecordChecksums(s, 24, body_end);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  FuzzRecords(in);
  FuzzBatch(in);
  std::string fixed(in);
  FixRecordChecksums(&fixed, 0, fixed.size());
  FuzzRecords(fixed);
  fixed.assign(in);
  FixBatchChecksums(&fixed);
  FuzzBatch(fixed);
  return 0;
}
