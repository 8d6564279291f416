// Little-endian integers in byte strings: the writers append, the Reader walks an
// untrusted message and fails instead of reading past its end. Shared by the wire
// formats of replication and repair (docs/FORMATS.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace syncached::bytes {

inline void Put8(std::string* o, uint8_t v) { o->push_back(static_cast<char>(v)); }
inline void Put16(std::string* o, uint16_t v) {
  for (int i = 0; i < 2; ++i) o->push_back(static_cast<char>(v >> (8 * i)));
}
inline void Put32(std::string* o, uint32_t v) {
  for (int i = 0; i < 4; ++i) o->push_back(static_cast<char>(v >> (8 * i)));
}
inline void Put64(std::string* o, uint64_t v) {
  for (int i = 0; i < 8; ++i) o->push_back(static_cast<char>(v >> (8 * i)));
}

// Each read returns false, and reads nothing, past the end: check every one.
class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  [[nodiscard]] bool U8(uint8_t* v) { return Take(1, v); }
  [[nodiscard]] bool U16(uint16_t* v) { return Take(2, v); }
  [[nodiscard]] bool U32(uint32_t* v) { return Take(4, v); }
  [[nodiscard]] bool U64(uint64_t* v) { return Take(8, v); }
  [[nodiscard]] bool Bytes(size_t n, std::string_view* v) {
    if (s_.size() - pos_ < n) return false;
    *v = s_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  std::string_view rest() const { return s_.substr(pos_); }
  size_t left() const { return s_.size() - pos_; }
  bool done() const { return pos_ == s_.size(); }

 private:
  template <typename T>
  bool Take(size_t n, T* v) {
    if (s_.size() - pos_ < n) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; ++i) x |= uint64_t{static_cast<uint8_t>(s_[pos_ + i])} << (8 * i);
    *v = static_cast<T>(x);
    pos_ += n;
    return true;
  }
  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace syncached::bytes
