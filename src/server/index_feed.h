// The store's content events to the anti-entropy digests (docs/REPAIR.md), switchable
// to new digests while the store serves (a membership change: server_members.cc).
#pragma once

#include <atomic>
#include <memory>

#include "repair/repair.h"
#include "replication/replication.h"
#include "storage/storage.h"

namespace syncached::server {

// The store's content events to the current digests and, while new ones are built,
// to those too for the shards already replayed into them (each shard is replayed with
// its lock held, and events come with the key's shard locked: none is lost or counted
// twice).
class IndexFeed final : public storage::ContentListener {
 public:
  IndexFeed(storage::Store* store, repair::Index* index)
      : store_(store), index_(index), replayed_(new std::atomic<bool>[store->shard_count()]) {}

  void OnContent(std::string_view key, record::Version version, bool tombstone,
                 bool held) override {
    // `next_` first: once it is cleared, `index_` is already the new one.
    repair::Index* next = next_.load();
    repair::Index* now = index_.load();
    now->Note(key, version, tombstone, held);
    if (next && next != now && replayed_[store_->ShardIndexOf(key)].load()) {
      next->Note(key, version, tombstone, held);
    }
  }
  void OnEvicted(std::string_view key, uint32_t now_s) override {
    repair::Index* next = next_.load();
    repair::Index* now = index_.load();
    now->NoteEviction(key, now_s);
    if (next && next != now && replayed_[store_->ShardIndexOf(key)].load()) {
      next->NoteEviction(key, now_s);
    }
  }

  // Fills `index` from the store and makes it the current one.
  void SwitchTo(repair::Index* index) {
    for (size_t i = 0; i < store_->shard_count(); ++i) replayed_[i].store(false);
    next_.store(index);
    replication::RepairFeed fill(index);
    store_->ReplayContent(&fill, [&](size_t shard) { replayed_[shard].store(true); });
    index_.store(index);
    next_.store(nullptr);
  }

 private:
  storage::Store* store_;
  std::atomic<repair::Index*> index_;
  std::atomic<repair::Index*> next_{nullptr};
  std::unique_ptr<std::atomic<bool>[]> replayed_;
};

}  // namespace syncached::server
