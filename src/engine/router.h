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
  static constexpr int kSplit = -3;    // ForwardTarget: not one node's, as the client sent it

  enum class Wire : uint8_t { kText, kBinary };  // text covers meta
  enum class Sent : uint8_t {
    kOk,           // reply holds the node's replies to `request`, byte for byte
    kUnreachable,  // nothing was sent (the node is now marked down): pick again
    kFailed,       // sent, but no complete reply: it may have run there
    kTooLarge,     // it ran there, and its reply was too large to gather
  };

  virtual ~Router() = default;
  // Where a request for `key` runs: its first live owner, so each key has one place
  // that orders its reads and writes while that owner lives. `relayed`: the request
  // came from another node's forward, which picked this node; an owner runs it here
  // (one hop: nodes that disagree on who is alive do not pass a request along a chain
  // of timeouts).
  virtual int Pick(std::string_view key, bool relayed) = 0;
  // Sends whole requests to `node` and appends exactly its replies to them to `reply`
  // (nothing on kUnreachable or kFailed). Blocks, with timeouts.
  virtual Sent Forward(int node, Wire wire, std::string_view request, std::string* reply) = 0;
  // A request answered with SERVER_ERROR because no owner could run it (stats).
  virtual void CountFailure() {}
};

// The first bytes a node's forwarding connection sends (before choosing text or binary
// by its next byte): marks the session's requests as relayed (Router::Pick). No reply.
inline constexpr std::string_view kRelayHello = "syncached_relayed\r\n";

// The first bytes of a peer's sync lane connection (docs/REPLICATION.md "The sync
// lane", Host::TakesLane): then frames, each a u32 little-endian length and that many
// bytes, at most kMaxLaneFrameBytes; each answered by Host::ApplyLane.
inline constexpr std::string_view kLaneHello = "syncached_lane\r\n";
inline constexpr size_t kMaxLaneFrameBytes = (size_t{1} << 20) + 4096;

// What a relayed request that got no complete reply is answered with: memcached's
// SERVER_ERROR (nothing under a plain text noreply), or a binary temporary failure,
// which is answered even to quiet opcodes.
struct ForwardFailure {
  bool binary = false;
  bool silent = false;  // text noreply
  uint8_t opcode = 0;
  uint32_t opaque = 0;
};
void AppendForwardFailure(const ForwardFailure& f, std::string* out);
// A reply too large to gather (forward::Options::max_reply): memcached's answer when it
// cannot make a get's reply, or a binary out-of-memory status.
void AppendReplyTooLarge(const ForwardFailure& f, std::string* out);

}  // namespace syncached::engine
