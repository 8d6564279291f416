// forward: sends requests to another node's client port and returns its replies, for
// a sharded node relaying a key it does not own (docs/SHARDING.md "Any node serves
// any key"). Each worker thread keeps one blocking connection per node and protocol, used for one
// request at a time; every wait has a timeout, and a node whose connection fails is
// skipped for a while, so a dead owner costs one timeout, not one per request.
//
// Replies are delimited with a sentinel: the request goes out followed by a no-op
// (text `mn`, binary NOOP) and everything the node answers before the no-op's reply
// is the request's reply, whatever it was (quiet requests may answer nothing).
//
// Depends on placement (the members file's addresses) and common; nothing depends on
// it but server. Threads: all methods may be called from any thread at once.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "placement/placement.h"

namespace syncached::forward {

struct Options {
  int timeout_ms = 500;  // connecting, and each wait to send or receive
  int down_ms = 1000;    // how long a node whose connection failed is skipped
  // Further liveness (the replication link's, say); empty: connection health alone.
  std::function<bool(placement::NodeId)> alive;
  // Sent first on each new connection (a sharded node's kRelayHello); no reply.
  std::string hello;
  // The most bytes of replies gathered for one forwarded request (kTooLarge beyond).
  size_t max_reply = size_t{32} << 20;
};

enum class Wire : uint8_t { kText, kBinary };  // text covers meta
enum class Result : uint8_t {
  kOk,           // reply holds the node's replies
  kUnreachable,  // nothing was sent
  kFailed,       // sent, but no complete reply
  kTooLarge,     // sent, and the replies grew past Options::max_reply (not kept)
};

class Forwarder {
 public:
  // Nodes a run can know, over every members file it loads.
  static constexpr size_t kMaxNodes = 256;

  Forwarder(const placement::Members& members, placement::NodeId self, Options options);
  // A members file loaded while serving: its nodes not known yet are added (a node
  // once known stays; at most kMaxNodes, false beyond).
  bool AddNodes(const placement::Members& members);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Replaces Options::alive (the replication link's state, say). Before serving: the
  // hook is read without a lock.
  void SetAlive(std::function<bool(placement::NodeId)> alive) { options_.alive = std::move(alive); }
  // False while the node is marked down (or the alive hook says so). Self is alive.
  bool Alive(placement::NodeId id) const;
  // Sends `request` (whole requests in `wire`'s protocol) to node `id` and appends its
  // replies to `reply`. Blocks up to about two timeouts; on failure appends nothing
  // and marks the node down.
  Result Send(placement::NodeId id, Wire wire, std::string_view request, std::string* reply);

  // For callers with their own non-blocking connections (server/relay.h): node `id`'s
  // client address (false for self, an unknown or unresolved node), its down mark with
  // the reason logged (errno set by the caller, 0: it closed the connection), and the
  // count of requests relayed.
  bool Address(placement::NodeId id, sockaddr_storage* addr, socklen_t* len) const;
  void MarkDown(placement::NodeId id, const char* what);
  int timeout_ms() const { return options_.timeout_ms; }
  size_t max_reply() const { return options_.max_reply; }
  void CountForwarded() { forwarded_.fetch_add(1, std::memory_order_relaxed); }

  uint64_t forwarded() const { return forwarded_.load(std::memory_order_relaxed); }
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }

 private:
  struct Node;
  struct Pool;
  Pool& ThisThreadPool();
  // `what` happened to the node; errno says why (0: it closed the connection).
  void MarkDown(size_t index, const char* what);

  Node* NodeAt(size_t index) const { return nodes_[index].get(); }
  size_t node_count() const { return node_count_.load(std::memory_order_acquire); }
  void Add(const placement::Member& m);

  Options options_;
  uint64_t id_;
  placement::NodeId self_;
  // Members-file order, then nodes added later; slots below node_count_ are set once
  // and never change, so readers need no lock.
  std::unique_ptr<std::unique_ptr<Node>[]> nodes_;
  std::atomic<size_t> node_count_{0};
  std::mutex add_mu_;
  mutable std::mutex pools_mu_;
  std::vector<std::unique_ptr<Pool>> pools_;  // one per thread that forwarded
  std::atomic<uint64_t> forwarded_{0}, errors_{0};
};

// The end of the replies before the sentinel's in `buf`: on true, *before is where the
// sentinel's reply starts and *after where it ends. `scanned` carries the scan across
// calls as `buf` grows (start it at 0). False: not there yet.
bool FindSentinelReply(Wire wire, std::string_view buf, size_t* scanned, size_t* before,
                       size_t* after);
// The sentinel request appended after each forwarded request.
std::string_view Sentinel(Wire wire);

}  // namespace syncached::forward
