// Relay: requests for another node sent from the worker that read them, without
// blocking it (docs/SHARDING.md "Any node serves any key"). Each worker keeps one
// outgoing connection per node and protocol (net::Connect); a relayed request goes out
// followed by the sentinel (forward.h), in one write with the other requests of that
// worker's turn, and its client connection is held until the reply is back. One
// connection to one node answers in request order, so a queue of waiting clients per
// connection matches replies to clients.
//
// A reply is gathered whole before it is passed on, up to the Forwarder's max_reply:
// past that its parts are dropped as they come and its client gets memcached's out of
// memory reply, so one get of many large values through a non-owner cannot make this
// node hold them all. While bytes keep coming, the waiting clients' holds start again:
// a long reply is not mistaken for a node that stopped answering.
//
// What the blocking Forwarder (a pool thread per request) still does: gets split over
// several owners, requests with no live owner, and retries of requests that never left
// because the node could not be connected to.
//
// Threads: each worker touches only its own connections and queues; nothing is shared
// but the Forwarder's down marks and counters.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "forward/forward.h"
#include "net/net.h"
#include "placement/placement.h"

namespace syncached::server {

// A client connection as a relayed request knows it. conn is cleared when the client
// closes (a reply coming back later finds no one); upstream is where it waits.
struct ClientLink {
  net::Connection* conn = nullptr;
  void* upstream = nullptr;  // Relay's, while a relayed request waits
};

class Relay {
 public:
  struct Hooks {
    // The reply, or the failure reply, is in client.out(): release the client.
    std::function<void(net::Connection& client)> done;
    // The request never left (the node could not be connected to): run it another way.
    std::function<void(net::Connection& client, std::string request)> reroute;
  };

  Relay(forward::Forwarder* forwarder, const placement::Members& members, int workers,
        int timeout_ms, Hooks hooks);
  // A members file loaded while serving: its new nodes get slots (Forwarder::AddNodes).
  void AddNodes(const placement::Members& members);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // On the client's worker. True: queued; hold the client for hold_ms(). False: nothing
  // was queued (the node cannot be connected to now, and is marked down).
  bool Send(net::Connection& client, const std::shared_ptr<ClientLink>& link,
            placement::NodeId node, forward::Wire wire, std::string_view request,
            const engine::ForwardFailure& failure);
  // The client's hold ran out while its request waited: the node is marked down and its
  // connection dropped, and every client waiting on it gets its failure reply.
  void Expire(ClientLink& link);
  int hold_ms() const { return 2 * timeout_ms_; }

  // The outgoing connections' Handler callbacks.
  size_t OnData(net::Connection& up, std::string_view input);
  void OnClose(net::Connection& up);

 private:
  struct Waiting {
    std::shared_ptr<ClientLink> client;
    std::string request;  // kept until the connection is known to work, for reroute
    engine::ForwardFailure failure;
    bool too_large = false;  // its reply passed max_reply: dropped as it comes
  };
  struct Upstream {
    net::Connection* conn = nullptr;
    placement::NodeId node = 0;
    forward::Wire wire = forward::Wire::kText;
    bool established = false;  // a reply came: the connect worked
    size_t scanned = 0;        // FindSentinelReply's progress in the unconsumed input
    size_t seen = 0;           // unconsumed input at the last OnData (progress)
    std::deque<Waiting> waiting;
  };
  Upstream* Get(int worker, placement::NodeId node, forward::Wire wire);
  // Every waiting client gets its failure reply (or, never sent, is rerouted).
  void FailAll(Upstream& u, bool never_sent);
  void Finish(Waiting& w, std::string_view reply);
  // Bytes came for the head of u's queue: every waiting client's hold starts again.
  void Progress(Upstream& u, size_t unconsumed);

  forward::Forwarder* forwarder_;
  // Members-file order, then nodes added later (set once below id_count_: no lock).
  std::unique_ptr<std::atomic<placement::NodeId>[]> ids_;
  std::atomic<size_t> id_count_{0};
  std::mutex add_mu_;
  int timeout_ms_;
  Hooks hooks_;
  // Per worker: 2 * node index + wire.
  std::vector<std::vector<std::unique_ptr<Upstream>>> upstreams_;
};

}  // namespace syncached::server
