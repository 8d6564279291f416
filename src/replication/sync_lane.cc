#include "replication/sync_lane.h"

#include <sodium.h>

#include <cstring>
#include <map>
#include <utility>

namespace syncached::replication {
namespace {

std::atomic<uint64_t> lane_instances{0};

uint64_t RandomRun() {
  if (sodium_init() < 0) abort();  // FrameKey needs it too
  uint64_t run = 0;
  while (run == 0) randombytes_buf(&run, sizeof run);
  return run;
}

// Keys of peers' runs this thread opened frames with (a peer restarted: a new run).
struct KeyCache {
  uint64_t lane = 0;
  std::map<std::pair<uint16_t, uint64_t>, std::unique_ptr<FrameKey>> keys;
};
thread_local KeyCache tl_keys;
constexpr size_t kMaxCachedKeys = 256;

}  // namespace

struct SyncLane::Capturing {
  uint64_t lane = 0;  // SyncLane::instance_
  uint64_t first = 0, last = 0;
  std::string records;
  bool overflowed = false;
};

SyncLane::SyncLane(std::string_view root, std::string_view cluster, uint16_t node)
    : root_(root),
      cluster_tag_(ClusterTag(cluster)),
      cluster_(cluster),
      node_(node),
      run_(RandomRun()),
      instance_(++lane_instances),
      own_key_(root, cluster, node, run_, kLaneKeys) {
  randombytes_buf(nonce_prefix_, sizeof nonce_prefix_);
}

SyncLane::Capturing& SyncLane::This() {
  thread_local Capturing c;
  if (c.lane != instance_) {
    c = Capturing();
    c.lane = instance_;
  }
  return c;
}

void SyncLane::Capture(std::string_view record, uint64_t ticket) {
  Capturing& c = This();
  if (c.first == 0) c.first = ticket;
  c.last = ticket;
  if (c.overflowed) return;
  if (c.records.size() + record.size() > kMaxLaneBatchBytes) {
    c.overflowed = true;
    c.records.clear();
    return;
  }
  c.records.append(record);
}

bool SyncLane::Take(LaneBatch* out) {
  Capturing& c = This();
  if (c.first == 0) return false;
  out->first_ticket = c.first;
  out->last_ticket = c.last;
  out->frame.clear();
  out->token.clear();
  if (!c.overflowed) {
    FrameHeader h{FrameKind::kLane,
                  cluster_tag_,
                  node_,
                  run_,
                  c.first,
                  static_cast<uint32_t>(c.last - c.first + 1)};
    unsigned char nonce[24];
    std::memcpy(nonce, nonce_prefix_, sizeof nonce_prefix_);
    uint64_t n = nonces_.fetch_add(1, std::memory_order_relaxed);
    for (int i = 0; i < 8; ++i) nonce[16 + i] = static_cast<unsigned char>(n >> (8 * i));
    out->frame = SealFrame(own_key_, h, c.records, nonce);
    out->token = Token(own_key_, out->frame);
  }
  c.first = c.last = 0;
  c.overflowed = false;
  c.records.clear();
  if (c.records.capacity() > kMaxLaneBatchBytes / 4) c.records.shrink_to_fit();  // a burst
  return true;
}

std::string SyncLane::Token(const FrameKey& key, std::string_view frame) {
  // Keyed BLAKE2b over the frame's nonce (random per frame), domain-separated.
  std::string_view nonce = frame.substr(kFrameHeaderBytes, 24);
  unsigned char out[kLaneTokenBytes];
  crypto_generichash_state st;
  crypto_generichash_init(&st, key.bytes(), 32, sizeof out);
  static constexpr char kDomain[] = "syncached lane ack";
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kDomain),
                            sizeof kDomain - 1);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(nonce.data()),
                            nonce.size());
  crypto_generichash_final(&st, out, sizeof out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

bool SyncLane::Open(std::string_view frame, uint16_t* node, std::string* records,
                    std::string* token) {
  FrameHeader h;
  if (!PeekFrame(frame, &h) || h.kind != FrameKind::kLane || h.cluster != cluster_tag_ ||
      h.node == node_) {
    return false;
  }
  KeyCache& cache = tl_keys;
  if (cache.lane != instance_) {
    cache.keys.clear();
    cache.lane = instance_;
  }
  auto& key = cache.keys[{h.node, h.run}];
  if (!key) {
    if (cache.keys.size() > kMaxCachedKeys) {
      cache.keys.clear();
      return Open(frame, node, records, token);
    }
    key = std::make_unique<FrameKey>(root_, cluster_, h.node, h.run, kLaneKeys);
  }
  if (!OpenFrame(*key, frame, records)) return false;
  *node = h.node;
  *token = Token(*key, frame);
  return true;
}

void SyncLane::SetPeers(std::vector<LanePeer> peers, uint32_t needed) {
  MutexLock lock(mu_);
  if (peers == peers_ && needed == needed_) return;
  peers_ = std::move(peers);
  needed_ = needed;
  version_.fetch_add(1, std::memory_order_release);
}

uint64_t SyncLane::Peers(std::vector<LanePeer>* out, uint32_t* needed) const {
  MutexLock lock(mu_);
  *out = peers_;
  *needed = needed_;
  return version_.load(std::memory_order_relaxed);
}

void SyncLane::SetFollowing(const std::vector<uint16_t>& nodes) {
  uint64_t bits[65536 / 64] = {};
  for (uint16_t n : nodes) bits[n / 64] |= uint64_t{1} << (n % 64);
  for (size_t i = 0; i < 65536 / 64; ++i) {
    if (following_[i].load(std::memory_order_relaxed) != bits[i]) {
      following_[i].store(bits[i], std::memory_order_release);
    }
  }
}

bool DecodeLaneRecords(std::string_view records, uint16_t node,
                       std::vector<record::ChangeView>* out) {
  out->clear();
  while (!records.empty()) {
    record::ChangeView c;
    record::DecodeResult d = record::DecodeChange(records, &c);
    if (d.code != record::DecodeResult::Code::kOk || d.consumed == 0) return false;
    if (c.version.node != node) return false;  // a peer sends only its own changes
    out->push_back(c);
    records.remove_prefix(d.consumed);
  }
  return true;
}

}  // namespace syncached::replication
