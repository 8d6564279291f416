// What the engine tells `watch` watchers (internal): memcached's item_get, item_store and
// deleted lines, logged where memcached logs them (do_item_get: every internal lookup,
// so a set shows an item_get first; do_store_item; process_delete_command /
// process_mdelete_command).
//
// Each helper is one relaxed load and a branch unless someone watches that kind; the
// formatting is out of line (watch_log.cc).
#pragma once

#include <string_view>

#include "storage/storage.h"
#include "watch/watch.h"

namespace syncached::engine {

// Who is asking: the hub and the connection's fd (memcached's cfd=).
struct LogCtx {
  watch::Hub* hub;
  int cfd;
};

// The item_get line of one lookup: `it` as Find returned it, `acc` for why it missed.
void LogGetSlow(const LogCtx& l, storage::Store& store, std::string_view key,
                const storage::ItemRef& it, storage::Miss miss);
inline void LogGet(const LogCtx& l, storage::Store& store, std::string_view key,
                   const storage::ItemRef& it, const storage::Accessor& acc) {
  if (l.hub->Wants(watch::kFetchers)) [[unlikely]] {
    LogGetSlow(l, store, key, it, acc.miss());
  }
}

// The deleted line of an item about to be unlinked by delete/md.
void LogDeletionSlow(watch::Hub* hub, storage::Store& store, const storage::ItemRef& it,
                     watch::DeleteCmd cmd);
inline void LogDeletion(watch::Hub* hub, storage::Store& store, const storage::ItemRef& it,
                        watch::DeleteCmd cmd) {
  if (hub->Wants(watch::kDeletions)) [[unlikely]] {
    LogDeletionSlow(hub, store, it, cmd);
  }
}

}  // namespace syncached::engine
