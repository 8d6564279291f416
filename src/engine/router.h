// Router: where a key's request runs when keys live on some nodes only (--members with
// --replication-factor < N, docs/SHARDING.md "Any node serves any key"). The engine
// asks it per key and, for a request that runs elsewhere, hands it the request's bytes
// in the session's own protocol; the reply bytes come back verbatim and are relayed.
// The engine knows no sockets: the server injects an implementation (server/router.cc).
//
// Threads: called from every worker thread at once; implementations synchronise.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace syncached::engine {

class Router {
 public:
  // Pick's answers besides a node id (0..65535).
  static constexpr int kLocal = -1;    // run here
  static constexpr int kNoOwner = -2;  // every owner that could run it is down

  enum class Wire : uint8_t { kText, kBinary };  // text covers meta
  enum class Sent : uint8_t {
    kOk,           // reply holds the node's replies to `request`, byte for byte
    kUnreachable,  // nothing was sent (the node is now marked down): pick again
    kFailed,       // sent, but no complete reply: it may have run there
  };

  virtual ~Router() = default;
  // `rmw`: a read-modify-write (add, cas, incr, touch, meta modes...), which runs on
  // the first live owner; other requests run on any owner (here, when this is one).
  virtual int Pick(std::string_view key, bool rmw) = 0;
  // Sends whole requests to `node` and appends exactly its replies to them to `reply`
  // (nothing on kUnreachable or kFailed). Blocks, with timeouts.
  virtual Sent Forward(int node, Wire wire, std::string_view request, std::string* reply) = 0;
  // A request answered with SERVER_ERROR because no owner could run it (stats).
  virtual void CountFailure() {}
};

}  // namespace syncached::engine
