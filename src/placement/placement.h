// Key placement that agrees with the clients' own consistent hashing: the members
// file, and rings that compute a key's owners in the order a client fails over.
// Pure: no network, storage or replication. docs/SHARDING.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace syncached::placement {

using NodeId = uint16_t;

// One line of the members file: `node-id client-address replication-address [weight]`.
struct Member {
  NodeId id = 0;
  std::string client_address;  // exactly as written
  std::string host;            // client_address before ':' (the text clients hash)
  uint16_t port = 11211;       // client_address after ':', 11211 when absent
  std::string replication_address;
  uint32_t weight = 1;
  int line = 0;  // 1-based line in the file, for messages
};

class Members {
 public:
  static Result<Members> Parse(std::string_view text);
  static Result<Members> Load(const std::string& path);

  const std::vector<Member>& nodes() const { return nodes_; }
  const Member* Find(NodeId id) const;
  // One line per member in file order, "id client replication weight\n": what Digest hashes.
  std::string Canonical() const;
  // xxhash64 of Canonical(): equal on two nodes iff their files mean the same ring.
  uint64_t Digest() const;

 private:
  std::vector<Member> nodes_;
};

// "host[:port]" as libmemcached and pecl/memcache split it; nullopt if not one.
struct HostPort {
  std::string host;
  uint16_t port = 11211;
};
std::optional<HostPort> ParseHostPort(std::string_view text);

enum class RingKind {
  kKetama,          // libmemcached MEMCACHED_BEHAVIOR_KETAMA (php-memcached sessions' default)
  kKetamaWeighted,  // MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED = Memcached::OPT_LIBKETAMA_COMPATIBLE
  kMemcache,        // pecl/memcache hash_strategy=consistent, hash_function=crc32
  // pecl/memcache's session handler on that ring: a session's servers are those of
  // "sid-0", "sid-1", ... (never "sid" itself), and "sid.lock" lives with "sid".
  kMemcacheSession,
};
std::optional<RingKind> ParseRingKind(std::string_view name);
const char* RingKindName(RingKind kind);

struct RingOptions {
  RingKind kind = RingKind::kKetama;
  // Stripped from a key that starts with it before hashing: a namespace the client
  // adds but does not hash (php-memcached's session prefix "memc.sess.key.").
  std::string prefix;
  // pecl/memcache's memcache.max_failover_attempts (its "key-i" sequence length).
  unsigned max_failover_attempts = 20;
};

class Ring {
 public:
  using Alive = std::function<bool(NodeId)>;

  Ring(const Members& members, RingOptions options);
  ~Ring();
  Ring(Ring&&) noexcept;
  Ring& operator=(Ring&&) noexcept;

  // The first min(r, N) distinct nodes of the client's failover order for key
  // (pecl/memcache: fewer if its key-i sequence runs out of attempts first).
  std::vector<NodeId> Owners(std::string_view key, size_t r) const;
  // The same with dead nodes skipped the way the client's failover skips them.
  std::vector<NodeId> Owners(std::string_view key, size_t r, const Alive& alive) const;
  // Owners(key, r) appended to *out: lookups in bulk (a store walk, each change
  // replicated) reuse one vector and allocate nothing.
  void AppendOwners(std::string_view key, size_t r, std::vector<NodeId>* out) const;

  const RingOptions& options() const { return options_; }

  class Impl;

 private:
  RingOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace syncached::placement
