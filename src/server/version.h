#pragma once

namespace syncached::server {
// syncached's own version; `version` on the wire answers memcached's (Settings::version)
// so clients that gate features on it treat us as memcached 1.6.
inline constexpr const char* kSyncachedVersion = "0.1.0";
}  // namespace syncached::server
