// Fuzzes the replication decoders: every byte from a peer is untrusted. Any input
// must decode cleanly or be refused; what decodes must obey the record limits and
// re-encode to the same meaning.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "replication/wire.h"

namespace {
void Check(bool ok) {
  if (!ok) abort();
}
}  // namespace

using namespace syncached::replication;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view msg(reinterpret_cast<const char*>(data), size);
  MsgType type;
  if (!PeekType(msg, &type)) return 0;
  Hello h;
  if (DecodeHello(msg, &h)) Check(EncodeHello(h) == msg);
  Welcome w;
  if (DecodeWelcome(msg, &w)) Check(EncodeWelcome(w) == msg);
  Position p;
  if (DecodePosition(msg, &p)) Check(EncodePosition(type, p) == msg);
  std::string reason;
  if (DecodeRefuse(msg, &reason)) Check(EncodeRefuse(reason) == msg);
  uint32_t id;
  std::string_view body;
  if (DecodeRepair(msg, &id, &body)) Check(EncodeRepair(id, body) == msg);
  bool declined;
  if (DecodeRepairDone(msg, &id, &declined)) Check(EncodeRepairDone(id, declined) == msg);
  uint64_t members_epoch;
  bool new_only;
  if (DecodeRepairRange(msg, &id, &members_epoch, &new_only)) {
    Check(EncodeRepairRange(id, members_epoch, new_only) == msg);
  }
  uint64_t epoch, from, to;
  if (DecodeStreamRepair(msg, &epoch, &from, &to)) {
    Check(from < to && EncodeStreamRepair(epoch, from, to) == msg);
  }
  Changes c;
  if (DecodeChanges(msg, &c)) {
    if (type == MsgType::kSparse) {  // decoding keeps everything: encoding gives it back
      std::string again, one;
      BeginSparse(c.epoch, c.first_seq, static_cast<uint32_t>(c.span), &again);
      for (size_t i = 0; i < c.changes.size(); ++i) {
        one.clear();
        syncached::record::EncodeChange(c.changes[i], &one);
        AddSparse(c.offsets[i], one, &again);
      }
      FinishSparse(&again, static_cast<uint32_t>(c.changes.size()));
      Check(again == msg);
    }
    for (const auto& ch : c.changes) {
      Check(syncached::record::IsValid(ch));
      Check(ch.key.data() >= msg.data() &&
            ch.key.data() + ch.key.size() <= msg.data() + msg.size());
    }
  }
  return 0;
}
