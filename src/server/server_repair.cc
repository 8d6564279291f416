// The anti-entropy digests (docs/REPAIR.md): created before the data directory loads,
// so what it restores is counted, and fed by every change the store makes. A
// membership change builds new ones (other keys are shared with other peers) from the
// store as it is, while it serves.
#include <cstdlib>

#include "server/index_feed.h"
#include "server/membership.h"
#include "server/server.h"

namespace syncached::server {

namespace {
// 65536 buckets (512 KiB of digests per peer set): a few missing keys in 1M make a few
// buckets differ, whose keys alone are listed (docs/REPAIR.md).
constexpr int kRepairBits = 16;
}  // namespace

// The peers a placement shares keys with, and digests by its owners.
std::unique_ptr<repair::Index> Server::NewRepairIndex(const Placement* p) const {
  std::vector<uint16_t> others;
  repair::Index::Owners owners;
  if (p && p->ring) {
    auto add = [&](const placement::Members* members) {
      if (!members) return;
      for (const placement::Member& m : members->nodes()) {
        if (m.id != config_.node_id &&
            std::find(others.begin(), others.end(), m.id) == others.end())
          others.push_back(m.id);
      }
    };
    add(p->members.get());
    add(p->old_members.get());
    owners = [p](std::string_view key, std::vector<uint16_t>* out) { p->StreamOwners(key, out); };
  }
  auto index = std::make_unique<repair::Index>(kRepairBits, config_.node_id, std::move(others),
                                               std::move(owners));
  if (p && p->ring && p->old_members) {
    // Nodes new in the change know only the new file: digests with them count by it.
    std::vector<uint16_t> joining;
    for (const placement::Member& m : p->members->nodes()) {
      if (!p->old_members->Find(m.id)) joining.push_back(m.id);
    }
    index->CountByNewOwners(std::move(joining),
                            [p](std::string_view key, std::vector<uint16_t>* out) {
                              out->clear();
                              p->ring->AppendOwners(key, p->replicas, out);
                            });
  }
  return index;
}

void Server::StartRepairIndex(replication::Options* ro) {
  repair_indexes_.push_back(NewRepairIndex(placement_.Get()));
  repair_feed_ = std::make_unique<IndexFeed>(store_.get(), repair_indexes_.back().get());
  store_->SetContentListener(repair_feed_.get());
  ro->repair = repair_indexes_.back().get();
  ro->repair_interval_ms = config_.repair_interval_ms;
  ro->repair_rate = config_.repair_rate;
  ro->repair_eviction_window_s = config_.tombstone_ttl;
  // Tests only (tests/integration/test_repair.py): divergence for repair to find.
  if (const char* p = std::getenv("SYNCACHED_TEST_DROP_PREFIX")) ro->drop_prefix_for_tests = p;
}

// Older digests stay: the replication thread may still compare with them until it
// takes the change (a few MB per membership change, until the next start).
repair::Index* Server::RebuildRepairIndex(const Placement* p) {
  repair_indexes_.push_back(NewRepairIndex(p));
  repair_feed_->SwitchTo(repair_indexes_.back().get());
  return repair_indexes_.back().get();
}

std::string Server::StartRepair() {
  if (!replicator_ || !replicator_->RequestRepair()) return Host::StartRepair();
  return "";
}

}  // namespace syncached::server
