// Sealed frames for the multicast change stream (issue 23, docs/REPLICATION.md; internal to
// replication). ZeroMQ's pgm/epgm carries no CURVE: anyone on the segment can read
// and inject. Each frame therefore carries a clear header (which cluster, which
// sender and run, which sequences) and the batch sealed with XChaCha20-Poly1305, the
// header as associated data; nothing that does not open is applied. The key is per
// sender run, derived from the cluster secret, so a receiver needs nothing sent to it.
//
//   u8 'S', u8 version 1, u8 kind, u64 cluster tag, u16 node, u64 run, u64 first seq,
//   u32 count, 24-byte nonce, ciphertext (payload + 16-byte tag)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace syncached::replication {

enum class FrameKind : uint8_t {
  kBatch = 1,      // a kBatch message of the stream: seqs [first, first + count)
  kHeartbeat = 2,  // no payload: the sender's stream ends before first (count 0)
  // A sync lane batch (sync_lane.h), never on multicast: first_seq and count are the
  // sender's tickets, the payload its records.
  kLane = 3,
};

struct FrameHeader {
  FrameKind kind = FrameKind::kBatch;
  uint64_t cluster = 0;  // ClusterTag of the cluster name
  uint16_t node = 0;
  uint64_t run = 0;  // the sender's epoch
  uint64_t first_seq = 0;
  uint32_t count = 0;
};

constexpr size_t kFrameHeaderBytes = 33;
constexpr size_t kFrameOverhead = kFrameHeaderBytes + 24 + 16;

// A short tag of the cluster name, so frames of another cluster on the same group
// are told apart before any key is derived.
uint64_t ClusterTag(std::string_view cluster_name);

// Key domains: a multicast key and a sync lane key of one node and run differ.
inline constexpr std::string_view kMulticastKeys = "syncached multicast v1";
inline constexpr std::string_view kLaneKeys = "syncached sync lane v1";

// The key of one sender run: keyed BLAKE2b of the cluster secret over the domain, the
// cluster name, node and run. Wiped on destruction.
class FrameKey {
 public:
  FrameKey(std::string_view secret, std::string_view cluster_name, uint16_t node, uint64_t run,
           std::string_view domain = kMulticastKeys);
  ~FrameKey();
  FrameKey(const FrameKey&) = delete;
  FrameKey& operator=(const FrameKey&) = delete;
  const unsigned char* bytes() const { return key_; }

 private:
  unsigned char key_[32];
};

std::string SealFrame(const FrameKey& key, const FrameHeader& h, std::string_view payload);
// The same with the caller's nonce (24 bytes, never repeated under one key): no random
// bytes drawn (a syscall) per frame.
std::string SealFrame(const FrameKey& key, const FrameHeader& h, std::string_view payload,
                      const unsigned char* nonce);
// The clear header, to find the key (false: not a frame of ours).
bool PeekFrame(std::string_view frame, FrameHeader* h);
// The payload, if the frame opens with `key` (false: forged, corrupt or another key).
bool OpenFrame(const FrameKey& key, std::string_view frame, std::string* payload);

}  // namespace syncached::replication
