// Fuzzes the text/meta parser: any bytes, parsed request by request as a connection
// would, must never crash or read out of bounds, and every accepted request must obey
// the protocol's limits.
#include <cassert>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "protocol/protocol.h"

using syncached::protocol::Command;
using syncached::protocol::ParseResult;
using syncached::protocol::ParseText;
using syncached::protocol::Request;

namespace {
void Check(bool ok) {
  if (!ok) abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static Request req;
  size_t item_max = 1024 + (size % 4096);
  for (int guard = 0; guard < 10000 && !in.empty(); ++guard) {
    ParseResult r = ParseText(in, item_max, &req);
    if (r.status != ParseResult::kOk) break;
    Check(r.consumed > 0 && r.consumed <= in.size());
    if (req.cmd != Command::kError && req.cmd != Command::kClose) {
      Check(req.key.size() <= syncached::protocol::kMaxKeyLength);
      // A base64 (meta b) key may decode to any bytes; a plain one never holds a newline.
      if (!req.key_binary) Check(req.key.find('\n') == std::string_view::npos);
      Check(req.data.size() <= item_max);
    }
    if (req.cmd == Command::kError) Check(req.error != syncached::protocol::TextError::kNone);
    in.remove_prefix(r.consumed);
    size_t skip = req.swallow < in.size() ? static_cast<size_t>(req.swallow) : in.size();
    in.remove_prefix(skip);
  }
  return 0;
}
