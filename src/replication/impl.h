// The ZeroMQ driver of the replication core (not part of the public header): one
// thread owning every socket, feeding Core with what arrives and the time, and carrying
// out what Core sends (Transport). Everything is that thread's except where a member
// says otherwise.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "replication/core.h"
#include "replication/replication.h"

namespace syncached::replication {

uint64_t NowMillis();  // wall clock

// CURVE keys derived from the cluster secret (and name), and the ZAP handler that
// admits only peers holding them.
struct CurveKeys {
  unsigned char public_key[32];
  unsigned char secret_key[32];
};
bool DeriveKeys(const std::string& secret, const std::string& cluster, CurveKeys* keys);
// The secret multicast frames are sealed with (sealed.h keys each sender run from it):
// 32 bytes, keyed BLAKE2b of the cluster secret over the cluster name. Empty on failure.
std::string DeriveMulticastSecret(const std::string& secret, const std::string& cluster);
// `public_key`: the cluster's (32 bytes), the only client key admitted.
void RunZapHandler(void* ctx, const std::string& public_key, std::atomic<bool>* stop,
                   std::atomic<uint64_t>* failures);

struct Replicator::Impl final : Transport {
  Impl(const Options& o, storage::Store* s) : opts(o), store(s) {}

  // Transport
  Sent ToSubscriber(const std::string& identity, const std::string& msg) override;
  void ToPublisher(size_t link, const std::string& msg) override;
  void Reconnect(size_t link) override;
  void AddLink(size_t link, const std::string& address) override;
  void Multicast(const std::string& frame) override;

  void Run();
  Status OpenMulticast();
  void ServeMulticast();
  void ServeRouter();
  void ServeLink(size_t link);
  void ServeMonitor();
  void Publish(uint64_t now, bool stats_now);
  void FlushOnStop();
  bool OpenLink(size_t link);

  Options opts;
  storage::Store* store;
  std::unique_ptr<Core> core;
  // The sync lane (null before Start, or sharded). Any thread: core is set once.
  SyncLane* lane() const { return core ? core->lane() : nullptr; }
  void* ctx = nullptr;
  void* router = nullptr;
  bool curve = false;               // links use CURVE (a cluster secret); set by Start
  CurveKeys keys{};                 // links opened later need them too
  std::vector<void*> link_sockets;  // DEALER per peer, as Core's links
  std::vector<std::string> link_endpoints;
  void* monitor = nullptr;
  void* mcast_pub = nullptr;  // --multicast: PUB and SUB on the epgm group
  void* mcast_sub = nullptr;
  int wake_fd = -1;
  std::thread thread;
  std::thread zap_thread;
  std::atomic<bool> stop{false};
  std::atomic<bool> sleeping{true};            // in a long poll: workers must wake it
  uint64_t stats_signature = 0;                // link phases and sessions as last rendered
  std::function<void(uint64_t)> ack_listener;  // given to the core at Start

  // The replication thread's, from the monitor socket.
  std::string last_accepted_peer;  // for naming a peer whose handshake failed
  std::map<std::string, std::pair<uint64_t, uint64_t>> refusal_log;  // host: last ms, quiet

  // Shared with other threads (stats, join gate).
  mutable Mutex mu;
  CondVar cv;
  std::string stats_text GUARDED_BY(mu);  // rendered by the thread a few times a second
  bool any_welcomed GUARDED_BY(mu) = false;
  bool all_synced GUARDED_BY(mu) = false;
  uint64_t stat_refused GUARDED_BY(mu) = 0;
  std::atomic<uint64_t> auth_failures{0};
  // Membership changes: one waiting for the thread, and what the core says of the
  // current one (published after every step).
  std::unique_ptr<Membership> next_membership GUARDED_BY(mu);
  std::atomic<bool> handover_ready{true}, all_ready{false};
  std::atomic<uint64_t> members_epoch{0};  // the epoch the two above are of
};

}  // namespace syncached::replication
