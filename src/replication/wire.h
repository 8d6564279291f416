// Replication messages: one ZeroMQ frame each, first byte the type, then fixed
// little-endian fields; change records inside are record::EncodeChange records
// (self-delimiting and checksummed). Every byte from a peer is untrusted: decoders
// bound every length and report malformed input instead of trusting it.
// docs/REPLICATION.md documents the layout.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "record/record.h"

namespace syncached::replication {

// 2: HELLO carries stream_hlc. 3: a copy streams changes beside its walk (WELCOME start
// seq), which a version-2 subscriber would drop. 4: WELCOME's sweep bit (a version-3
// subscriber would take the mode byte as malformed). 5: HELLO names the sender's own run
// (sender_epoch), so a peer recognises a restarted node from its first message.
// 6: HELLO carries the members file's digest; SPARSE batches (sharded streams).
// 7: REPAIR and REPAIR_ITEMS (anti-entropy), which a version-6 node takes as malformed.
// 8: membership changes: HELLO's joining flag, PING's members epoch and readiness,
// REPAIR_DONE. 9: REPAIR's Keys entries name a tree node. 10: REPAIR_RANGE (a
// handover's range copies). 11: multicast (HELLO's multicast flag, WELCOME's multicast
// bit, STREAM_REPAIR). 12: HELLO names the sender's client address (the sync lane).
inline constexpr uint8_t kProtocolVersion = 12;

enum class MsgType : uint8_t {
  kHello = 1,          // subscriber -> publisher: who I am, where I am
  kWelcome = 2,        // publisher -> subscriber: stream from seq, or full copy follows
  kBatch = 3,          // sequenced changes
  kSnap = 4,           // unsequenced changes of a full copy
  kSnapEnd = 5,        // full copy done; stream resumes at seq
  kAck = 6,            // subscriber has applied everything below next_seq
  kPing = 7,           // publisher heartbeat: epoch, next seq to assign, clock
  kRefuse = 8,         // publisher refuses the subscriber (cluster name, node id)
  kSparse = 9,         // sequenced changes with gaps: a span of seqs, only the peer's keys
  kRepair = 10,        // either way: a message of one anti-entropy comparison
  kRepairItems = 11,   // either way: unsequenced changes a comparison found missing
  kRepairDone = 12,    // publisher -> subscriber: its side of a comparison is all sent
  kRepairRange = 13,   // subscriber -> publisher: send the keys I gain that you hand over
  kStreamRepair = 14,  // subscriber -> publisher: resend these seqs (lost on multicast)
};

enum class WelcomeMode : uint8_t { kStream = 1, kFullCopy = 2 };

struct Hello {
  uint16_t node_id = 0;
  uint64_t epoch = 0;     // publisher epoch the subscriber knows (0: none)
  uint64_t next_seq = 0;  // first sequence number it still needs
  std::string cluster;
  // The newest version (HLC) it applied from that epoch's stream, 0 if it was not
  // streaming it: a publisher restarted with its data sends back only its own
  // changes from about then on (a delta copy) instead of its whole store.
  uint64_t stream_hlc = 0;
  // The epoch of the sender's own publisher: a receiver still following an older run
  // of the sender knows at once that it restarted and says HELLO to the new run (its
  // first writes would otherwise wait for a silence timeout, and die with it).
  uint64_t sender_epoch = 0;
  // Digest of the members file (--members), 0 without one: nodes that place keys
  // differently must not exchange streams.
  uint64_t members_digest = 0;
  // The sender is taking over keys in a membership change (Core::SetMembership): a
  // copy of everything is not wanted, the handover's comparisons bring what it lacks.
  bool joining = false;
  // The sender hears this cluster's multicast group and can open its frames: the
  // publisher may send it the live stream by multicast only (flags bit 1).
  bool multicast = false;
  // Where the sender takes plain TCP clients, "host:port" (host empty: the host its
  // replication link is reached at), empty if it takes none: the publisher sends
  // changes that writers wait for (--sync-replicas) there too (Replicator::TakeDirect).
  std::string client_address;
};
struct Welcome {
  WelcomeMode mode = WelcomeMode::kStream;
  uint64_t epoch = 0;
  uint64_t start_seq = 0;
  uint16_t node_id = 0;
  // The publisher waits for acknowledgements (--sync-replicas): ACK each batch as
  // soon as it is applied. Travels as bit 0x80 of the mode byte.
  bool ack_every_batch = false;
  // kFullCopy of everything the publisher holds, which holds every item it originated
  // and still has: at SNAP_END the subscriber deletes its items of the publisher's
  // origin that the copy did not carry (deleted there, their tombstones purged). Bit
  // 0x40 of the mode byte.
  bool sweep = false;
  // The live stream comes by multicast from start_seq on (this link's TCP stream carries
  // only the backlog before it, and resent ranges); bit 0x20 of the mode byte.
  bool multicast = false;
};
struct Position {  // kSnapEnd, kAck, kPing
  uint64_t epoch = 0;
  uint64_t seq = 0;
  uint64_t millis = 0;  // kPing: publisher's wall clock
  // kPing: the members epoch the publisher places keys by (Hello::members_digest), and
  // whether it holds every key it takes over in that epoch (Core::handover_ready).
  uint64_t members_epoch = 0;
  bool ready = false;
};

std::string EncodeHello(const Hello& h);
std::string EncodeWelcome(const Welcome& w);
std::string EncodePosition(MsgType type, const Position& p);
std::string EncodeRefuse(std::string_view reason);
// Batch header; records are appended after it by the caller.
void BeginBatch(uint64_t epoch, uint64_t first_seq, uint32_t count, std::string* out);
void BeginSnap(uint32_t count, std::string* out);
void BeginRepairItems(uint32_t count, std::string* out);
// REPAIR: u32 comparison id (the initiator's), then the comparison's own message
// (repair/wire.h; the comparison checks it).
std::string EncodeRepair(uint32_t id, std::string_view body);
bool DecodeRepair(std::string_view msg, uint32_t* id, std::string_view* body);
// REPAIR_DONE: u32 comparison id, u8 declined (1: the publisher does not compare now;
// the subscriber tries again later).
std::string EncodeRepairDone(uint32_t id, bool declined);
bool DecodeRepairDone(std::string_view msg, uint32_t* id, bool* declined);
// REPAIR_RANGE: u32 copy id (answered by REPAIR_ITEMS, then REPAIR_DONE with that id),
// u64 the members epoch the sender hands over in, u8 new_only (1: the sender knows only
// the new members file, so its comparisons count only keys both own under it).
std::string EncodeRepairRange(uint32_t id, uint64_t members_epoch, bool new_only);
bool DecodeRepairRange(std::string_view msg, uint32_t* id, uint64_t* members_epoch, bool* new_only);
// STREAM_REPAIR: u64 the publisher's epoch, u64 first and end of the seqs to resend.
std::string EncodeStreamRepair(uint64_t epoch, uint64_t from, uint64_t to);
bool DecodeStreamRepair(std::string_view msg, uint64_t* epoch, uint64_t* from, uint64_t* to);
void SetCount(std::string* msg, uint32_t count);  // patch a Batch/Snap count
// A SPARSE message: `span` sequence numbers from first_seq, of which only the changes
// appended with AddSparse travel (each with its offset in the span). FinishSparse
// patches the count.
void BeginSparse(uint64_t epoch, uint64_t first_seq, uint32_t span, std::string* out);
void AddSparse(uint32_t offset, std::string_view encoded_change, std::string* out);
void FinishSparse(std::string* msg, uint32_t count);

// Decoders return false on malformed input.
bool PeekType(std::string_view msg, MsgType* type);
bool DecodeHello(std::string_view msg, Hello* h);
bool DecodeWelcome(std::string_view msg, Welcome* w);
bool DecodePosition(std::string_view msg, Position* p);
bool DecodeRefuse(std::string_view msg, std::string* reason);

// kBatch / kSparse / kSnap / kRepairItems: header fields and the records, all validated before any
// is returned.
struct Changes {
  uint64_t epoch = 0;
  uint64_t first_seq = 0;
  uint64_t span = 0;                        // seqs covered (kBatch: changes.size())
  std::vector<record::ChangeView> changes;  // point into the message
  std::vector<uint32_t> offsets;            // kSparse: each change's seq - first_seq
  // The sequence number of change i.
  uint64_t SeqOf(size_t i) const { return first_seq + (offsets.empty() ? i : offsets[i]); }
};
bool DecodeChanges(std::string_view msg, Changes* out);

}  // namespace syncached::replication
