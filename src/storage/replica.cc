// The replica side of storage: last-writer-wins application of peers' changes,
// tombstones, the flush floor, and shard snapshots for full copies.
#include <algorithm>

#include "storage/shard.h"
#include "storage/shard_set.h"
#include "storage/storage.h"

namespace syncached::storage {

size_t Store::shard_count() const { return shards_->shards.size(); }

uint64_t Store::tombstones() const { return shards_->tombstone_count.load(); }

uint64_t Store::conflicts() const {
  uint64_t n = 0;
  for (auto& s : shards_->shards) {
    std::lock_guard lock(const_cast<Shard&>(s).mu);
    n += s.conflicts;
  }
  return n;
}

bool Store::RaiseFlushFloor(const record::Version& v) {
  std::lock_guard lock(shards_->floor_mu);
  bool raised = !shards_->has_floor || shards_->flush_floor < v;
  if (raised) shards_->flush_floor = v;
  shards_->has_floor = true;
  return raised;
}

bool Store::BelowFlushFloor(const record::Version& v) const {
  if (!shards_->has_floor.load(std::memory_order_acquire)) return false;
  std::lock_guard lock(shards_->floor_mu);
  return v < shards_->flush_floor;
}

void Store::NoteTombstoneLocked(Shard* s, std::string_view key, const record::Version& v) {
  auto [it, inserted] = s->tombstones.try_emplace(std::string(key), Shard::Tombstone{v, 0});
  if (inserted) {
    ++shards_->tombstone_count;
    NoteContent(key, v, true, true);
  } else if (it->second.version < v) {
    NoteContent(key, it->second.version, true, false);
    it->second.version = v;
    NoteContent(key, v, true, true);
  }
  it->second.created = clock_->NowSeconds();
}

void Store::WalkFlushOlderThan(const record::Version& v) {
  std::lock_guard flush_lock(shards_->flush_mu);
  for (auto& s : shards_->shards) {
    std::lock_guard lock(s.mu);
    std::vector<Item*> dead;
    s.ForEachLocked([&](Item* it) {
      if (record::Version{it->cas, it->node} < v) dead.push_back(it);
    });
    for (Item* it : dead) {
      ++s.reclaimed;
      RemoveLocked(&s, it, HashKey(it->key()));
    }
  }
}

ApplyResult Store::Apply(const record::ChangeView& c, ApplyMode mode) {
  hlc_.Observe(c.version.hlc);
  bool restore = mode == ApplyMode::kRestore;
  if (c.kind == record::Kind::kFlush) {
    uint32_t now = clock_->NowSeconds();
    if (c.exptime == 0) {
      // Older means a lower HLC reading, whatever the node: what the flush's origin
      // hid (cas < its reading), so an item of another node with the very same
      // reading survives everywhere alike (replication_sim seed 800066 --sync).
      record::Version boundary{c.version.hlc, 0};
      // A flush we already hold (a copy starts with the source's newest) changes
      // nothing and is not passed on again.
      if (!RaiseFlushFloor(boundary) && !restore) return ApplyResult::kStale;
      WalkFlushOlderThan(boundary);
    } else if (c.exptime <= now) {
      RaiseFlushBoundary(record::MakeHlc(uint64_t{c.exptime} * 1000, 0));
      WalkFlush();
    } else {
      shards_->pending_flush_at = c.exptime;
    }
    Publish(c);
    return ApplyResult::kApplied;
  }
  if (!restore && BelowFlushFloor(c.version)) return ApplyResult::kStale;
  return Access(c.key, [&](Accessor& acc) {
    Shard* s = acc.shard_;
    // Compare against whatever the key holds, live or not: an expired item still
    // carries the newest version this node has seen for the key.
    Item* it = acc.Current();
    bool older = !restore && it && !(record::Version{it->cas, it->node} < c.version);
    // The very version again (the sync lane brought it before the stream): not a conflict.
    bool same = older && record::Version{it->cas, it->node} == c.version;
    if (!older && !restore) {
      auto t = s->tombstones.find(std::string(c.key));
      older = t != s->tombstones.end() && !(t->second.version < c.version);
      same = older && t->second.version == c.version;
    }
    if (older) {
      if (!same) ++s->conflicts;
      return ApplyResult::kStale;
    }
    if (c.kind == record::Kind::kDelete) {
      if (it) RemoveLocked(s, it, acc.hash_);
      if (!restore || options_.replicated) NoteTombstoneLocked(s, c.key, c.version);
      Publish(c);
      return ApplyResult::kApplied;
    }
    PutArgs put;
    put.value = c.value;
    put.flags = c.flags;
    put.exptime = c.exptime;
    put.version = &c.version;
    put.stale = c.kind == record::Kind::kStalePut;
    if (acc.Put(put, nullptr) != PutStatus::kOk) return ApplyResult::kStale;
    return ApplyResult::kApplied;
  });
}

void Store::SnapshotShard(size_t i, const std::function<void(const record::ChangeView&)>& fn) {
  Shard& s = shards_->shards[i];
  uint32_t now = clock_->NowSeconds();
  std::lock_guard lock(s.mu);
  s.ForEachLocked([&](Item* it) {
    bool flushed;
    if (IsDead(&s, it, now, &flushed)) {
      // An expired item still carries the key's newest version: a peer holding an older
      // one that has not expired (the update shortened the TTL) must drop it too. The
      // flushed ones go with the flush record instead.
      if (!flushed && options_.replicated) {
        fn(record::ChangeView{record::Kind::kDelete, {it->cas, it->node}, it->key(), {}, 0, 0});
      }
      return;
    }
    fn(record::ChangeView{
        PutKind(it), {it->cas, it->node}, it->key(), it->value(), it->flags(), it->exptime});
  });
  for (const auto& [key, t] : s.tombstones) {
    fn(record::ChangeView{record::Kind::kDelete, t.version, key, {}, 0, 0});
  }
}

bool Store::SnapshotKey(std::string_view key,
                        const std::function<void(const record::ChangeView&)>& fn) {
  return Access(key, [&](Accessor& acc) {
    Shard* s = acc.shard_;
    if (Item* it = acc.Current()) {
      bool flushed;
      if (!IsDead(s, it, acc.Now(), &flushed)) {
        fn(record::ChangeView{
            PutKind(it), {it->cas, it->node}, it->key(), it->value(), it->flags(), it->exptime});
        return true;
      }
      if (flushed || !options_.replicated) return false;
      fn(record::ChangeView{record::Kind::kDelete, {it->cas, it->node}, it->key(), {}, 0, 0});
      return true;
    }
    auto t = s->tombstones.find(std::string(key));
    if (t == s->tombstones.end()) return false;
    fn(record::ChangeView{record::Kind::kDelete, t->second.version, t->first, {}, 0, 0});
    return true;
  });
}

void Store::SnapshotFlushes(const std::function<void(const record::ChangeView&)>& fn) {
  record::Version floor;
  bool has_floor;
  {
    std::lock_guard lock(shards_->floor_mu);
    has_floor = shards_->has_floor;
    floor = shards_->flush_floor;
  }
  if (has_floor) fn(record::ChangeView{record::Kind::kFlush, floor, {}, {}, 0, 0});
  if (uint32_t at = shards_->pending_flush_at.load()) {
    fn(record::ChangeView{record::Kind::kFlush, {hlc_.Last(), 0}, {}, {}, 0, at});
  }
}

bool Store::HoldsOwnDeletesSince(uint64_t hlc) const {
  if (hlc <= shards_->purged_own_hlc.load()) return false;
  // Tombstones go by their local age: one of a version at or after `hlc` was created
  // no earlier than that version's wall time (less clock skew, hence the quarter).
  uint64_t now_ms = clock_->NowMillis();
  uint64_t ttl_ms = uint64_t{options_.tombstone_ttl} * 1000;
  return record::HlcMillis(hlc) + ttl_ms * 3 / 4 > now_ms;
}

uint64_t Store::SweepOrigin(uint16_t node, uint64_t before_hlc,
                            const std::function<bool(std::string_view key)>& carried) {
  std::vector<std::pair<std::string, record::Version>> gone;
  for (auto& s : shards_->shards) {
    std::lock_guard lock(s.mu);
    s.ForEachLocked([&](Item* it) {
      if (it->node == node && it->cas < before_hlc && !carried(it->key())) {
        gone.emplace_back(std::string(it->key()), record::Version{it->cas, it->node});
      }
    });
  }
  uint64_t swept = 0;
  for (const auto& [key, v] : gone) {
    // A client may have written the key since: its newer version wins over this one.
    record::ChangeView del{record::Kind::kDelete, {v.hlc + 1, node}, key, {}, 0, 0};
    if (Apply(del) == ApplyResult::kApplied) ++swept;
  }
  return swept;
}

void Store::ReplayContent(ContentListener* to, const std::function<void(size_t shard)>& replayed) {
  for (size_t i = 0; i < shards_->shards.size(); ++i) {
    Shard& s = shards_->shards[i];
    std::lock_guard lock(s.mu);
    s.ForEachLocked([&](Item* it) { to->OnContent(it->key(), {it->cas, it->node}, false, true); });
    for (const auto& [key, t] : s.tombstones) to->OnContent(key, t.version, true, true);
    if (replayed) replayed(i);
  }
}

uint64_t Store::DropKeys(const std::function<bool(std::string_view key)>& keep) {
  uint64_t dropped = 0;
  for (auto& s : shards_->shards) {
    std::lock_guard lock(s.mu);
    std::vector<Item*> gone;
    s.ForEachLocked([&](Item* it) {
      if (!keep(it->key())) gone.push_back(it);
    });
    for (Item* it : gone) RemoveLocked(&s, it, HashKey(it->key()));
    dropped += gone.size();
    for (auto it = s.tombstones.begin(); it != s.tombstones.end();) {
      if (keep(it->first)) {
        ++it;
        continue;
      }
      NoteContent(it->first, it->second.version, true, false);
      it = s.tombstones.erase(it);
      --shards_->tombstone_count;
    }
  }
  return dropped;
}

void Store::PurgeTombstones(uint32_t now) {
  if (shards_->tombstone_count.load() == 0) return;
  uint64_t per_shard_cap = std::max<uint64_t>(1, options_.max_tombstones / shards_->shards.size());
  for (auto& s : shards_->shards) {
    std::lock_guard lock(s.mu);
    for (auto it = s.tombstones.begin(); it != s.tombstones.end();) {
      bool old = now - it->second.created > options_.tombstone_ttl;
      if (old || s.tombstones.size() > per_shard_cap) {
        const record::Version& v = it->second.version;
        if (v.node == options_.node_id && v.hlc > shards_->purged_own_hlc.load()) {
          shards_->purged_own_hlc.store(v.hlc);
        }
        NoteContent(it->first, v, true, false);
        it = s.tombstones.erase(it);
        --shards_->tombstone_count;
      } else {
        ++it;
      }
    }
  }
}

}  // namespace syncached::storage
