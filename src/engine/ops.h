// The one implementation of memcached's command semantics, shared by the text, meta
// and binary front ends (memcached's do_store_item, do_add_delta, item_touch).
// Each runs inside one storage Access, so check-and-set is atomic per key.
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/thread_stats.h"
#include "engine/watch_log.h"
#include "protocol/protocol.h"
#include "storage/storage.h"

namespace syncached::engine {

enum class StoreMode : uint8_t { kSet, kAdd, kReplace, kAppend, kPrepend, kCas };
enum class StoreResult : uint8_t { kStored, kNotStored, kExists, kNotFound, kNoMemory, kTooLarge };

// The store mode of set/add/replace/append/prepend; any other command gets `other`
// (text: cas; binary: set, whose CAS field turns it into a cas).
StoreMode StoreModeFor(protocol::Command cmd, StoreMode other);

struct StoreArgs {
  StoreMode mode = StoreMode::kSet;
  std::string_view key;
  std::string_view value;
  uint32_t flags = 0;
  uint32_t exptime = 0;    // absolute
  uint64_t cas = 0;        // compare value; 0 = none
  uint64_t new_cas = 0;    // meta E: CAS to give the stored item
  bool set_stale = false;  // meta ms I: a lower CAS stores the value as stale
  bool key_binary = false;
};

struct StoreOutcome {
  StoreResult result = StoreResult::kNotStored;
  uint64_t cas = 0;  // CAS of the stored item
};

// Logs memcached's item_get (the lookup) and item_store lines to watchers.
StoreOutcome DoStore(storage::Store& store, ThreadStats& st, const StoreArgs& a, const LogCtx& log);

enum class ArithResult : uint8_t { kOk, kNotFound, kNonNumeric, kExists, kNoMemory, kCreated };

struct ArithArgs {
  std::string_view key;
  bool incr = true;
  uint64_t delta = 1;
  uint64_t cas = 0;     // compare value; 0 = none
  bool create = false;  // binary initial value / meta N: create when missing
  uint64_t initial = 0;
  uint32_t create_exptime = 0;  // absolute
  uint32_t create_flags = 0;
  bool set_exptime = false;  // meta ma T
  uint32_t exptime = 0;
};

struct ArithOutcome {
  ArithResult result = ArithResult::kNotFound;
  uint64_t value = 0;
  uint64_t cas = 0;
  uint32_t exptime = 0;         // after the operation
  uint32_t exptime_before = 0;  // before it (meta ma prints either, by flag order)
};

// Logs the lookup's item_get line (memcached logs no item_store for incr/decr).
ArithOutcome DoArith(storage::Store& store, ThreadStats& st, const ArithArgs& a, const LogCtx& log);

// Counts a hit/miss for get-like commands in memcached's counters.
void CountGet(storage::Store& store, ThreadStats& st, const storage::ItemRef& it, bool touch);

// Whether the key may be deleted: result of a delete with optional CAS compare.
enum class DeleteResult : uint8_t { kDeleted, kNotFound, kExists };
// Logs the lookup's item_get and, when deleted, a deleted line with `cmd`.
DeleteResult DoDelete(storage::Store& store, ThreadStats& st, std::string_view key, uint64_t cas,
                      const LogCtx& log, watch::DeleteCmd cmd);

// Class id memcached would put this item in, for per-class counters.
uint32_t ClassOf(storage::Store& store, const storage::ItemRef& it);

}  // namespace syncached::engine
