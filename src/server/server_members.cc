// Membership changes in a running node (docs/SHARDING.md "Adding and removing nodes"):
// the members file reloaded (SIGHUP, `members reload`), handed over by the replication
// core, and committed (`members commit`) once every node holds what it takes over.
#include <algorithm>
#include <cinttypes>

#include "common/log.h"
#include "server/membership.h"
#include "server/server.h"

namespace syncached::server {

namespace {
constexpr const char* kStillApplying =
    "SERVER_ERROR the last members file is still being applied (its digests are rebuilt "
    "from the store): try again shortly";
}  // namespace

std::unique_ptr<Placement> Server::InitialPlacement(const Config& config) {
  auto p = std::make_unique<Placement>();
  p->members = std::make_shared<const placement::Members>(*config.members);
  p->epoch = p->members->Digest();
  p->replicas = config.replication_factor;
  if (Sharded(config)) p->ring = std::make_shared<const placement::Ring>(*p->members, config.ring);
  return p;
}

replication::Membership Server::MembershipOf(const Placement* p, repair::Index* index,
                                             bool gains) const {
  replication::Membership m;
  m.epoch = p->epoch;
  auto add = [&](const placement::Members* members) {
    if (!members) return;
    for (const placement::Member& n : members->nodes()) {
      if (n.id == config_.node_id) continue;
      if (std::find(m.peers.begin(), m.peers.end(), n.replication_address) == m.peers.end()) {
        m.peers.push_back(n.replication_address);
      }
    }
  };
  add(p->members.get());
  add(p->old_members.get());
  if (p->ring) m.owners = StreamOwnersFn();
  if (p->ring) {
    m.new_owners = [p](std::string_view key, std::vector<uint16_t>* out) {
      out->clear();
      p->ring->AppendOwners(key, p->replicas, out);
    };
  }
  if (p->handing_over() && p->ring && p->old_ring) {
    m.sends_to = [p, self = config_.node_id](std::string_view key, uint16_t writer, uint16_t peer) {
      return p->SendsTo(self, key, writer, peer);
    };
  }
  m.places_by_both = p->handing_over();
  m.repair = index;
  m.gains = gains;
  m.changing = p->handing_over() || gains;
  return m;
}

std::function<void(std::string_view, std::vector<uint16_t>*)> Server::StreamOwnersFn() const {
  return [holder = &placement_](std::string_view key, std::vector<uint16_t>* out) {
    holder->Get()->StreamOwners(key, out);
  };
}

std::string Server::ReloadMembers() {
  if (!config_.members || !replicator_) return "SERVER_ERROR members reload needs --members";
  std::lock_guard lock(members_mu_);
  if (members_applying_) return kStillApplying;
  const Placement* cur = placement_.Get();
  Result<placement::Members> loaded = placement::Members::Load(config_.members_file);
  if (!loaded) return "SERVER_ERROR members file: " + loaded.error().message();
  auto members = std::make_shared<const placement::Members>(std::move(loaded.value()));
  if (members->Digest() == cur->epoch) return "";  // the same file: nothing to do
  if (cur->handing_over()) {
    return "SERVER_ERROR a membership change is being handed over: commit it first";
  }
  const placement::Member* self = members->Find(config_.node_id);
  const placement::Member* was = cur->members->Find(config_.node_id);
  if (self && was && self->replication_address != was->replication_address) {
    return "SERVER_ERROR this node's replication address changed: restart it instead";
  }
  size_t n = members->nodes().size();
  bool sharded = cur->ring != nullptr;
  // A node started without sharding (every node held every key) cannot switch to it,
  // nor back: a node started with the new file would place keys otherwise.
  if (!sharded && config_.replication_factor_given && config_.replication_factor < n) {
    return "SERVER_ERROR --replication-factor " + std::to_string(config_.replication_factor) +
           " with " + std::to_string(n) +
           " nodes shards keys, which this node started without (every node held every "
           "key): restart the nodes with the new members file instead";
  }
  size_t replicas = sharded ? cur->replicas : n;
  if (sharded && replicas >= n) {
    return "SERVER_ERROR --replication-factor " + std::to_string(replicas) + " needs more than " +
           std::to_string(n) + " nodes to shard";
  }
  auto next = std::make_unique<Placement>();
  next->members = members;
  next->epoch = members->Digest();
  next->replicas = replicas;
  if (sharded) next->ring = std::make_shared<const placement::Ring>(*members, config_.ring);
  next->old_members = cur->members;
  next->old_ring = cur->ring;
  next->old_replicas = cur->replicas;
  if (router_) {
    if (!router_->forwarder().AddNodes(*members)) {
      return "SERVER_ERROR more nodes than one run can know; restart the node";
    }
    if (relay_) relay_->AddNodes(*members);
  }
  bool gains = next->Gains(config_.node_id);
  const Placement* p = placement_.Set(std::move(next));
  ApplyMembers([this, p, n, gains, leaving = self == nullptr] {
    repair::Index* index = repair_feed_ ? RebuildRepairIndex(p) : nullptr;
    replicator_->SetMembership(MembershipOf(p, index, gains));
    SC_LOG(kInfo,
           "members file reloaded: epoch %016" PRIx64
           ", %zu node(s)%s%s; `members commit` once every node is ready",
           p->epoch, n, gains ? ", taking keys over" : "",
           leaving ? ", this node is leaving (it forwards every request once the others are ready)"
                   : "");
  });
  return "";
}

void Server::ApplyMembers(std::function<void()> walks) {
  JoinMembersApplier();
  members_applying_ = true;
  members_applier_ = std::thread([this, walks = std::move(walks)] {
    walks();
    members_applying_ = false;
  });
}

// Under members_mu_, or once no reload can start (teardown).
void Server::JoinMembersApplier() {
  if (members_applier_.joinable()) members_applier_.join();
}

std::string Server::CommitMembers() {
  if (!config_.members || !replicator_) return "SERVER_ERROR members commit needs --members";
  std::lock_guard lock(members_mu_);
  if (members_applying_) return kStillApplying;
  const Placement* cur = placement_.Get();
  if (!replicator_->all_ready(cur->epoch)) {
    return "SERVER_ERROR not every node holds what it takes over yet (stats replication: "
           "members_all_ready)";
  }
  // A node started with the new file (--join) has nothing to drop.
  if (!cur->handing_over()) {
    replicator_->SetMembership(MembershipOf(cur, nullptr, false));
    return "";
  }
  auto next = std::make_unique<Placement>(*cur);
  next->old_members.reset();
  next->old_ring.reset();
  next->old_replicas = 0;
  const Placement* p = placement_.Set(std::move(next));
  // Requests are placed by the new file from here on; the store walks (1M items: about a
  // second) leave the worker that asked serving.
  ApplyMembers([this, p] {
    uint64_t dropped = 0;
    if (p->ring) {
      std::vector<uint16_t> owners;
      dropped = store_->DropKeys([&](std::string_view key) {
        p->StreamOwners(key, &owners);
        return std::find(owners.begin(), owners.end(), config_.node_id) != owners.end();
      });
    } else if (!p->members->Find(config_.node_id)) {
      dropped = store_->DropKeys([](std::string_view) { return false; });
    }
    repair::Index* index = repair_feed_ ? RebuildRepairIndex(p) : nullptr;
    replicator_->SetMembership(MembershipOf(p, index, false));
    SC_LOG(kInfo, "membership change committed: epoch %016" PRIx64 ", dropped %llu item(s)",
           p->epoch, static_cast<unsigned long long>(dropped));
  });
  return "";
}

std::string Server::Members(std::string_view action) {
  if (action == "reload") return ReloadMembers();
  if (action == "commit") return CommitMembers();
  return "CLIENT_ERROR members reload|commit";
}

}  // namespace syncached::server
