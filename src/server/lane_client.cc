#include "server/lane_client.h"

#include <netdb.h>

#include <cstring>

#include "common/bytes.h"
#include "common/log.h"
#include "engine/engine.h"

namespace syncached::server {
namespace {
// A peer whose connection failed is skipped this long (its batches settle by the stream).
constexpr auto kDownFor = std::chrono::milliseconds(1000);
// A peer that refused the lane is tried again after this long.
constexpr auto kRefusedFor = std::chrono::seconds(60);
// Batches, and bytes of them, one connection may have unanswered (sent or still
// buffered) before it is taken for stuck: a peer that stops reading holds no more.
constexpr size_t kMaxWaiting = 4096;
constexpr size_t kMaxWaitingBytes = size_t{16} << 20;
static_assert(replication::kMaxLaneBatchBytes + 256 <= engine::kMaxLaneFrameBytes);
}  // namespace

struct LaneClient::Peer {
  replication::LanePeer where;
  int worker = 0;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;  // 0: not resolved
  net::Connection* conn = nullptr;
  // The batches sent on conn and not answered yet, oldest first, and their bytes.
  struct Sent {
    uint64_t id;
    Clock::time_point at;
    size_t bytes;
  };
  std::deque<Sent> waiting;
  size_t waiting_bytes = 0;
  Clock::time_point down_until;
  bool refused_logged = false;
};

struct LaneClient::Worker {
  uint64_t version = 0;  // of the peer list
  uint32_t needed = 0;
  std::vector<std::unique_ptr<Peer>> peers;
  std::deque<Batch> batches;
  uint64_t base = 0;  // the id of batches.front()
  uint64_t mark = 0, blind = 0;
  uint64_t sent = 0, answers = 0, answered = 0;  // not yet counted into the replicator
  bool sent_this_turn = false;
};

LaneClient::LaneClient(replication::Replicator* replicator, int workers, uint32_t timeout_ms,
                       std::function<void(int)> release)
    : replicator_(replicator), timeout_(timeout_ms), release_(std::move(release)) {
  for (int i = 0; i < workers; ++i) workers_.push_back(std::make_unique<Worker>());
}

// Outgoing connections close with their workers (net::Server::Stop), before this.
LaneClient::~LaneClient() = default;

void LaneClient::Refresh(Worker& w, int worker) {
  uint64_t version = replicator_->lane_peers_version();
  if (version == w.version) return;
  std::vector<replication::LanePeer> list;
  w.version = replicator_->LanePeers(&list, &w.needed);
  std::vector<std::unique_ptr<Peer>> kept;
  for (const replication::LanePeer& where : list) {
    std::unique_ptr<Peer> p;
    for (auto& old : w.peers) {
      if (old && old->where == where) p = std::move(old);
    }
    if (!p) {
      p = std::make_unique<Peer>();
      p->where = where;
      p->worker = worker;
    }
    kept.push_back(std::move(p));
  }
  for (auto& gone : w.peers) {
    if (gone && gone->conn) {
      gone->conn->user = nullptr;
      gone->conn->CloseNow();
    }
  }
  w.peers = std::move(kept);
}

bool LaneClient::Connect(Peer& p, Clock::time_point now) {
  if (now < p.down_until) return false;
  if (p.addr_len == 0) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    std::string port = std::to_string(p.where.port);
    if (getaddrinfo(p.where.host.c_str(), port.c_str(), &hints, &res) != 0 || !res) {
      p.down_until = now + kDownFor;
      return false;
    }
    std::memcpy(&p.addr, res->ai_addr, res->ai_addrlen);
    p.addr_len = res->ai_addrlen;
    freeaddrinfo(res);
  }
  p.conn = net::Connect(reinterpret_cast<const sockaddr*>(&p.addr), p.addr_len, &p);
  if (!p.conn) {
    p.down_until = now + kDownFor;
    return false;
  }
  p.conn->out().append(engine::kLaneHello);
  return true;
}

bool LaneClient::Send(int worker) {
  Worker& w = *workers_[static_cast<size_t>(worker)];
  replication::LaneBatch b;
  Clock::time_point now = Clock::now();
  if (!replicator_->TakeLaneBatch(&b)) {
    if (Advance(w, now)) release_(worker);
    return false;
  }
  Refresh(w, worker);
  uint64_t id = w.base + w.batches.size();
  w.batches.push_back({b.first_ticket, b.last_ticket, w.needed, 0, false, now, b.token});
  bool queued = false;
  if (!b.frame.empty() && w.needed > 0 && w.needed <= w.peers.size()) {
    std::string len;
    bytes::Put32(&len, static_cast<uint32_t>(b.frame.size()));
    for (auto& p : w.peers) {
      if (!p->waiting.empty() &&
          (now - p->waiting.front().at > timeout_ || p->waiting.size() >= kMaxWaiting ||
           p->waiting_bytes + b.frame.size() > kMaxWaitingBytes)) {
        Drop(*p, now);  // stuck: its batches settle by the stream
      }
      if (!p->conn && !Connect(*p, now)) continue;
      p->conn->out().append(len).append(b.frame);
      p->waiting.push_back({id, now, b.frame.size()});
      p->waiting_bytes += b.frame.size();
      p->conn->Wake();
      queued = true;
    }
    if (queued) ++w.sent;
    w.sent_this_turn |= queued;
  }
  if (Advance(w, now)) release_(worker);
  return queued;
}

