// The comparison's messages (internal to repair), little-endian. Every field is
// checked on decode: the bytes come from a peer.
//
//   Hashes: u8 1, u8 bits, u8 level, u32 n, n x (u32 index, u64 hash)
//   Keys:   u8 2, u8 bits, u8 last, u32 n, n x (u8 level, u32 index, u8 evicted,
//           u32 m, m x (u16 key length, key, u64 hlc, u16 node, u8 tombstone))
//           (an entry covers the buckets below node `index` of `level`: level 0 is
//           one bucket)
//   Want:   u8 3, u32 n, n x (u16 key length, key)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "repair/repair.h"

namespace syncached::repair {

enum class MsgType : uint8_t { kHashes = 1, kKeys = 2, kWant = 3 };

struct HashesMsg {
  int bits = 0;
  int level = 0;
  std::vector<std::pair<uint32_t, uint64_t>> nodes;  // (index, hash)
};

// The sender's keys below one tree node (all of them; none when it holds nothing
// there).
struct BucketKeys {
  int level = 0;  // 0: `index` is a bucket
  uint32_t index = 0;
  bool evicted = false;  // the sender evicted below this node (EvictedIn)
  std::vector<KeyVersion> keys;
};

struct KeysMsg {
  int bits = 0;
  bool last = false;
  std::vector<BucketKeys> buckets;
};

constexpr size_t kMaxKeyBytes = 65535;  // fits the u16 length (memcached keys: 250)

bool PeekType(std::string_view msg, MsgType* type);
std::string EncodeHashes(const HashesMsg& m);
bool DecodeHashes(std::string_view msg, HashesMsg* m);
std::string EncodeKeys(const KeysMsg& m);
bool DecodeKeys(std::string_view msg, KeysMsg* m);
std::string EncodeWant(const std::vector<std::string>& keys);
bool DecodeWant(std::string_view msg, std::vector<std::string>* keys);
// The encoded size of one entry of a Keys message.
size_t KeysBucketBytes(const BucketKeys& b);

}  // namespace syncached::repair
