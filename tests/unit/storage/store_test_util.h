// Helpers shared by the storage tests: small stores and one-call put/get.
#pragma once

#include <string>
#include <string_view>

#include "storage/storage.h"

namespace syncached::storage {

// Four shards of four buckets: growth and several shards without many items.
inline Options SmallOptions() {
  Options o;
  o.shard_bits = 2;
  o.initial_hash_power = 2;
  return o;
}

inline PutStatus Put(Store& s, std::string_view key, std::string_view value, uint32_t exptime = 0) {
  return s.Access(key, [&](Accessor& a) {
    PutArgs p;
    p.value = value;
    p.exptime = exptime;
    return a.Put(p, nullptr);
  });
}

inline std::string Get(Store& s, std::string_view key) {
  return s.Access(key, [&](Accessor& a) {
    ItemRef it = a.Find();
    return it ? std::string(it.value()) : std::string("<miss>");
  });
}

}  // namespace syncached::storage
