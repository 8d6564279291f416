// The placement a node runs by (docs/SHARDING.md "Adding and removing nodes"): the
// members file in effect and, while a membership change is handed over, the one before
// it. Replaced whole on each change and never freed (a change is rare; readers on any
// thread hold a plain pointer, without a lock or a reference count).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "placement/placement.h"

namespace syncached::server {

struct Placement {
  uint64_t epoch = 0;  // the members file's digest
  std::shared_ptr<const placement::Members> members;
  std::shared_ptr<const placement::Ring> ring;  // null: every node holds every key
  size_t replicas = 0;
  // While handing over: the placement before (null once committed).
  std::shared_ptr<const placement::Members> old_members;
  std::shared_ptr<const placement::Ring> old_ring;
  size_t old_replicas = 0;

  bool handing_over() const { return old_members != nullptr; }
  // The nodes a change to `key` goes to: its owners under both placements while
  // handing over (replication's and the repair digests' owners).
  void StreamOwners(std::string_view key, std::vector<uint16_t>* out) const;
  // Whether `self` owns keys under the new placement that it did not own under the
  // old one (measured on a sample of keys, as the ring's share is).
  bool Gains(placement::NodeId self) const;
  // While handing over: whether `self` sends `key`, last written by `writer`, to `peer`
  // in the peer's range copy (replication::Membership::sends_to).
  bool SendsTo(placement::NodeId self, std::string_view key, placement::NodeId writer,
               placement::NodeId peer) const;
};

class PlacementHolder {
 public:
  const Placement* Get() const { return current_.load(std::memory_order_acquire); }
  const Placement* Set(std::unique_ptr<const Placement> p);

 private:
  std::atomic<const Placement*> current_{nullptr};
  std::mutex mu_;
  std::vector<std::unique_ptr<const Placement>> all_;
};

}  // namespace syncached::server
