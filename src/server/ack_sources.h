// The AckSources the server's held replies wait for: peers (--sync-replicas) and the
// journal's fsync (--fsync always). Thin: each forwards to its module's own API.
#pragma once

#include <functional>
#include <utility>

#include "persistence/persistence.h"
#include "replication/replication.h"
#include "server/ack_wait.h"
#include "server/lane_client.h"

namespace syncached::server {

class PeerAcks final : public AckSource {
 public:
  explicit PeerAcks(replication::Replicator* r) : r_(r) {}
  // The sync lane's acknowledgements count too (set before serving; may stay null).
  void SetLane(LaneClient* lane) { lane_ = lane; }
  uint64_t Begin() override { return r_->BeginSyncWait(); }
  bool IsAcked(uint64_t t, int worker) override {
    return r_->IsAcked(t) || (lane_ && lane_->Acked(worker, t));
  }
  void End(uint64_t us, bool timed_out) override { r_->EndSyncWait(us, timed_out); }
  void SetListener(std::function<void(uint64_t)> fn) override { r_->SetAckListener(std::move(fn)); }
  void Flush(int worker) override { r_->FlushSyncWaits(lane_ && lane_->SentThisTurn(worker)); }

 private:
  replication::Replicator* r_;
  LaneClient* lane_ = nullptr;
};

class DiskAcks final : public AckSource {
 public:
  explicit DiskAcks(persistence::Persistence* p) : p_(p) {}
  uint64_t Begin() override { return p_->BeginDurableWait(); }
  bool IsAcked(uint64_t t, int /*worker*/) override { return p_->IsDurable(t); }
  void End(uint64_t us, bool timed_out) override { p_->EndDurableWait(us, timed_out); }
  void SetListener(std::function<void(uint64_t)> fn) override {
    p_->SetDurableListener(std::move(fn));
  }
  void Flush(int /*worker*/) override { p_->Commit(); }

 private:
  persistence::Persistence* p_;
};

}  // namespace syncached::server
