#include "engine/watch_log.h"

#include "engine/ops.h"

namespace syncached::engine {

void LogGetSlow(const LogCtx& l, storage::Store& store, std::string_view key,
                const storage::ItemRef& it, storage::Miss miss) {
  watch::ItemGet ev;
  ev.key = key;
  ev.cfd = l.cfd;
  if (it) {
    ev.status = watch::GetStatus::kFound;
    ev.clsid = ClassOf(store, it);
    ev.size = static_cast<uint32_t>(it.value().size());
  } else if (miss == storage::Miss::kFlushed) {
    ev.status = watch::GetStatus::kFlushed;
  } else if (miss == storage::Miss::kExpired) {
    ev.status = watch::GetStatus::kExpired;
  }
  l.hub->LogItemGet(ev);
}

void LogDeletionSlow(watch::Hub* hub, storage::Store& store, const storage::ItemRef& it,
                     watch::DeleteCmd cmd) {
  watch::Deletion ev;
  ev.key = it.key();
  ev.cmd = cmd;
  ev.clsid = ClassOf(store, it);
  ev.size = static_cast<uint32_t>(it.value().size());
  hub->LogDeletion(ev);
}

}  // namespace syncached::engine
