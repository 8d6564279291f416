#include "engine/ops.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "protocol/protocol.h"

namespace syncached::engine {

uint32_t ClassOf(storage::Store& store, const storage::ItemRef& it) {
  return store.SizeClassOf(it.key().size(), it.value().size(), it.flags());
}

void CountGet(storage::Store& store, ThreadStats& st, const storage::ItemRef& it, bool touch) {
  if (touch) {
    st.cmd_touch.Add();
    if (it) {
      st.touch_hits.Add();
      st.Class(ClassOf(store, it)).touch_hits.Add();
    } else {
      st.touch_misses.Add();
    }
    return;
  }
  st.cmd_get.Add();
  if (it) {
    st.get_hits.Add();
    st.Class(ClassOf(store, it)).get_hits.Add();
  } else {
    st.get_misses.Add();
  }
}

StoreMode StoreModeFor(protocol::Command cmd, StoreMode other) {
  switch (cmd) {
    case protocol::Command::kSet:
      return StoreMode::kSet;
    case protocol::Command::kAdd:
      return StoreMode::kAdd;
    case protocol::Command::kReplace:
      return StoreMode::kReplace;
    case protocol::Command::kAppend:
      return StoreMode::kAppend;
    case protocol::Command::kPrepend:
      return StoreMode::kPrepend;
    default:
      return other;
  }
}

namespace {
watch::StoreCmd WatchCmd(StoreMode m) {
  switch (m) {
    case StoreMode::kSet:
      return watch::StoreCmd::kSet;
    case StoreMode::kAdd:
      return watch::StoreCmd::kAdd;
    case StoreMode::kReplace:
      return watch::StoreCmd::kReplace;
    case StoreMode::kAppend:
      return watch::StoreCmd::kAppend;
    case StoreMode::kPrepend:
      return watch::StoreCmd::kPrepend;
    case StoreMode::kCas:
      return watch::StoreCmd::kCas;
  }
  return watch::StoreCmd::kNull;
}

watch::StoreStatus WatchStatus(StoreResult r) {
  switch (r) {
    case StoreResult::kStored:
      return watch::StoreStatus::kStored;
    case StoreResult::kNotStored:
      return watch::StoreStatus::kNotStored;
    case StoreResult::kExists:
      return watch::StoreStatus::kExists;
    case StoreResult::kNotFound:
      return watch::StoreStatus::kNotFound;
    case StoreResult::kTooLarge:
      return watch::StoreStatus::kTooLarge;
    case StoreResult::kNoMemory:
      return watch::StoreStatus::kNoMemory;
  }
  return watch::StoreStatus::kNotStored;
}

// memcached's item_store line describes the item the command built: the request's value,
// flags and expiry, or for a stored append/prepend the joined item with the old expiry.
void LogStoreSlow(storage::Store& store, const LogCtx& log, const StoreArgs& a, StoreResult r,
                  const storage::PutArgs& put) {
  watch::ItemStore ev;
  ev.status = WatchStatus(r);
  ev.cmd = WatchCmd(a.mode);
  ev.key = a.key;
  ev.cfd = log.cfd;
  size_t size = put.prefix.size() + put.value.size() + put.suffix.size();
  ev.size = static_cast<uint32_t>(size);
  ev.clsid = store.SizeClassOf(a.key.size(), size, put.flags);
  if (put.exptime != 0) ev.ttl = put.exptime - store.clock()->NowSeconds();
  log.hub->LogItemStore(ev);
}
}  // namespace

StoreOutcome DoStore(storage::Store& store, ThreadStats& st, const StoreArgs& a,
                     const LogCtx& log) {
  st.Class(store.SizeClassOf(a.key.size(), a.value.size(), a.flags)).cmd_set.Add();
  storage::PutArgs put;
  StoreOutcome outcome = store.Access(a.key, [&](storage::Accessor& acc) -> StoreOutcome {
    storage::ItemRef old = acc.FindForStore();
    LogGet(log, store, a.key, old, acc);
    put.value = a.value;
    put.flags = a.flags;
    put.exptime = a.exptime;
    put.cas = a.new_cas;
    put.key_binary = a.key_binary;
    StoreMode mode = a.mode;
    if (old) {
      uint64_t old_cas = old.cas();
      bool cas_match = a.cas != 0 && a.cas == old_cas;
      bool cas_stale = a.cas != 0 && !cas_match && a.set_stale && a.cas < old_cas;
      bool cas_none = a.cas == 0;
      switch (mode) {
        case StoreMode::kAdd:
          acc.Bump();  // add only adds, but promotes the existing item (memcached)
          return {StoreResult::kNotStored, 0};
        case StoreMode::kCas:
          if (cas_stale) {
            put.exptime = old.exptime();
            put.stale = true;
            put.win_token_sent = old.win_token_sent();
          } else if (!cas_match) {
            st.Class(ClassOf(store, old)).cas_badval.Add();
            st.cas_badval.Add();
            return {StoreResult::kExists, 0};
          }
          st.Class(ClassOf(store, old)).cas_hits.Add();
          st.cas_hits.Add();
          break;
        case StoreMode::kAppend:
        case StoreMode::kPrepend:
          if (!cas_none && !cas_match) return {StoreResult::kExists, 0};
          // The appended item keeps the old flags and expiry.
          put.flags = old.flags();
          put.exptime = old.exptime();
          put.key_binary = old.key_binary();
          if (mode == StoreMode::kAppend)
            put.prefix = old.value();
          else
            put.suffix = old.value();
          break;
        case StoreMode::kSet:
        case StoreMode::kReplace:
          break;
      }
    } else {
      switch (mode) {
        case StoreMode::kCas:
          st.cas_misses.Add();
          return {StoreResult::kNotFound, 0};
        case StoreMode::kReplace:
        case StoreMode::kAppend:
        case StoreMode::kPrepend:
          return {StoreResult::kNotStored, 0};
        default:
          break;
      }
    }
    storage::ItemRef stored;
    switch (acc.Put(put, &stored)) {
      case storage::PutStatus::kOk:
        return {StoreResult::kStored, stored.cas()};
      case storage::PutStatus::kTooLarge:
        st.store_too_large.Add();
        return {StoreResult::kTooLarge, 0};
      case storage::PutStatus::kNoMemory:
        st.store_no_memory.Add();
        // memcached unlinks the old value of a failed set rather than serve stale data.
        if (mode == StoreMode::kSet) acc.Delete();
        return {StoreResult::kNoMemory, 0};
    }
    return {StoreResult::kNotStored, 0};
  });
  if (log.hub->Wants(watch::kMutations)) [[unlikely]] {
    // Logged after the shard is unlocked; put's views are only measured, never read.
    LogStoreSlow(store, log, a, outcome.result, put);
  }
  return outcome;
}

namespace {
// memcached's safe_strtoull over the item data (which it keeps with "\r\n").
bool ParseStoredNumber(std::string_view v, uint64_t* out) {
  char buf[64];
  if (v.empty() || v.size() >= sizeof buf) return false;
  memcpy(buf, v.data(), v.size());
  buf[v.size()] = '\0';
  return protocol::ParseU64(std::string_view(buf, v.size()), out);
}
}  // namespace

ArithOutcome DoArith(storage::Store& store, ThreadStats& st, const ArithArgs& a,
                     const LogCtx& log) {
  return store.Access(a.key, [&](storage::Accessor& acc) -> ArithOutcome {
    ArithOutcome out;
    storage::ItemRef it = acc.Find(false);
    LogGet(log, store, a.key, it, acc);
    if (!it) {
      if (!a.create) {
        (a.incr ? st.incr_misses : st.decr_misses).Add();
        out.result = ArithResult::kNotFound;
        return out;
      }
      char num[24];
      int n = snprintf(num, sizeof num, "%llu", static_cast<unsigned long long>(a.initial));
      storage::PutArgs put;
      put.value = std::string_view(num, static_cast<size_t>(n));
      put.flags = a.create_flags;
      put.exptime = a.set_exptime ? a.exptime : a.create_exptime;
      storage::ItemRef created;
      if (acc.Put(put, &created) != storage::PutStatus::kOk) {
        out.result = ArithResult::kNoMemory;
        return out;
      }
      out = {ArithResult::kCreated, a.initial, created.cas(), created.exptime(), created.exptime()};
      return out;
    }
    if (a.cas != 0 && it.cas() != a.cas) {
      out.result = ArithResult::kExists;
      return out;
    }
    uint64_t value;
    if (it.value().empty() || !ParseStoredNumber(it.value(), &value)) {
      out.result = ArithResult::kNonNumeric;
      return out;
    }
    uint32_t exptime_before = it.exptime();
    if (a.incr)
      value += a.delta;
    else
      value = a.delta > value ? 0 : value - a.delta;
    (a.incr ? st.Class(ClassOf(store, it)).incr_hits : st.Class(ClassOf(store, it)).decr_hits)
        .Add();
    (a.incr ? st.incr_hits : st.decr_hits).Add();
    char num[32];
    size_t n = static_cast<size_t>(
        snprintf(num, sizeof num, "%llu", static_cast<unsigned long long>(value)));
    // memcached rewrites in place when the number still fits, padding with spaces
    // ("10" decr 1 reads back as "9 "); clients see that, so we do the same.
    size_t old_len = it.value().size();
    if (n < old_len) {
      memset(num + n, ' ', old_len - n);
      n = old_len;
    }
    storage::PutArgs put;
    put.value = std::string_view(num, n);
    put.flags = it.flags();
    put.exptime = a.set_exptime ? a.exptime : it.exptime();
    put.key_binary = it.key_binary();
    storage::ItemRef updated;
    if (acc.Put(put, &updated) != storage::PutStatus::kOk) {
      out.result = ArithResult::kNoMemory;
      return out;
    }
    out = {ArithResult::kOk, value, updated.cas(), updated.exptime(), exptime_before};
    return out;
  });
}

DeleteResult DoDelete(storage::Store& store, ThreadStats& st, std::string_view key, uint64_t cas,
                      const LogCtx& log, watch::DeleteCmd cmd) {
  return store.Access(key, [&](storage::Accessor& acc) {
    storage::ItemRef it = acc.Find(false);
    LogGet(log, store, key, it, acc);
    if (!it) {
      st.delete_misses.Add();
      return DeleteResult::kNotFound;
    }
    if (cas != 0 && it.cas() != cas) {
      st.delete_misses.Add();
      return DeleteResult::kExists;
    }
    st.Class(ClassOf(store, it)).delete_hits.Add();
    st.delete_hits.Add();
    LogDeletion(log.hub, store, it, cmd);
    acc.Delete();
    return DeleteResult::kDeleted;
  });
}

}  // namespace syncached::engine
