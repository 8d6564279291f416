// Fuzzes what a multicast receiver does with any datagram: the clear header's
// checks, opening (forgeries must not open), and the gap tracker fed the header's
// sequence numbers. Nothing may crash, and nothing forged may open.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "replication/gap_tracker.h"
#include "replication/sealed.h"

using namespace syncached::replication;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view frame(reinterpret_cast<const char*>(data), size);
  static FrameKey* key = new FrameKey("fuzz secret", "syncached", 1, 1);
  static GapTracker* tracker = [] {
    auto* t = new GapTracker(1 << 16);
    t->Reset(1, 1);
    return t;
  }();
  FrameHeader h;
  if (!PeekFrame(frame, &h)) return 0;
  std::string payload;
  if (OpenFrame(*key, frame, &payload)) abort();  // a forgery opened
  // The tracker must cope with whatever numbers a header claims.
  if (h.kind == FrameKind::kHeartbeat) {
    tracker->OnHeartbeat(h.run, h.first_seq);
  } else {
    tracker->OnBatch(h.run, h.first_seq, h.count, std::string(frame.substr(0, 64)));
  }
  tracker->TakeReady();
  uint64_t from, to;
  if (tracker->Missing(&from, &to) && from >= to) abort();
  if (tracker->buffered_bytes() > (1 << 16)) abort();
  return 0;
}
