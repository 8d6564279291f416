// Request encoding for the load generator. Everything that does not depend on
// the key (command words, the value bytes, binary header templates) is
// formatted once at start; encoding a request is then a few memcpys plus
// writing the key digits in place, with no allocation.
//
// KeySpace and Encoder are immutable after construction and shared read-only
// by all loadgen threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "options.h"

namespace syncached::bench {

// Keys are PREFIX followed by the index as fixed-width zero-padded decimal, so
// every key has the same length and can be formatted without allocating.
class KeySpace {
 public:
  KeySpace(std::string prefix, uint32_t count);
  // --key-file: these keys (all of one length) instead of PREFIX0..PREFIX(N-1), e.g.
  // the keys a sharded node owns, so a client sends each to its owner.
  explicit KeySpace(std::vector<std::string> keys);

  uint32_t count() const { return count_; }
  size_t key_len() const { return list_.empty() ? prefix_.size() + width_ : list_[0].size(); }

  // Writes key_len() bytes.
  void Format(uint32_t index, char* out) const {
    if (!list_.empty()) {
      std::memcpy(out, list_[index].data(), list_[index].size());
      return;
    }
    for (size_t i = 0; i < prefix_.size(); ++i) out[i] = prefix_[i];
    char* d = out + prefix_.size() + width_;
    for (int i = 0; i < width_; ++i) {
      *--d = static_cast<char>('0' + index % 10);
      index /= 10;
    }
  }

 private:
  std::string prefix_;
  uint32_t count_;
  int width_;
  std::vector<std::string> list_;
};

// memcached binary protocol (doc/protocol-binary.txt) pieces used here.
namespace binproto {
constexpr uint8_t kReqMagic = 0x80;
constexpr uint8_t kResMagic = 0x81;
constexpr uint8_t kOpSet = 0x01;
constexpr uint8_t kOpNoop = 0x0a;
constexpr uint8_t kOpGetK = 0x0c;
constexpr uint8_t kOpGetKQ = 0x0d;
constexpr uint16_t kStatusOk = 0x0000;
constexpr uint16_t kStatusNotFound = 0x0001;
constexpr size_t kHeaderLen = 24;
}  // namespace binproto

class Encoder {
 public:
  // `multi` selects the multi-get form for gets (see --mget in options.cc).
  Encoder(Proto proto, const KeySpace& keys, uint32_t value_size, bool multi);

  // Upper bound of one encoded request carrying at most `max_keys` keys.
  size_t MaxRequestSize(int max_keys) const;

  // Each writes one request at `out` (room for MaxRequestSize) and returns its size.
  size_t EncodeGet(const uint32_t* keys, int n, char* out) const;
  size_t EncodeSet(uint32_t key, char* out) const;

  // The bytes every set stores; responses are checked against them.
  const char* value() const { return value_.data(); }
  uint32_t value_size() const { return value_size_; }

 private:
  Proto proto_;
  const KeySpace& keys_;
  uint32_t value_size_;
  bool multi_;
  std::string value_;       // value_size bytes followed by "\r\n"
  std::string set_suffix_;  // text: " 0 0 <n>\r\n"; meta: " <n>\r\n"
  char bin_get_[binproto::kHeaderLen];
  char bin_set_[binproto::kHeaderLen + 8];  // header + flags + exptime
  char bin_noop_[binproto::kHeaderLen];
};

}  // namespace syncached::bench
