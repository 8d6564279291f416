// The simulated network: what ZeroMQ gives the core (ordered, delayed, bounded
// pipes; broken connections lose what was in flight), connections made with backoff
// unless a partition blocks them, and messages delivered when due.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "sim_world.h"

namespace syncached::sim {
namespace {
constexpr size_t kRouterHwm = 64;  // messages queued to one subscriber (ZMQ_SNDHWM)
constexpr size_t kDealerHwm = 16;
constexpr uint64_t kMaxBackoffMs = 2000;
}  // namespace

replication::Transport::Sent NodeTransport::ToSubscriber(const std::string& identity,
                                                         const std::string& msg) {
  for (auto& cs : world_->conns_) {
    for (Conn& c : cs) {
      if (c.pub != node_ || !c.up || c.identity != identity) continue;
      if (c.to_sub.size() >= kRouterHwm) return Sent::kFull;
      uint64_t at = world_->now_ + 1 + world_->Rand(3) + (world_->Chance(0.01) ? 40 : 0);
      if (!c.to_sub.empty()) at = std::max(at, c.to_sub.back().at);
      c.to_sub.push_back({at, msg});
      ++world_->messages;
      return Sent::kOk;
    }
  }
  return Sent::kGone;
}

void NodeTransport::ToPublisher(size_t link, const std::string& msg) {
  Conn& c = world_->ConnOf(node_, link);
  if (!c.up || c.to_pub.size() >= kDealerHwm) return;  // ZMQ_IMMEDIATE, DONTWAIT
  uint64_t at = world_->now_ + 1 + world_->Rand(3);
  if (!c.to_pub.empty()) at = std::max(at, c.to_pub.back().at);
  c.to_pub.push_back({at, msg});
  ++world_->messages;
}

void NodeTransport::AddLink(size_t link, const std::string& address) {
  int pub = std::stoi(address.substr(1)) - 1;
  for (Conn& c : world_->conns_[node_]) {
    if (c.pub != pub) continue;
    c.link = link;
    world_->Break(c);
    c.next_attempt = world_->now_;
  }
}

Conn& World::ConnOf(int sub, size_t link) {
  for (Conn& c : conns_[sub]) {
    if (c.link == link) return c;
  }
  abort();  // the core names only links it was given
}

void NodeTransport::Reconnect(size_t link) {
  Conn& c = world_->ConnOf(node_, link);
  world_->Break(c);
  c.next_attempt = world_->now_;
}

void World::Break(Conn& c) {
  if (c.up) Log("connection %d->%d (%s) breaks", c.sub + 1, c.pub + 1, c.identity.c_str());
  // The publisher's socket monitor reports the close (a partition does not close a
  // real connection at once, but telling the core early only makes it look sooner).
  Node& pub = nodes_[c.pub];
  if (c.up && pub.alive) pub.core->ConnectionClosed();
  c.up = false;
  c.identity.clear();
  c.to_pub.clear();
  c.to_sub.clear();
  c.backoff = 100;
  c.next_attempt = now_ + c.backoff;
}

bool World::Blocked(int sub, int pub) const { return blocked_.count({sub, pub}) > 0; }

void World::Connect() {
  for (auto& cs : conns_) {
    for (Conn& c : cs) {
      if (c.up || now_ < c.next_attempt || c.link == Conn::kUnlinked) continue;
      const Node& s = nodes_[c.sub];
      const Node& p = nodes_[c.pub];
      if (s.alive && p.alive && !s.paused && !p.paused && !Blocked(c.sub, c.pub)) {
        c.up = true;
        c.identity = "c" + std::to_string(++conn_gen_);
        Log("connection %d->%d up (%s)", c.sub + 1, c.pub + 1, c.identity.c_str());
      } else {
        c.next_attempt = now_ + c.backoff;
        c.backoff = std::min(c.backoff * 2, kMaxBackoffMs);
      }
    }
  }
}

void NodeTransport::Multicast(const std::string& frame) { world_->Multicast(node_, frame); }

// Every other node hears the frame a little later, unless it is lost on the way to it (3 %
// while faults run), the two are partitioned, or it arrives damaged (then it must not open).
void World::Multicast(int from, const std::string& frame) {
  for (int to = 0; to < cfg_.nodes; ++to) {
    if (to == from) continue;
    ++mcast_frames;
    if (Blocked(to, from) || (!healing_ && Chance(0.03))) {
      ++mcast_lost;
      continue;
    }
    std::string copy = frame;
    if (Chance(0.002)) {
      copy[Rand(copy.size())] ^= static_cast<char>(1 + Rand(255));
      ++mcast_damaged;
    }
    mcast_.emplace(now_ + 1 + Rand(3), McastFrame{to, std::move(copy)});
  }
}

void World::Deliver() {
  while (!mcast_.empty() && mcast_.begin()->first <= now_) {
    McastFrame f = std::move(mcast_.begin()->second);
    mcast_.erase(mcast_.begin());
    Node& n = nodes_[f.to];
    if (n.alive && !n.paused) n.core->OnMulticastFrame(f.frame, now_);
  }
  for (auto& cs : conns_) {
    for (Conn& c : cs) {
      // A delivery may break this very connection (Reconnect): look again each time.
      while (c.up && !c.to_pub.empty() && c.to_pub.front().at <= now_) {
        Node& p = nodes_[c.pub];
        if (!p.alive || p.paused) break;
        Conn::Msg m = std::move(c.to_pub.front());
        c.to_pub.pop_front();
        std::string id = c.identity;
        p.core->OnSubscriberMessage(id, m.body, now_);
      }
      while (c.up && !c.to_sub.empty() && c.to_sub.front().at <= now_) {
        Node& s = nodes_[c.sub];
        if (!s.alive || s.paused) break;
        Conn::Msg m = std::move(c.to_sub.front());
        c.to_sub.pop_front();
        s.core->OnPublisherMessage(c.link, m.body, now_);
      }
    }
  }
}

}  // namespace syncached::sim
