// UDP listener (-U), as memcached serves it: each datagram carries an 8-byte frame
// header (request id, sequence number, datagram count, reserved) and one or more
// whole requests; the reply is cut into datagrams of at most 1400 bytes, each with
// the request id, its sequence number and the total count. Requests spanning several
// datagrams are dropped, as memcached drops them. One thread serves the socket(s):
// UDP is a legacy path here, kept so existing deployments and tests that pass -U work.
// --sync-replicas does not apply to it: replies go out at once (after the journal commit).
// UDP is lossy, so a client cannot rely on its replies anyway, and holding one datagram's
// reply would mean either blocking this single thread (stalling every UDP client) or
// keeping per-request state for a path that exists only for compatibility.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"

namespace syncached::server {

class UdpServer {
 public:
  UdpServer(engine::Engine* engine, std::vector<std::string> listen, uint16_t port);
  ~UdpServer();
  Status Start();
  void Stop();
  // `stats conns` lines for the sockets, as memcached lists its UDP "connections".
  void AppendConnStats(std::string* out) const;
  const std::vector<std::string>& names() const { return names_; }
  // Runs after a datagram's requests, before the reply is sent (the journal commit).
  void SetBeforeReply(std::function<void()> fn) { before_reply_ = std::move(fn); }

 private:
  void Loop();
  void Serve(int fd);

  engine::Engine* engine_;
  std::vector<std::string> listen_;
  uint16_t port_;
  std::vector<int> fds_;
  std::vector<std::string> names_;  // "0.0.0.0:11211", per fds_
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::function<void()> before_reply_;
};

}  // namespace syncached::server
