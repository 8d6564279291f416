// Server as net::Handler: each client connection's state, its requests run by the
// engine or forwarded to other nodes (connection held meanwhile), --sync-replicas
// holds, watchers' wakeups and connection events.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>

#include "server/peer_security.h"
#include "server/server.h"

namespace syncached::server {

// A connection's state here: its engine session, and while it watches, the link its
// watcher's wake function uses to find it (cleared on close; read only on its worker).
struct WatchLink {
  net::Connection* conn;
};
struct Server::ConnState {
  engine::Session session;
  net::Connection* conn = nullptr;
  std::shared_ptr<WatchLink> link;
  // A request of this connection runs elsewhere, relayed or on the forward pool; the
  // connection is held meanwhile.
  std::shared_ptr<ClientLink> forward_link;
  bool forward_pending = false;
};

namespace {
// Longest a connection waits for its forwarded request: past every retry's timeouts.
constexpr uint32_t kForwardHoldMs = 30000;
}  // namespace

// The request at the start of the unconsumed input runs on a pool thread (it forwards
// and waits there); the connection is held, so its later requests and replies wait
// behind it in order, while this worker serves its other connections.
size_t Server::DeferForward(net::Connection& c, ConnState* st, std::string_view request) {
  st->session.deferred = 0;
  engine::Session::Proto proto = st->session.proto;
  int cfd = st->session.cfd;
  bool relayed = st->session.relayed;
  auto run = [this, proto, cfd, relayed](std::string_view req, std::string* out) {
    engine::Session s;
    s.proto = proto;
    s.cfd = cfd;
    s.relayed = relayed;
    engine_->Process(s, req, out, SIZE_MAX);
  };
  if (!st->forward_link) st->forward_link = std::make_shared<ClientLink>(ClientLink{&c});
  auto task = [this, run, link = st->forward_link, worker = c.worker(),
               req = std::string(request)] {
    std::string reply;
    run(req, &reply);
    if (persistence_) persistence_->Commit();
    net_->Post(worker, [this, link, reply = std::move(reply)] {
      net::Connection* conn = link->conn;
      if (!conn) return;  // closed meanwhile
      static_cast<ConnState*>(conn->user)->forward_pending = false;
      conn->out().append(reply);
      conn->Release();
      // --sync-replicas: this worker's changes before the forwarded request (OnData left
      // them to us) may still wait for acks; if so the connection is held again, now
      // by AckWait, before the release above takes effect.
      if (ack_wait_) ack_wait_->AfterRequests(*conn);
    });
  };
  if (!forward_pool_->Submit(std::move(task))) {
    run(request, &c.out());  // the pool's queue is full: wait here rather than queue more
    return request.size();
  }
  st->forward_pending = true;
  c.Hold(kForwardHoldMs);
  return request.size();
}

// The request at the start of the unconsumed input runs on another node: relayed from
// this worker when it is one node's as the client sent it, else on the pool.
size_t Server::Forward(net::Connection& c, ConnState* st, std::string_view request) {
  engine::Session& s = st->session;
  if (relay_ && s.deferred_node >= 0) {
    if (!st->forward_link) st->forward_link = std::make_shared<ClientLink>(ClientLink{&c});
    forward::Wire wire =
        s.proto == engine::Session::Proto::kBinary ? forward::Wire::kBinary : forward::Wire::kText;
    if (relay_->Send(c, st->forward_link, static_cast<placement::NodeId>(s.deferred_node), wire,
                     request, s.deferred_failure)) {
      s.deferred = 0;
      st->forward_pending = true;
      c.Hold(static_cast<uint32_t>(relay_->hold_ms()));
      return request.size();
    }
  }
  return DeferForward(c, st, request);
}

void Server::RelayDone(net::Connection& c) {
  static_cast<ConnState*>(c.user)->forward_pending = false;
  c.Release();
  // --sync-replicas: as after a pool thread's reply (DeferForward).
  if (ack_wait_) ack_wait_->AfterRequests(c);
}

void Server::RelayReroute(net::Connection& c, std::string_view request) {
  DeferForward(c, static_cast<ConnState*>(c.user), request);
}

void Server::OnOpen(net::Connection& c) {
  auto* st = new ConnState();
  st->conn = &c;
  st->session.cfd = c.fd();
  st->session.host_data = st;
  st->session.defer_forwards = forward_pool_ != nullptr;
  c.user = st;
  if (engine_->hub()->Wants(watch::kConnEvents)) [[unlikely]] {
    LogConnEvent(c, true, watch::CloseReason::kNormal);
  }
}

// memcached's conn_new / conn_close lines (as its conn_new and conn_close log them).
void Server::LogConnEvent(const net::Connection& c, bool open, watch::CloseReason reason) {
  watch::ConnEvent ev;
  ev.cfd = c.fd();
  ev.reason = reason;
  std::string_view peer = c.peer();  // "127.0.0.1:5555", "[::1]:5555", "unix"
  size_t colon = peer.rfind(':');
  if (peer == "unix" || colon == std::string_view::npos) {
    ev.rip = "unix";
    ev.transport = watch::Transport::kLocal;
  } else {
    ev.rip = peer.substr(0, colon);
    if (ev.rip.size() >= 2 && ev.rip.front() == '[') ev.rip = ev.rip.substr(1, ev.rip.size() - 2);
    ev.rport = static_cast<uint16_t>(atoi(std::string(peer.substr(colon + 1)).c_str()));
  }
  if (open) {
    engine_->hub()->LogConnNew(ev);
  } else {
    engine_->hub()->LogConnClose(ev);
  }
}

std::function<void()> Server::WatchWaker(engine::Session& s) {
  auto* st = static_cast<ConnState*>(s.host_data);
  if (!st || !net_) return {};  // UDP: no connection to stream to
  st->link = std::make_shared<WatchLink>(WatchLink{st->conn});
  net::Server* net = net_.get();
  int worker = st->conn->worker();
  // Producers call this when the watcher's buffer becomes non-empty; the drain itself runs
  // on the watcher's worker, so producers never write to its socket. Watchers are gone
  // (OnClose) before net_ is, so `net` outlives every call.
  return [net, worker, link = st->link] {
    net->Post(worker, [link] {
      if (link->conn) link->conn->WantDrain();
    });
  };
}

// Lane frames are sealed with the cluster secret. Without one their key is public: the
// lane is then taken from loopback peers only (as replication links are without
// --insecure-peers), or anyone reaching the client port could write past SASL.
bool Server::TakesLane(const engine::Session& s) const {
  if (!replicator_ || router_) return false;
  if (!config_.cluster_secret_file.empty()) return true;
  auto* st = static_cast<const ConnState*>(s.host_data);
  return st && st->conn && IsLoopbackHost(PeerHost(st->conn->peer()));
}

void Server::OnDrain(net::Connection& c) {
  engine_->DrainWatch(static_cast<ConnState*>(c.user)->session, &c.out());
}

size_t Server::OnData(net::Connection& c, std::string_view input) {
  if (c.outgoing()) [[unlikely]] {
    if (relay_) return relay_->OnData(c, input);
    return lane_ ? lane_->OnData(c, input) : input.size();
  }
  auto* s = &static_cast<ConnState*>(c.user)->session;
  size_t room = std::min(c.out_room(), SIZE_MAX - c.out().size());
  size_t n = engine_->Process(*s, input, &c.out(), c.out().size() + room);
  bool forwarding = false;  // held until the reply from another node comes back
  if (s->deferred) [[unlikely]] {
    auto* st = static_cast<ConnState*>(c.user);
    n += Forward(c, st, input.substr(n, s->deferred));
    forwarding = st->forward_pending;
  }
  // Changes hit the journal file before their replies leave: kill -9 loses no write a
  // client saw acknowledged. The replies wait for the end of the worker's turn, which
  // writes once for every connection it served (OnLoopEnd). With --fsync always they are
  // held instead, and the worker fsyncs once for all of them (AckWait::OnLoopEnd).
  if (persistence::Persistence* j = turn_journal(); j && j->Uncommitted() && !c.DeferOutput()) {
    j->Commit();
  }
  // --sync-replicas: the replies wait (held, the worker carries on with other connections)
  // until enough peers applied the changes. While a forward holds the connection, its
  // reply's arrival checks instead (a second holder could release the first's hold).
  if (ack_wait_ && !forwarding) ack_wait_->AfterRequests(c);
  if (s->close) c.CloseAfterWrite();
  // memcached's watchers leave the workers' idle checks: they only receive.
  if (s->watcher) [[unlikely]]
    c.SetNoIdleTimeout();
  if (s->yield) {
    s->yield = false;
    c.Yield();
  }
  return n;
}

void Server::OnClose(net::Connection& c) {
  if (c.outgoing()) [[unlikely]] {
    if (relay_) relay_->OnClose(c);
    if (lane_) lane_->OnClose(c);
    return;
  }
  if (ack_wait_) ack_wait_->OnClose(c);
  auto* st = static_cast<ConnState*>(c.user);
  if (st->link) st->link->conn = nullptr;  // wakes still queued find nothing
  if (st->forward_link) st->forward_link->conn = nullptr;
  st->session.watcher.reset();  // unsubscribes
  // memcached logs no closes when the whole server stops.
  if (engine_->hub()->Wants(watch::kConnEvents) && c.close_reason() != net::CloseReason::kStopped)
      [[unlikely]] {
    watch::CloseReason reason = watch::CloseReason::kError;
    switch (c.close_reason()) {
      case net::CloseReason::kRequested:
        reason = st->session.close_reason;
        break;
      case net::CloseReason::kPeerClosed:
        reason = watch::CloseReason::kNormal;
        break;
      case net::CloseReason::kIdleTimeout:
        reason = watch::CloseReason::kIdleTimeout;
        break;
      case net::CloseReason::kError:
      case net::CloseReason::kStopped:
      case net::CloseReason::kConnectFailed:
        break;
    }
    LogConnEvent(c, false, reason);
  }
  delete st;
  c.user = nullptr;
}

void Server::OnHoldExpired(net::Connection& c) {
  auto* st = static_cast<ConnState*>(c.user);
  if (st && st->forward_pending) {
    if (relay_ && st->forward_link->upstream) {
      relay_->Expire(*st->forward_link);  // answers it (and its neighbours) with failures
      return;
    }
    // A pool thread's reply is still to come; letting later ones go first would
    // reorder them.
    c.CloseNow();
    return;
  }
  if (ack_wait_) ack_wait_->OnHoldExpired(c);
}

void Server::OnWake(int worker) {
  if (ack_wait_) ack_wait_->OnWake(worker);
}

bool Server::OnLoopEnd(int worker) {
  // The journal write the turn's deferred replies wait for (OnData); cheap if none.
  if (persistence::Persistence* j = turn_journal()) j->Commit();
  // The turn's changes leave on the sync lane first: the worker sends them (true: it
  // processes its connections again, then calls here again), and only then wakes the
  // replication thread for the stream (AckWait), which would take its core meanwhile.
  if (lane_ && lane_->Send(worker)) return true;
  return ack_wait_ && ack_wait_->OnLoopEnd(worker);
}

}  // namespace syncached::server
