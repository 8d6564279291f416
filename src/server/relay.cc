#include "server/relay.h"

#include <cerrno>

namespace syncached::server {

Relay::Relay(forward::Forwarder* forwarder, const placement::Members& members, int workers,
             int timeout_ms, Hooks hooks)
    : forwarder_(forwarder),
      ids_(new std::atomic<placement::NodeId>[forward::Forwarder::kMaxNodes]),
      timeout_ms_(timeout_ms),
      hooks_(std::move(hooks)) {
  AddNodes(members);
  upstreams_.resize(static_cast<size_t>(workers));
  for (auto& w : upstreams_) w.resize(2 * forward::Forwarder::kMaxNodes);
}

void Relay::AddNodes(const placement::Members& members) {
  std::lock_guard lock(add_mu_);
  for (const placement::Member& m : members.nodes()) {
    size_t count = id_count_.load(std::memory_order_relaxed);
    bool known = false;
    for (size_t i = 0; i < count; ++i) known |= ids_[i].load(std::memory_order_relaxed) == m.id;
    if (known || count == forward::Forwarder::kMaxNodes) continue;
    ids_[count].store(m.id, std::memory_order_relaxed);
    id_count_.store(count + 1, std::memory_order_release);
  }
}

// Outgoing connections close with their workers (net::Server::Stop), before this.
Relay::~Relay() = default;

Relay::Upstream* Relay::Get(int worker, placement::NodeId node, forward::Wire wire) {
  if (worker < 0 || static_cast<size_t>(worker) >= upstreams_.size()) return nullptr;
  size_t index = 0, count = id_count_.load(std::memory_order_acquire);
  while (index < count && ids_[index].load(std::memory_order_relaxed) != node) ++index;
  if (index == count) return nullptr;
  auto& slot =
      upstreams_[static_cast<size_t>(worker)][2 * index + (wire == forward::Wire::kBinary)];
  if (!slot) {
    slot = std::make_unique<Upstream>();
    slot->node = node;
    slot->wire = wire;
  }
  return slot.get();
}

bool Relay::Send(net::Connection& client, const std::shared_ptr<ClientLink>& link,
                 placement::NodeId node, forward::Wire wire, std::string_view request,
                 const engine::ForwardFailure& failure) {
  Upstream* u = Get(client.worker(), node, wire);
  if (!u) return false;
  if (!u->conn) {
    sockaddr_storage addr;
    socklen_t len;
    if (!forwarder_->Address(node, &addr, &len)) return false;
    u->conn = net::Connect(reinterpret_cast<const sockaddr*>(&addr), len, u);
    if (!u->conn) {
      forwarder_->MarkDown(node, "could not be connected to");
      return false;
    }
    u->established = false;
    u->scanned = 0;
    u->seen = 0;
    u->conn->out().append(engine::kRelayHello);
  }
  std::string& out = u->conn->out();
  out.append(request);
  out.append(forward::Sentinel(wire));
  u->waiting.push_back({link, u->established ? std::string() : std::string(request), failure});
  link->upstream = u;
  u->conn->Wake();  // sent at the end of this worker's turn, with the turn's others
  return true;
}

void Relay::Finish(Waiting& w, std::string_view reply) {
  ClientLink& l = *w.client;
  l.upstream = nullptr;
  if (!l.conn) return;  // the client closed meanwhile
  if (w.too_large) {
    engine::AppendReplyTooLarge(w.failure, &l.conn->out());
  } else if (reply.data()) {
    l.conn->out().append(reply);
  } else {
    engine::AppendForwardFailure(w.failure, &l.conn->out());
  }
  hooks_.done(*l.conn);
}

size_t Relay::OnData(net::Connection& up, std::string_view input) {
  auto* u = static_cast<Upstream*>(up.user);
  if (!u) return input.size();  // being dropped (Expire)
  u->established = true;
  size_t consumed = 0;
  while (true) {
    std::string_view rest = input.substr(consumed);
    size_t before = 0, after = 0;
    if (!forward::FindSentinelReply(u->wire, rest, &u->scanned, &before, &after)) {
      if (!u->waiting.empty() &&
          (u->waiting.front().too_large || u->scanned > forwarder_->max_reply())) {
        u->waiting.front().too_large = true;  // whole replies scanned so far: dropped
        consumed += u->scanned;
        u->scanned = 0;
      }
      Progress(*u, input.size() - consumed);
      break;
    }
    u->scanned = 0;
    u->seen = 0;
    if (u->waiting.empty()) {  // a reply nobody asked for: out of step, start afresh
      up.CloseNow();
      return input.size();
    }
    Waiting w = std::move(u->waiting.front());
    u->waiting.pop_front();
    Finish(w, rest.substr(0, before));
    forwarder_->CountForwarded();
    consumed += after;
  }
  return consumed;
}

void Relay::Progress(Upstream& u, size_t unconsumed) {
  if (unconsumed == u.seen) return;  // nothing new (or only what this call consumed)
  u.seen = unconsumed;
  for (Waiting& w : u.waiting) {
    if (w.client->conn) w.client->conn->Hold(static_cast<uint32_t>(hold_ms()));
  }
}

void Relay::FailAll(Upstream& u, bool never_sent) {
  std::deque<Waiting> waiting;
  waiting.swap(u.waiting);
  for (Waiting& w : waiting) {
    if (never_sent && w.client->conn) {
      w.client->upstream = nullptr;
      hooks_.reroute(*w.client->conn, std::move(w.request));
      continue;
    }
    Finish(w, std::string_view());
  }
}

void Relay::OnClose(net::Connection& up) {
  auto* u = static_cast<Upstream*>(up.user);
  if (!u) return;  // dropped by Expire, already failed
  u->conn = nullptr;
  if (u->waiting.empty()) return;  // an idle connection the node closed: reconnect later
  net::CloseReason why = up.close_reason();
  bool never_sent = why == net::CloseReason::kConnectFailed;
  if (why != net::CloseReason::kStopped) {
    if (never_sent) {
      forwarder_->MarkDown(u->node, "could not be connected to");
    } else {
      errno = 0;
      forwarder_->MarkDown(u->node, "closed a relay connection with requests waiting");
    }
  }
  FailAll(*u, never_sent);
}

void Relay::Expire(ClientLink& link) {
  auto* u = static_cast<Upstream*>(link.upstream);
  if (!u) return;
  errno = ETIMEDOUT;
  forwarder_->MarkDown(u->node, "gave no reply in time");
  if (u->conn) {
    u->conn->user = nullptr;  // its OnClose finds nothing to do
    u->conn->CloseNow();
    u->conn = nullptr;
  }
  FailAll(*u, false);
}

}  // namespace syncached::server
