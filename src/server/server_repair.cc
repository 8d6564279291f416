// The anti-entropy digests (docs/REPAIR.md): created before the data directory loads,
// so what it restores is counted, and fed by every change the store makes.
#include <cstdlib>

#include "server/membership.h"
#include "server/server.h"

namespace syncached::server {

namespace {
// 65536 buckets (512 KiB of digests per peer set): a few missing keys in 1M make a few
// buckets differ, whose keys alone are listed (docs/REPAIR.md).
constexpr int kRepairBits = 16;
}  // namespace

void Server::StartRepairIndex(replication::Options* ro) {
  std::vector<uint16_t> others;
  if (ro->owners) {
    for (const placement::Member& m : config_.members->nodes()) {
      if (m.id != config_.node_id) others.push_back(m.id);
    }
  }
  repair_index_ =
      std::make_unique<repair::Index>(kRepairBits, config_.node_id, std::move(others), ro->owners);
  repair_feed_ = std::make_unique<replication::RepairFeed>(repair_index_.get());
  store_->SetContentListener(repair_feed_.get());
  ro->repair = repair_index_.get();
  ro->repair_interval_ms = config_.repair_interval_ms;
  ro->repair_rate = config_.repair_rate;
  ro->repair_eviction_window_s = config_.tombstone_ttl;
  // Tests only (tests/integration/test_repair.py): divergence for repair to find.
  if (const char* p = std::getenv("SYNCACHED_TEST_DROP_PREFIX")) ro->drop_prefix_for_tests = p;
}

std::string Server::StartRepair() {
  if (!replicator_ || !replicator_->RequestRepair()) return Host::StartRepair();
  return "";
}

}  // namespace syncached::server
