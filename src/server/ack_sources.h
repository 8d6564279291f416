// The AckSources the server's held replies wait for: peers (--sync-replicas) and the
// journal's fsync (--fsync always). Thin: each forwards to its module's own API.
#pragma once

#include <functional>
#include <utility>

#include "persistence/persistence.h"
#include "replication/replication.h"
#include "server/ack_wait.h"

namespace syncached::server {

class PeerAcks final : public AckSource {
 public:
  explicit PeerAcks(replication::Replicator* r) : r_(r) {}
  uint64_t Begin() override { return r_->BeginSyncWait(); }
  bool IsAcked(uint64_t t) const override { return r_->IsAcked(t); }
  void End(uint64_t us, bool timed_out) override { r_->EndSyncWait(us, timed_out); }
  void SetListener(std::function<void(uint64_t)> fn) override { r_->SetAckListener(std::move(fn)); }
  void Flush() override { r_->FlushSyncWaits(); }

 private:
  replication::Replicator* r_;
};

class DiskAcks final : public AckSource {
 public:
  explicit DiskAcks(persistence::Persistence* p) : p_(p) {}
  uint64_t Begin() override { return p_->BeginDurableWait(); }
  bool IsAcked(uint64_t t) const override { return p_->IsDurable(t); }
  void End(uint64_t us, bool timed_out) override { p_->EndDurableWait(us, timed_out); }
  void SetListener(std::function<void(uint64_t)> fn) override {
    p_->SetDurableListener(std::move(fn));
  }
  void Flush() override { p_->Commit(); }

 private:
  persistence::Persistence* p_;
};

}  // namespace syncached::server