void LaneClient::Drop(Peer& p, Clock::time_point now) {
  p.waiting.clear();
  p.waiting_bytes = 0;
  p.down_until = now + kDownFor;
  if (p.conn) {
    p.conn->user = nullptr;
    p.conn->CloseNow();
    p.conn = nullptr;
  }
}

bool LaneClient::Advance(Worker& w, Clock::time_point now) {
  bool moved = false;
  while (!w.batches.empty()) {
    Batch& f = w.batches.front();
    if (f.answered || replicator_->IsAcked(f.last)) {
      w.mark = f.last;
    } else if (now - f.sent > timeout_) {
      w.mark = w.blind = f.last;  // given up: the stream (or the hold's timeout) decides
    } else {
      break;
    }
    w.batches.pop_front();
    ++w.base;
    moved = true;
  }
  if (w.sent || w.answers || w.answered) {
    replicator_->CountLane(w.sent, w.answers, w.answered);
    w.sent = w.answers = w.answered = 0;
  }
  return moved;
}

bool LaneClient::SentThisTurn(int worker) {
  Worker& w = *workers_[static_cast<size_t>(worker)];
  bool sent = w.sent_this_turn;
  w.sent_this_turn = false;
  return sent;
}

bool LaneClient::Acked(int worker, uint64_t ticket) {
  Worker& w = *workers_[static_cast<size_t>(worker)];
  if (ticket > w.mark && !w.batches.empty()) Advance(w, Clock::now());
  return ticket > w.blind && ticket <= w.mark;
}

size_t LaneClient::OnData(net::Connection& up, std::string_view input) {
  auto* p = static_cast<Peer*>(up.user);
  if (!p) return input.size();  // being dropped
  Worker& w = *workers_[static_cast<size_t>(p->worker)];
  size_t consumed = 0;
  bool answered = false;
  while (consumed < input.size()) {
    char status = input[consumed];
    // A peer that does not take the lane answers the hello as memcached would (ERROR).
    bool known = status == 'A' || status == 'N' || status == 'R';
    if (known && input.size() - consumed < replication::kLaneReplyBytes) break;
    std::string_view reply = input.substr(consumed, known ? replication::kLaneReplyBytes : 1);
    consumed += reply.size();
    if (p->waiting.empty() && known) {  // an answer nobody asked for: out of step
      Drop(*p, Clock::now());
      return input.size();
    }
    uint64_t id = p->waiting.empty() ? 0 : p->waiting.front().id;
    if (!p->waiting.empty()) {
      p->waiting_bytes -= p->waiting.front().bytes;
      p->waiting.pop_front();
    }
    if (status == 'N') continue;  // the peer copies from us: the stream settles it
    bool settled = id < w.base;   // (its answer is checked all the same)
    if (status != 'A' || (!settled && reply.substr(1) != w.batches[id - w.base].token)) {
      // Refused (another secret), not a lane at all (a peer that takes lanes from
      // loopback only, without a cluster secret), or forged: its answers are not
      // counted, and it is left alone for a while (the stream alone serves it).
      if (!p->refused_logged) {
        SC_LOG(kInfo,
               "sync lane: %s:%u does not take our batches (%s); its writes wait for the "
               "stream's acknowledgements",
               p->where.host.c_str(), p->where.port,
               status == 'R' ? "cluster secret or name differ?"
                             : "it takes lanes from loopback only without a cluster secret");
        p->refused_logged = true;
      }
      Drop(*p, Clock::now());
      p->down_until = Clock::now() + kRefusedFor;
      return input.size();
    }
    ++w.answers;
    if (settled) continue;
    Batch& b = w.batches[id - w.base];
    if (++b.answers >= b.needed && !b.answered) {
      b.answered = true;
      ++w.answered;
      answered = true;
    }
  }
  if (answered && Advance(w, Clock::now())) release_(p->worker);
  return consumed;
}

void LaneClient::OnClose(net::Connection& up) {
  auto* p = static_cast<Peer*>(up.user);
  if (!p || p->conn != &up) return;
  p->conn = nullptr;
  p->waiting.clear();
  p->waiting_bytes = 0;
  if (up.close_reason() == net::CloseReason::kConnectFailed) {
    p->down_until = Clock::now() + kDownFor;
  }
}

}  // namespace syncached::server
