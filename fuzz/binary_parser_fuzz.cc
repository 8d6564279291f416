// Fuzzes the binary protocol parser: any bytes, parsed request by request as a
// connection would (swallowing what a refused request asks to skip), must never crash
// or read out of bounds, and every result must keep the protocol's invariants.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "protocol/binary.h"
#include "protocol/protocol.h"

using syncached::protocol::Command;
using syncached::protocol::kMaxKeyLength;
using syncached::protocol::ParseBinary;
using syncached::protocol::ParseResult;
using syncached::protocol::Request;
namespace bin = syncached::protocol::binary;

namespace {

void Check(bool ok) {
  if (!ok) abort();
}

// A view that is empty or lies inside `in`.
bool Inside(std::string_view v, std::string_view in) {
  return v.empty() || (v.data() >= in.data() && v.data() + v.size() <= in.data() + in.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static Request req;
  size_t item_max = 64 + (size % 8192);
  for (int guard = 0; guard < 100000 && !in.empty(); ++guard) {
    ParseResult r = ParseBinary(in, item_max, &req);
    if (r.status == ParseResult::kNeedMore) {
      Check(r.consumed == 0);
      break;
    }
    if (r.status == ParseResult::kClose) {
      Check(static_cast<uint8_t>(in[0]) != bin::kRequestMagic);
      break;
    }
    // A request is at least a header and never more than what was given.
    Check(r.consumed >= bin::kHeaderSize && r.consumed <= in.size());
    std::string_view frame = in.substr(0, r.consumed);
    bin::Header h;
    Check(bin::DecodeHeader(in, &h));
    Check(req.opcode == h.opcode && req.opaque == h.opaque);
    if (req.cmd == Command::kError) {
      Check(req.status != bin::kSuccess && *bin::StatusMessage(req.status) != '\0');
      // What is consumed plus what is swallowed is never more than the frame.
      Check(r.consumed + req.swallow <= bin::kHeaderSize + uint64_t{h.bodylen});
      Check(req.key.size() <= kMaxKeyLength && Inside(req.key, frame));
      if (req.close_after_error) break;
    } else {
      Check(req.swallow == 0);
      Check(r.consumed == bin::kHeaderSize + size_t{h.bodylen});
      Check(req.key.size() <= kMaxKeyLength);
      Check(Inside(req.key, frame) && Inside(req.data, frame) && Inside(req.args, frame));
      Check(req.data.size() <= item_max);
      // Every keyed command has a key; values only where the protocol carries them.
      switch (req.cmd) {
        case Command::kGet:
        case Command::kGat:
        case Command::kTouch:
        case Command::kSet:
        case Command::kAdd:
        case Command::kReplace:
        case Command::kAppend:
        case Command::kPrepend:
        case Command::kDelete:
        case Command::kIncr:
        case Command::kDecr:
        case Command::kSaslAuth:
        case Command::kSaslStep:
          Check(!req.key.empty());
          break;
        default:
          Check(req.key.empty() || req.cmd == Command::kStats);
          break;
      }
      if (req.cmd != Command::kSet && req.cmd != Command::kAdd && req.cmd != Command::kReplace &&
          req.cmd != Command::kAppend && req.cmd != Command::kPrepend &&
          req.cmd != Command::kSaslAuth && req.cmd != Command::kSaslStep) {
        Check(req.data.empty());
      }
    }
    in.remove_prefix(r.consumed);
    size_t skip = req.swallow < in.size() ? static_cast<size_t>(req.swallow) : in.size();
    in.remove_prefix(skip);
  }
  return 0;
}
