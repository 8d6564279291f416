// Fuzzes what a node does with a peer's sync lane bytes (replication/sync_lane.h): as a
// frame, nothing forged may open; as the records inside a frame that does open (sealed
// here with the sender's key), decoding must refuse or yield only the sender's own,
// valid changes. Nothing may crash.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "replication/sync_lane.h"

using namespace syncached;
using namespace syncached::replication;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  static SyncLane* sender = new SyncLane("fuzz secret", "syncached", 1);
  static SyncLane* receiver = new SyncLane("fuzz secret", "syncached", 2);
  uint16_t node = 0;
  std::string records, token;
  if (receiver->Open(bytes, &node, &records, &token)) abort();  // a forgery opened
  if (size > kMaxLaneBatchBytes) return 0;
  sender->Capture(bytes, 1);
  LaneBatch batch;
  if (!sender->Take(&batch) || batch.frame.empty()) abort();
  if (!receiver->Open(batch.frame, &node, &records, &token)) abort();
  if (node != 1 || token != batch.token || records != bytes) abort();
  std::vector<record::ChangeView> changes;
  if (DecodeLaneRecords(records, node, &changes)) {
    for (const record::ChangeView& c : changes) {
      if (c.version.node != 1 || !record::IsValid(c)) abort();
    }
  }
  return 0;
}
