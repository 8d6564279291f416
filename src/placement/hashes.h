// The hash functions the clients use, bit for bit. Internal to placement.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace syncached::placement {

std::array<uint8_t, 16> Md5(std::string_view data);
// libhashkit's md5 key hash: the digest's first 4 bytes, little-endian.
uint32_t Md5Hash(std::string_view data);
// Standard (zlib, PHP) CRC-32.
uint32_t Crc32(std::string_view data);
// libhashkit's one-at-a-time, its default hash.
uint32_t OneAtATime(std::string_view data);

}  // namespace syncached::placement
