#include "placement/hashes.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <cstdlib>

namespace syncached::placement {

std::array<uint8_t, 16> Md5(std::string_view data) {
  std::array<uint8_t, 16> out{};
  unsigned int len = 0;
  // MD5 lives in OpenSSL 3's default provider; failing to get it is a broken install.
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_md5(), nullptr) != 1 ||
      len != out.size()) {
    abort();
  }
  return out;
}

uint32_t Md5Hash(std::string_view data) {
  auto d = Md5(data);
  return uint32_t{d[3]} << 24 | uint32_t{d[2]} << 16 | uint32_t{d[1]} << 8 | d[0];
}

uint32_t Crc32(std::string_view data) {
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
}

uint32_t OneAtATime(std::string_view data) {
  uint32_t value = 0;
  for (char c : data) {
    // libhashkit converts a (signed) char, so bytes >= 0x80 are sign-extended.
    value += static_cast<uint32_t>(static_cast<int32_t>(static_cast<signed char>(c)));
    value += value << 10;
    value ^= value >> 6;
  }
  value += value << 3;
  value ^= value >> 11;
  value += value << 15;
  return value;
}

}  // namespace syncached::placement
